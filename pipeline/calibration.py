"""How far scores can be read as probabilities, and calibrating them.

Brier score: mean over sentences of the squared distance between the score vector and the
one-hot true label (0 is perfect, 2 the worst). Expected calibration error (ECE): sentences are
binned by their top score (equal-width bins (k/n, (k+1)/n], as scikit-learn's calibration_curve
bins them); ECE is the sentence-weighted mean gap between each bin's mean top score and accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

N_BINS = 10
RELIABILITY_FILE = "reliability.png"


def brier_score(y_true: Sequence[str], scores, labels: Sequence[str]) -> float:
    """Multiclass Brier score; columns of `scores` follow `labels`."""
    import numpy as np
    from sklearn.metrics import brier_score_loss

    order = np.argsort(np.asarray(labels, dtype=str))  # scikit-learn expects sorted label columns
    return float(
        brier_score_loss(list(y_true), np.asarray(scores)[:, order],
                         labels=[labels[i] for i in order], scale_by_half=False)
    )


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
    return {
        "brier": brier_score(y_true, scores, labels),
        "ece": expected_calibration_error(y_true, scores, labels, n_bins),
        "n_bins": n_bins,
        "bins": reliability_bins(y_true, scores, labels, n_bins),
    }


def plot_reliability(bins: list[dict], path: str | Path, title: str = "") -> None:
    """Reliability diagram of the top label from `reliability_bins`: accuracy against mean top score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay

    display = CalibrationDisplay(
        prob_true=[b["accuracy"] for b in bins], prob_pred=[b["confidence"] for b in bins], y_prob=None
    )
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    display.plot(ax=ax, name="top label (numbers: sentences per bin)", marker="o")
    ax.set(xlabel="mean top score in bin", ylabel="accuracy in bin", xlim=(0, 1), ylim=(0, 1), title=title)
    for b in bins:
        ax.annotate(str(b["count"]), (b["confidence"], b["accuracy"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def with_calibration(estimator, calibrator):
    """The same Pipeline with its classifier wrapped in `calibrator` (a CalibratedClassifierCV)."""
    from sklearn.pipeline import Pipeline

    steps = list(estimator.steps)
    name, classifier = steps[-1]
    steps[-1] = (name, calibrator.set_params(estimator=classifier))
    return Pipeline(steps)


def needs_groups(estimator) -> bool:
    """True when fitting calibrates on folds that must be grouped by document."""
    from sklearn.calibration import CalibratedClassifierCV

    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return isinstance(last, CalibratedClassifierCV)


def fit_grouped(estimator, texts: list[str], labels: list[str], groups: list[str]):
    """Fit; a calibrated model gets the documents routed to its calibration folds."""
    if not needs_groups(estimator):
        return estimator.fit(texts, labels)
    import sklearn

    from pipeline.errors import PipelineError

    try:
        with sklearn.config_context(enable_metadata_routing=True):
            return estimator.fit(texts, labels, groups=groups)
    except ValueError as exc:
        raise PipelineError(
            f"config calibration: cannot calibrate on a training set of {len(set(groups))} documents: {exc}"
        ) from None
