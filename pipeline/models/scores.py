"""Scores per label from any fitted model: predict_proba, or a softmax of its decision function.
"""

from __future__ import annotations

from typing import Sequence


def predict_scores(estimator, texts):
    """predict_proba where the model has it, else a softmax of the decision function."""
    import numpy as np

    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(texts)
    decision = np.asarray(estimator.decision_function(texts), dtype=float)
    if decision.ndim == 1:  # binary: one margin for the positive class
        decision = np.column_stack([-decision, decision])
    decision -= decision.max(axis=1, keepdims=True)
    exp = np.exp(decision)
    return exp / exp.sum(axis=1, keepdims=True)


def score_method(estimator) -> str:
    return "predict_proba" if hasattr(estimator, "predict_proba") else "softmax(decision_function)"


def label_scores(estimator, texts: Sequence[str], labels: Sequence[str]):
    """Scores of a fitted model with one column per label in `labels` order.

    A model trained without some label (a fold that lacked it) scores that label 0.
    """
    from pipeline.models.scores import predict_scores

    # Sentence records stay a DataFrame; sentences on disk (lazy_corpus.ArrowTexts) stay there.
    rows = texts if _kept_as_is(texts) else list(texts)
    return aligned_scores(predict_scores(estimator, rows), estimator.classes_, labels)


def _kept_as_is(inputs) -> bool:
    return hasattr(inputs, "columns") or hasattr(inputs, "iter_batches")


def predict_with_scores(estimator, inputs, labels: Sequence[str]):
    """The predicted labels (a list) and `label_scores` of a fitted model, features computed once.

    A Pipeline's feature steps transform `inputs` once for both, as its own predict and
    predict_proba would each do; other models, and sentences left on disk for a streaming
    pipeline (which transforms them a batch at a time), are simply asked twice.
    """
    from pipeline.models.scores import predict_scores

    steps = getattr(estimator, "steps", None)
    if not steps or hasattr(inputs, "iter_batches"):
        return list(estimator.predict(inputs)), label_scores(estimator, inputs, labels)
    features = inputs if _kept_as_is(inputs) else list(inputs)
    for _, step in steps[:-1]:
        if step is not None and step != "passthrough":
            features = step.transform(features)
    final = steps[-1][1]
    return list(final.predict(features)), aligned_scores(predict_scores(final, features), final.classes_, labels)


def aligned_scores(raw, classes, labels: Sequence[str]):
    """Score columns in the order of `classes` rearranged into `labels` order (0 for a missing label)."""
    import numpy as np

    raw = np.asarray(raw, dtype=float)
    classes = [str(c) for c in classes]
    out = np.zeros((raw.shape[0], len(labels)))
    for column, label in enumerate(labels):
        if label in classes:
            out[:, column] = raw[:, classes.index(label)]
    return out
