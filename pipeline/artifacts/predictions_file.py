"""predictions.jsonl: every evaluated sentence with its true and predicted label and scores.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.common.errors import PipelineError
from pipeline.common.jsonl import json_line


def write_predictions(predictions, path: str | Path) -> None:
    """Write predictions.jsonl whole (pipeline.common.atomic): a reader never sees part of it."""
    from pipeline.common import atomic

    def score_rows():  # as Python floats a block at a time, not all at once
        for start in range(0, len(predictions.scores), 10_000):
            yield from predictions.scores[start:start + 10_000].tolist()

    with atomic.replacing(path) as handle:
        for text, group, label, predicted, row in zip(
            predictions.texts, predictions.groups, predictions.y_true, predictions.y_pred, score_rows(),
        ):
            record = {"doc_id": group, "text": text, "label": label, "predicted": predicted,
                      "scores": dict(zip(predictions.labels, row))}
            handle.write(json_line(record))


def read_predictions(path: str | Path):
    """A predictions.jsonl written by a training or evaluation run."""
    import numpy as np

    from pipeline.common.jsonl import read_json_lines
    from pipeline.evaluation.metrics import Predictions

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    texts, groups, y_true, y_pred, rows = [], [], [], [], []
    labels: list[str] | None = None
    for number, record in read_json_lines(path):
        try:
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
        except (KeyError, TypeError, ValueError) as exc:
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
