"""Bootstrap intervals that resample whole documents, and the paired comparison of two models.

Sentences of one article are not independent (one author, one topic, one framing), so every
resample draws documents with replacement and keeps all sentences of each drawn document.
F1 is computed from the summed true/false positive and false negative counts of the resample.
"""

from __future__ import annotations

from typing import Sequence

N_RESAMPLES = 1000
CONFIDENCE = 0.95


def document_counts(y_true: Sequence[str], y_pred: Sequence[str], groups: Sequence[str], labels: Sequence[str]):
    """Per document and label: [true positives, false positives, false negatives].

    Returns the sorted document ids and an array of shape (n_documents, n_labels, 3).
    """
    import numpy as np

    documents, doc_index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    position = {label: i for i, label in enumerate(labels)}
    true = np.array([position.get(label, -1) for label in y_true], dtype=int)
    pred = np.array([position.get(label, -1) for label in y_pred], dtype=int)
    counts = np.zeros((len(documents), len(labels), 3))
    hit = true == pred
    np.add.at(counts, (doc_index[hit & (true >= 0)], true[hit & (true >= 0)], 0), 1)
    wrong_pred = ~hit & (pred >= 0)
    np.add.at(counts, (doc_index[wrong_pred], pred[wrong_pred], 1), 1)
    wrong_true = ~hit & (true >= 0)
    np.add.at(counts, (doc_index[wrong_true], true[wrong_true], 2), 1)
    return [str(d) for d in documents], counts


def f1_from_counts(counts):
    """F1 per label from [tp, fp, fn] in the last axis; 0 where a label was neither true nor predicted."""
    import numpy as np

    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


RESAMPLE_CHUNK = 50  # resamples drawn at a time: memory grows with 50 x documents, not 1000 x


def resample_documents(n_documents: int, n_resamples: int, seed: int):
    """How often each document is drawn in each resample: shape (n_resamples, n_documents)."""
    import numpy as np

    return np.concatenate(list(resample_chunks(n_documents, n_resamples, seed)))


def resample_chunks(n_documents: int, n_resamples: int, seed: int):
    """`resample_documents` a few rows at a time (the same draws: one generator, read in order)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, RESAMPLE_CHUNK):
        rows = min(RESAMPLE_CHUNK, n_resamples - start)
        draws = rng.integers(0, n_documents, size=(rows, n_documents))
        weights = np.zeros((rows, n_documents))
        np.add.at(weights, (np.repeat(np.arange(rows), n_documents), draws.ravel()), 1)
        yield weights


def chunked_f1(counts, n_resamples: int, seed: int):
    """`resampled_f1` of each set of counts on the same random resamples, drawn a chunk at a time."""
    import numpy as np

    parts = [[resampled_f1(c, weights) for c in counts] for weights in resample_chunks(
        counts[0].shape[0], n_resamples, seed)]
    return [np.concatenate([part[k] for part in parts]) for k in range(len(counts))]


def resampled_f1(counts, weights):
    """Per-label F1 of each resample: shape (n_resamples, n_labels)."""
    import numpy as np

    return f1_from_counts(np.einsum("rd,dlk->rlk", weights, counts))


def interval(values, confidence: float = CONFIDENCE) -> list[float]:
    """The central `confidence` percentile interval of `values`."""
    import numpy as np

    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return [float(low), float(high)]


def document_bootstrap(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    groups: Sequence[str],
    labels: Sequence[str],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    weights=None,
) -> dict:
    """Percentile intervals for macro-F1 and each label's F1, resampling documents.

    `weights` (n_resamples x n_documents draw counts, documents in sorted order) replaces the
    random resamples; tests use it to check a hand-computed case.
    """
    documents, counts = document_counts(y_true, y_pred, groups, labels)
    f1 = resampled_f1(counts, weights) if weights is not None else chunked_f1([counts], n_resamples, seed)[0]
    return {
        "unit": "document",
        "n_documents": len(documents),
        "n_resamples": int(len(f1)),
        "confidence": confidence,
        "seed": seed,
        "macro_f1": interval(f1.mean(axis=1), confidence),
        "per_label_f1": {label: interval(f1[:, i], confidence) for i, label in enumerate(labels)},
    }


def verdict(low: float, high: float) -> str:
    """Plain words for an interval of A - B."""
    if low > 0:
        return "A better"
    if high < 0:
        return "B better"
    return "no clear difference"


def paired_bootstrap(
    y_true: Sequence[str],
    pred_a: Sequence[str],
    pred_b: Sequence[str],
    groups: Sequence[str],
    labels: Sequence[str],
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    weights=None,
) -> dict:
    """Differences A - B in macro-F1 and per-label F1 on the same resampled documents."""
    documents, counts_a = document_counts(y_true, pred_a, groups, labels)
    _, counts_b = document_counts(y_true, pred_b, groups, labels)
    if weights is None:
        f1_a, f1_b = chunked_f1([counts_a, counts_b], n_resamples, seed)
    else:
        f1_a, f1_b = resampled_f1(counts_a, weights), resampled_f1(counts_b, weights)
    point_a, point_b = f1_from_counts(counts_a.sum(axis=0)), f1_from_counts(counts_b.sum(axis=0))

    def row(a: float, b: float, differences) -> dict:
        low, high = interval(differences, confidence)
        return {"a": float(a), "b": float(b), "difference": float(a - b), "interval": [low, high],
                "verdict": verdict(low, high)}

    return {
        "unit": "document",
        "n_documents": len(documents),
        "n_sentences": len(y_true),
        "n_resamples": int(len(f1_a)),
        "confidence": confidence,
        "seed": seed,
        "macro_f1": row(point_a.mean(), point_b.mean(), f1_a.mean(axis=1) - f1_b.mean(axis=1)),
        "per_label_f1": {
            label: row(point_a[i], point_b[i], f1_a[:, i] - f1_b[:, i]) for i, label in enumerate(labels)
        },
    }
