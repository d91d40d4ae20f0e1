"""A run's evaluated sentences on disk: predictions.jsonl, kept for comparisons between runs.

One record per evaluation sentence, in corpus order: doc_id, text, label (true), predicted,
and a score per label. In memory they are a `pipeline.metrics.Predictions`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from pipeline.errors import PipelineError

PREDICTIONS_FILE = "predictions.jsonl"


def write_predictions(predictions, path: str | Path) -> None:
    def score_rows():  # as Python floats a block at a time, not all at once
        for start in range(0, len(predictions.scores), 10_000):
            yield from predictions.scores[start:start + 10_000].tolist()

    with open(path, "w", encoding="utf-8") as handle:
        for text, group, label, predicted, row in zip(
            predictions.texts, predictions.groups, predictions.y_true, predictions.y_pred, score_rows(),
        ):
            record = {"doc_id": group, "text": text, "label": label, "predicted": predicted,
                      "scores": dict(zip(predictions.labels, row))}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_predictions(path: str | Path):
    """A predictions.jsonl written by a training or evaluation run."""
    import numpy as np

    from pipeline.metrics import Predictions

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    texts, groups, y_true, y_pred, rows = [], [], [], [], []
    labels: list[str] | None = None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                scores = record["scores"]
                if labels is None:
                    labels = list(scores)
                if list(scores) != labels:
                    raise ValueError("labels differ from the first line")
                texts.append(record["text"])
                groups.append(str(record["doc_id"]))
                y_true.append(record["label"])
                y_pred.append(record["predicted"])
                rows.append([float(scores[label]) for label in labels])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise PipelineError(f"{path}: line {number}: not a prediction record ({exc})") from None
    if labels is None:
        raise PipelineError(f"{path}: no predictions")
    return Predictions(texts, groups, y_true, y_pred, np.asarray(rows, dtype=float), labels, probabilistic=False)


def fingerprint(predictions) -> str:
    """sha256 of the evaluated sentences, their documents and true labels, in order."""
    digest = hashlib.sha256()
    for text, group, label in zip(predictions.texts, predictions.groups, predictions.y_true):
        digest.update(f"{group}\t{label}\t{text}\n".encode("utf-8"))
    return digest.hexdigest()


def label_scores(estimator, texts: Sequence[str], labels: Sequence[str]):
    """Scores of a fitted model with one column per label in `labels` order.

    A model trained without some label (a fold that lacked it) scores that label 0.
    """
    from pipeline.model import predict_scores

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
    from pipeline.model import predict_scores

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
