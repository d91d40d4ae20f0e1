"""A loaded model that scores sentences and articles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from pipeline.models.scores import predict_scores


class Model:
    """A loaded model that scores sentences and articles.

    Its input kind (card "input") is "text" (a list of sentences) or "records" (sentences
    with their place in the article, for context features); the methods below build it.
    """

    def __init__(self, estimator, card: dict, path: Path | None = None, loaded_with: str | None = None):
        self.estimator = estimator
        self.card = card
        self.path = path
        self.loaded_with = loaded_with  # "joblib" (trusted) or "skops" (checked types)
        self.labels = [str(label) for label in estimator.classes_]
        self.input_kind = card.get("input") or _inspect_input_kind(estimator)

    def predict_proba(self, sentences):
        """Scores per sentence and label (columns in `self.labels` order), rows summing to 1.

        `sentences`: a list of str (bare sentences, without their article), or for a context
        model a DataFrame of sentence records (pipeline.context.sentence_frame). A sentence is
        scored on its first MAX_SENTENCE_CHARS characters (pipeline.common.textio).
        """
        from pipeline.common.textio import MAX_SENTENCE_CHARS
        from pipeline.data.records import as_input, checked_sentences

        if hasattr(sentences, "columns"):
            import pandas as pd

            texts = [t[:MAX_SENTENCE_CHARS] for t in sentences["text"].tolist()]
            # Python strings (object): see pipeline.data.records.sentence_frame
            sentences = sentences.assign(text=pd.Series(texts, index=sentences.index, dtype=object))
        else:
            sentences = [text[:MAX_SENTENCE_CHARS] for text in checked_sentences(sentences)]
        if not len(sentences):  # scikit-learn refuses an empty input
            import numpy as np

            return np.empty((0, len(self.labels)))
        return predict_scores(self.estimator, as_input(self.input_kind, sentences))

    def predict_sentences(self, sentences: Sequence[str], doc_id: str = "text") -> list[dict]:
        """One record per sentence of one article, in order: doc_id, sentence_index, text, label, scores."""
        from pipeline.data.records import checked_sentences

        return self.records([(doc_id, i, s) for i, s in enumerate(checked_sentences(sentences))])

    def score_text(self, text: str, doc_id: str = "text") -> list[dict]:
        """Split an article into sentences (with their paragraphs) and score each one."""
        from pipeline.data.records import article_items

        if not isinstance(text, str):
            raise TypeError(f"expected the article as str, got {type(text).__name__}")
        return self.records(article_items(doc_id, text))

    def records(self, items: Iterable[tuple]) -> list[dict]:
        """Score items (doc_id, sentence_index, text[, {"n_sentences": .., "paragraph": ..}])."""
        items = list(items)
        if not items:
            return []
        return build_records(items, self.predict_items(items), self.labels)

    def predict_items(self, items: Sequence[tuple]):
        """predict_proba for items (doc_id, sentence_index, text[, extras]): context models
        get their positions, text models the texts."""
        from pipeline.data.records import RECORDS, frame_from_items

        items = list(items)
        if self.input_kind == RECORDS:
            return self.predict_proba(frame_from_items(items))
        return self.predict_proba([item[2] for item in items])


def build_records(items: Sequence[tuple], probabilities, labels: Sequence[str]) -> list[dict]:
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
        for (doc_id, index, text, *_), top, row in zip(items, best, rounded)
    ]


def _inspect_input_kind(estimator) -> str:
    """For cards written before the card recorded it."""
    from pipeline.data.records import input_kind

    return input_kind(estimator)
