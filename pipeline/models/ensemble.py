"""Soft voting between a fine-tuned encoder and the TF-IDF + discourse-context model.

The two read different evidence: the encoder reads the meaning of the sentence alone, the
TF-IDF model its words and its place in the article (position, quotation, the neighbouring
sentences). Their probabilities, averaged with `weights`, make one classifier that takes
sentence records (pipeline.data.records), so it works wherever a context model works.
"""

from __future__ import annotations


def soft_vote(tfidf_features, tfidf_model, encoder, weights=(1.0, 1.0)):
    """Config target (configs/model/minilm_tfidf_vote.yaml): VotingClassifier(voting="soft") of
    Pipeline([features, model]) for the TF-IDF side and the encoder classifier."""
    import math

    from sklearn.ensemble import VotingClassifier
    from sklearn.pipeline import Pipeline

    from pipeline.common.errors import PipelineError, quote

    weights = list(weights) if isinstance(weights, (list, tuple)) else weights
    numbers = isinstance(weights, list) and all(type(w) in (int, float) and math.isfinite(w) for w in weights)
    if not numbers or len(weights) != 2 or min(weights) < 0 or not sum(weights) > 0:
        raise PipelineError(f"config model.weights: two numbers of at least 0, not both 0 (tfidf_context, encoder), "
                            f"got {quote(weights)}")  # else a traceback once both models are fitted
    tfidf = Pipeline([("features", tfidf_features), ("clf", tfidf_model)])
    return VotingClassifier([("tfidf_context", tfidf), ("encoder", encoder)], voting="soft",
                            weights=weights)
