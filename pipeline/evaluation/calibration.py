"""How well scores match how often they are right: Brier score, reliability bins, expected calibration error.

`calibration_summary` is the one place these are computed: metrics.json keeps it under
"calibration", and report.md, report.html and reliability.png show its numbers.
"""

from __future__ import annotations

from typing import Sequence

N_BINS = 10


def brier_score(y_true: Sequence[str], scores, labels: Sequence[str]) -> float:
    """Multiclass Brier score; columns of `scores` follow `labels`."""
    import numpy as np
    from sklearn.metrics import brier_score_loss

    order = np.argsort(np.asarray(labels, dtype=str))  # scikit-learn expects sorted label columns
    scores = np.asarray(scores, dtype=np.float64)
    sums = scores.sum(axis=1, keepdims=True)
    if np.allclose(sums, 1.0, atol=1e-4):  # float32 probabilities (frozen embeddings) miss 1 by ~1e-7: sklearn warns
        scores = scores / sums
    return float(
        brier_score_loss(list(y_true), scores[:, order],
                         labels=[labels[i] for i in order], scale_by_half=False)
    )


def brier_per_label(y_true: Sequence[str], scores, labels: Sequence[str]) -> dict[str, float]:
    """Each label's one-vs-rest Brier score (mean squared error of its column); they sum to `brier_score`."""
    import numpy as np

    truth = np.asarray(y_true, dtype=object)
    scores = np.asarray(scores, dtype=float)
    return {label: float(np.mean((scores[:, k] - (truth == label)) ** 2)) for k, label in enumerate(labels)}


def top_label(y_true: Sequence[str], scores, labels: Sequence[str]):
    """Each sentence's top score and whether its top label is the true one."""
    import numpy as np

    scores = np.asarray(scores, dtype=float)
    predicted = np.asarray(labels, dtype=object)[scores.argmax(axis=1)]
    return scores.max(axis=1), predicted == np.asarray(y_true, dtype=object)


def reliability_bins(y_true: Sequence[str], scores, labels: Sequence[str], n_bins: int = N_BINS) -> list[dict]:
    """Per top-score bin: its range, sentence count, mean top score and accuracy (empty bins skipped)."""
    import numpy as np

    confidence, correct = top_label(y_true, scores, labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], confidence)  # (low, high], like calibration_curve
    bins = []
    for k in range(n_bins):
        inside = which == k
        if inside.any():
            bins.append({
                "low": float(edges[k]),
                "high": float(edges[k + 1]),
                "count": int(inside.sum()),
                "confidence": float(confidence[inside].mean()),
                "accuracy": float(correct[inside].mean()),
            })
    return bins


def expected_calibration_error(y_true: Sequence[str], scores, labels: Sequence[str], n_bins: int = N_BINS) -> float:
    bins = reliability_bins(y_true, scores, labels, n_bins)
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / total)


def calibration_summary(y_true: Sequence[str], scores, labels: Sequence[str], n_bins: int = N_BINS) -> dict:
    """Brier score (multiclass, 0 best, 2 worst) and its share per label, expected calibration
    error and the reliability bins of the top score."""
    return {
        "brier": brier_score(y_true, scores, labels),
        "brier_per_label": brier_per_label(y_true, scores, labels),
        "ece": expected_calibration_error(y_true, scores, labels, n_bins),
        "n_bins": n_bins,
        "bins": reliability_bins(y_true, scores, labels, n_bins),
    }
