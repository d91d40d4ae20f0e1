"""Text features side by side with discourse features of the sentence record.
"""

from __future__ import annotations

from pipeline.data.records import INPUT_COLUMNS


def with_context(text, context=None, context_weight: float = 1.0):
    """Text features of the `text` column side by side with discourse features of the record.

    Config: `_target_: pipeline.context.with_context` with `text:` (any text featurizer) and
    `context:` (a DiscourseFeatures, by default the FastDiscourseFeatures).
    """
    from sklearn.compose import ColumnTransformer

    from pipeline.features.discourse import FastDiscourseFeatures

    context = FastDiscourseFeatures() if context is None else context
    # A weight of 1 is left out: ColumnTransformer copies a block to multiply it, even by 1.
    return ColumnTransformer(
        [("text", text, "text"), ("context", context, list(INPUT_COLUMNS))],
        transformer_weights={"context": context_weight} if context_weight != 1.0 else None,
    )
