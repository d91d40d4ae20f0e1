"""Reference classifiers that ignore the text: a model should beat both by a clear margin."""

from __future__ import annotations

from typing import Mapping

# name -> DummyClassifier strategy
STRATEGIES = {"majority class": "most_frequent", "stratified random": "stratified"}


def baseline_estimators(seed: int) -> dict:
    """Unfitted DummyClassifiers, one per baseline."""
    from sklearn.dummy import DummyClassifier

    return {name: DummyClassifier(strategy=strategy, random_state=seed) for name, strategy in STRATEGIES.items()}


def fitted_from_counts(label_counts: Mapping[str, int], seed: int) -> dict:
    """Baselines fitted to a training label distribution (as a model card records it)."""
    labels = [label for label, count in label_counts.items() for _ in range(int(count))]
    return {name: dummy.fit(labels, labels) for name, dummy in baseline_estimators(seed).items()}
