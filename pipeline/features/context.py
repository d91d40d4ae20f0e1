"""The features of a context model: text features beside discourse features of the sentence record.
"""

from __future__ import annotations

from sklearn.compose import ColumnTransformer

from pipeline.data.records import INPUT_COLUMNS, as_records


class ContextFeatures(ColumnTransformer):
    """A ColumnTransformer of sentence records that also takes a list of str as bare sentences.

    A context model's Pipeline starts with it, so the saved model.joblib keeps the promise of
    a text model: `predict_proba(["a sentence"])` scores bare sentences (no article: position
    features all zero), and a records table (pipeline.data.records.sentence_frame) scores
    sentences in their article. Records are transformed exactly as by ColumnTransformer.
    """

    def fit(self, X, y=None, **params):
        return super().fit(as_records(X), y, **params)

    def fit_transform(self, X, y=None, **params):
        return super().fit_transform(as_records(X), y, **params)

    def transform(self, X, **params):
        return super().transform(as_records(X), **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a table of sentence records, not numbers
        tags.input_tags.string = True
        return tags


def with_context(text, context=None, context_weight: float = 1.0) -> ContextFeatures:
    """Text features of the `text` column side by side with discourse features of the record.

    Config: `_target_: pipeline.features.context.with_context` with `text:` (any text featurizer)
    and `context:` (a DiscourseFeatures, by default the FastDiscourseFeatures).
    """
    from pipeline.features.discourse import FastDiscourseFeatures

    context = FastDiscourseFeatures() if context is None else context
    # A weight of 1 is left out: ColumnTransformer copies a block to multiply it, even by 1. Any other
    # value (true too) stays, for training to check (pipeline.training.setup.check_params).
    one = type(context_weight) in (int, float) and context_weight == 1.0
    return ContextFeatures(
        [("text", text, "text"), ("context", context, list(INPUT_COLUMNS))],
        transformer_weights=None if one else {"context": context_weight},
    )
