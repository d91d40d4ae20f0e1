"""Soft voting: a fine-tuned encoder with the TF-IDF + discourse-context model, or two encoders.

The encoder reads the meaning of the sentence (with its neighbours, by its `context`), the
TF-IDF model its words and its place in the article (position, quotation, the neighbouring
sentences); two encoders that read different neighbours err on different sentences. Their
probabilities, averaged with `weights`, make one classifier that takes sentence records
(pipeline.data.records) when a member does, so it works wherever a context model works.
"""

from __future__ import annotations


def soft_vote(tfidf_features, tfidf_model, encoder, weights=(1.0, 1.0)):
    """Config target (configs/model/minilm_tfidf_vote.yaml): VotingClassifier(voting="soft") of
    Pipeline([features, model]) for the TF-IDF side and the encoder classifier."""
    from sklearn.pipeline import Pipeline

    tfidf = Pipeline([("features", tfidf_features), ("clf", tfidf_model)])
    return _vote([("tfidf_context", tfidf), ("encoder", encoder)], weights)


def encoder_vote(first, second, weights=(1.0, 1.0)):
    """Config target (configs/model/encoder_pair_vote.yaml): VotingClassifier(voting="soft") of two
    fine-tuned encoders, each fitted exactly as it would be alone (same data, seed and settings)."""
    return _vote([("first", first), ("second", second)], weights)


def _vote(members: list, weights):
    """The soft vote of two named members, its weights checked as config keys."""
    import math

    from sklearn.ensemble import VotingClassifier

    from pipeline.common.errors import PipelineError, quote

    weights = list(weights) if isinstance(weights, (list, tuple)) else weights
    numbers = isinstance(weights, list) and all(type(w) in (int, float) and math.isfinite(w) for w in weights)
    if not numbers or len(weights) != len(members) or min(weights) < 0 or not sum(weights) > 0:
        names = ", ".join(name for name, _ in members)
        raise PipelineError(f"config model.weights: two numbers of at least 0, not both 0 ({names}), "
                            f"got {quote(weights)}")  # else a traceback once the members are fitted
    return VotingClassifier(members, voting="soft", weights=weights)
