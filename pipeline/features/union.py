"""Feature builders that configs name as `_target_`."""

from __future__ import annotations


def union(**parts):
    """A FeatureUnion of named transformers, e.g. union(word=..., char=...)."""
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(list(parts.items()))
