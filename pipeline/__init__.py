"""Rhetoric sentence classifier: train, evaluate and score news sentences.

    from pipeline import load_model
    model = load_model("models/latest")
    model.score_text("Article text ...")
"""

from pipeline.common import legacy

legacy.install()  # models saved before the subpackages name their classes by the old modules

from pipeline.artifacts.loading import load_model  # noqa: E402
from pipeline.artifacts.model import Model  # noqa: E402

__all__ = ["Model", "load_model"]
