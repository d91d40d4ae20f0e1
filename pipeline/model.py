"""A saved model: one fitted scikit-learn Pipeline (model.joblib) and its card (model.json).

Kept light on purpose: scoring imports this module, never Hydra or `datasets`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from pipeline.errors import PipelineError

MODEL_FILE = "model.joblib"
CARD_FILE = "model.json"
LATEST = "latest"


class Model:
    """A loaded model that scores sentences and articles."""

    def __init__(self, estimator, card: dict, path: Path | None = None):
        self.estimator = estimator
        self.card = card
        self.path = path
        self.labels = [str(label) for label in estimator.classes_]

    def predict_proba(self, sentences: Sequence[str]):
        """Scores per sentence and label (columns in `self.labels` order), rows summing to 1."""
        return predict_scores(self.estimator, list(sentences))

    def predict_sentences(self, sentences: Sequence[str], doc_id: str = "text") -> list[dict]:
        """One record per sentence: doc_id, sentence_index, text, label, scores."""
        return self.records([(doc_id, i, s) for i, s in enumerate(sentences)])

    def score_text(self, text: str, doc_id: str = "text") -> list[dict]:
        """Split an article into sentences and score each one."""
        from pipeline.sentences import split_sentences

        return self.predict_sentences(split_sentences(text), doc_id=doc_id)

    def records(self, items: Iterable[tuple[str, int, str]]) -> list[dict]:
        items = list(items)
        if not items:
            return []
        return build_records(items, self.predict_proba([text for _, _, text in items]), self.labels)


def build_records(items: Sequence[tuple[str, int, str]], probabilities, labels: Sequence[str]) -> list[dict]:
    """One dict per sentence: doc_id, sentence_index, text, label, scores rounded to 6 places."""
    import numpy as np

    probabilities = np.asarray(probabilities)
    best = probabilities.argmax(axis=1).tolist()
    rounded = probabilities.round(6).tolist()
    return [
        {
            "doc_id": doc_id,
            "sentence_index": index,
            "text": text,
            "label": labels[top],
            "scores": dict(zip(labels, row)),
        }
        for (doc_id, index, text), top, row in zip(items, best, rounded)
    ]


def predict_scores(estimator, texts: list[str]):
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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(estimator, card: dict, models_dir: str | Path, name: str) -> Path:
    """Write models/<name>/ through a temporary folder, then point models/latest at it.

    A run killed mid-save leaves only a hidden `.tmp-*` folder; `latest` always names a
    complete model.
    """
    import joblib

    models = Path(models_dir)
    models.mkdir(parents=True, exist_ok=True)
    final = models / name
    if final.exists() or final.name == LATEST:
        raise PipelineError(f"model folder already exists: {final} (choose another run_name)")
    tmp = models / f".tmp-{name}-{secrets.token_hex(3)}"
    tmp.mkdir()
    try:
        joblib.dump(estimator, tmp / MODEL_FILE)
        card = dict(card, name=name, sha256=sha256_file(tmp / MODEL_FILE))
        card["sizes"] = dict(card.get("sizes", {}), model_bytes=(tmp / MODEL_FILE).stat().st_size)
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, default=str) + "\n", encoding="utf-8")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    link_tmp = models / f".tmp-latest-{secrets.token_hex(3)}"
    os.symlink(name, link_tmp)
    os.replace(link_tmp, models / LATEST)
    return final


def read_card(path: str | Path) -> dict:
    """Check a model folder (files present, sha256 matching the card) and return its card."""
    folder = Path(path)
    if not folder.is_dir():
        raise PipelineError(f"model folder not found: {folder}")
    model_file, card_file = folder / MODEL_FILE, folder / CARD_FILE
    if not model_file.is_file():
        raise PipelineError(f"{folder}: no {MODEL_FILE} in the model folder")
    if not card_file.is_file():
        raise PipelineError(f"{folder}: no {CARD_FILE} in the model folder")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{card_file}: not a valid model card ({exc})") from None
    expected = card.get("sha256") if isinstance(card, dict) else None
    if not expected:
        raise PipelineError(f"{card_file}: the card has no sha256 of {MODEL_FILE}")
    if sha256_file(model_file) != expected:
        raise PipelineError(f"{model_file}: sha256 does not match {CARD_FILE}; refusing to load it")
    return card


def load_model(path: str | Path = "models/latest") -> Model:
    """Load a model folder (or `models/latest`), checking its file against the card's sha256."""
    import joblib

    folder = Path(path)
    card = read_card(folder)
    model_file = folder / MODEL_FILE
    try:
        estimator = joblib.load(model_file)
    except Exception as exc:
        raise PipelineError(f"{model_file}: cannot load ({type(exc).__name__}: {exc})") from None
    return Model(estimator, card, folder.resolve())
