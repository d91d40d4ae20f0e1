"""Rhetoric sentence classifier: train, evaluate and score news sentences.

    from pipeline import load_model
    model = load_model("models/latest")
    model.score_text("Article text ...")
"""

from pipeline.model import Model, load_model

__all__ = ["Model", "load_model"]
