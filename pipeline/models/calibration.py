"""Calibrated classifiers fitted on folds grouped by document.
"""

from __future__ import annotations


def with_calibration(estimator, calibrator):
    """The same Pipeline with its classifier wrapped in `calibrator` (a CalibratedClassifierCV)."""
    from sklearn.pipeline import Pipeline

    steps = list(estimator.steps)
    name, classifier = steps[-1]
    steps[-1] = (name, calibrator.set_params(estimator=classifier))
    return Pipeline(steps)


def needs_groups(estimator) -> bool:
    """True when fitting calibrates on folds that must be grouped by document."""
    from sklearn.calibration import CalibratedClassifierCV

    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return isinstance(last, CalibratedClassifierCV)


def takes_groups(estimator) -> bool:
    """True when the classifier itself splits by document while fitting (early stopping)."""
    import inspect

    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return "groups" in inspect.signature(last.fit).parameters


def fit_grouped(estimator, texts: list[str], labels: list[str], groups: list[str]):
    """Fit; a calibrated model gets the documents routed to its calibration folds, a classifier
    that holds out documents for early stopping (pipeline.models.finetune) gets them too."""
    if not needs_groups(estimator):
        if takes_groups(estimator):
            if hasattr(estimator, "steps"):
                return estimator.fit(texts, labels, **{f"{estimator.steps[-1][0]}__groups": list(groups)})
            return estimator.fit(texts, labels, groups=list(groups))
        return estimator.fit(texts, labels)
    import sklearn

    from pipeline.common.errors import PipelineError

    try:
        with sklearn.config_context(enable_metadata_routing=True):
            return estimator.fit(texts, labels, groups=groups)
    except ValueError as exc:
        from pipeline.features.tfidf import PRUNING_ERRORS

        if str(exc).startswith(PRUNING_ERRORS):  # the features' own min_df/max_df, not the calibration
            raise
        raise PipelineError(
            f"config calibration: cannot calibrate on a training set of {len(set(groups))} documents: {exc}"
        ) from None
