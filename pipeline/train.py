"""Training stage: cross-validate by document, refit on all data, save the model.

    python -m pipeline.train [group=option] [key=value] ...
    python -m pipeline.train model=linear_svc model.C=0.5 features=char_tfidf seed=7
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pipeline import config as config_module
from pipeline.errors import PipelineError, reports_errors

log = logging.getLogger(__name__)


def train(
    *,
    estimator,
    data,
    splitter,
    models_dir: str | Path,
    run_dir: str | Path,
    run_name: str,
    config: dict,
) -> dict:
    """Evaluate `estimator` on `data`, refit it on all training sentences and save it.

    Returns the evaluation metrics (also written to run_dir and the model card).
    """
    from sklearn.base import clone

    from pipeline.config import check_params
    from pipeline.metrics import print_table, write_reports
    from pipeline.model import save_model, score_method

    check_params(estimator)
    corpus = data.load_train()
    test = data.load_test()
    started = time.perf_counter()
    if test is None:
        metrics, predictions = cross_validate(estimator, corpus, splitter, data.labels)
        evaluated = time.perf_counter()
        fitted = fit(clone(estimator), corpus)
        fit_seconds = time.perf_counter() - evaluated
    else:
        # The held-out model was fitted on exactly the training files: it is the final model.
        metrics, predictions, fitted, fit_seconds = holdout(estimator, corpus, test, data.labels)
        evaluated = time.perf_counter()

    title = f"Training run {run_name}"
    write_reports(metrics, run_dir, title, predictions=predictions, estimator=fitted)
    card = {
        "labels": [str(label) for label in fitted.classes_],
        "score_method": score_method(fitted),
        "config": config,
        "metrics": metrics,
        "training_data": {
            "fingerprint": corpus.fingerprint(),
            "files": corpus.files,
            "n_sentences": len(corpus),
            "n_documents": corpus.n_documents,
            "label_counts": {label: corpus.labels.count(label) for label in data.labels},
        },
        "sizes": {"n_features": int(getattr(fitted[-1], "n_features_in_", 0))},
        "timings": {"evaluate_seconds": round(evaluated - started, 3), "fit_seconds": round(fit_seconds, 3)},
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_dir": str(run_dir),
    }
    saved = save_model(fitted, card, models_dir, run_name)
    print_table(metrics, f"{metrics['protocol']} — macro F1 {metrics['macro_f1']:.3f}")
    log.info("saved model to %s; evaluation files in %s", saved, run_dir)
    return metrics


def cross_validate(estimator, corpus, splitter, labels):
    """Out-of-fold predictions with folds grouped by document.

    Returns the pooled and per-fold metrics, and the out-of-fold predictions with their scores.
    """
    import copy
    import warnings

    import numpy as np
    from sklearn.base import clone

    from pipeline.metrics import Predictions, compute_metrics
    from pipeline.model import predict_scores, score_method

    n_documents = corpus.n_documents
    if n_documents < 2:
        raise PipelineError(
            f"data.path: cross-validation by document needs at least 2 documents, found {n_documents}; "
            "give data.test_path to test on a file instead"
        )
    splitter = copy.deepcopy(splitter)
    if getattr(splitter, "n_splits", 0) > n_documents:
        splitter.n_splits = n_documents  # two seed articles: train on one, test on the other
    texts = np.asarray(corpus.texts, dtype=object)
    y = np.asarray(corpus.labels, dtype=object)
    groups = np.asarray(corpus.groups, dtype=object)
    predicted = np.empty(len(y), dtype=object)
    scores = np.zeros((len(y), len(labels)))
    folds = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = list(splitter.split(texts, y, groups))
    for train_index, test_index in splits:
        model = fit(clone(estimator), corpus, train_index)
        predicted[test_index] = model.predict(list(texts[test_index]))
        # A fold's model knows only the labels its training part holds.
        columns = [list(labels).index(str(c)) for c in model.classes_]
        scores[np.ix_(test_index, columns)] = predict_scores(model, list(texts[test_index]))
        fold = compute_metrics(y[test_index], predicted[test_index], labels, groups[test_index])
        folds.append({k: fold[k] for k in ("n_documents", "n_sentences", "macro_f1", "accuracy")})
    metrics = compute_metrics(list(y), list(predicted), labels, list(groups))
    fold_f1 = np.array([fold["macro_f1"] for fold in folds])
    metrics.update(
        protocol=f"{len(folds)}-fold cross-validation grouped by document ({type(splitter).__name__})",
        folds=folds,
        macro_f1_fold_mean=float(fold_f1.mean()),
        macro_f1_fold_std=float(fold_f1.std()),
    )
    probabilistic = score_method(estimator) == "predict_proba"
    return metrics, Predictions(corpus.texts, corpus.groups, list(y), list(predicted), scores, list(labels), probabilistic)


def holdout(estimator, corpus, test, labels):
    """Train on the training files, test on the explicit test file; metrics, predictions, model, fit seconds."""
    import numpy as np
    from sklearn.base import clone

    from pipeline.metrics import Predictions, compute_metrics
    from pipeline.model import predict_scores, score_method

    shared = set(corpus.groups) & set(test.groups)
    if shared:
        raise PipelineError(
            f"data.test_path: {len(shared)} documents also in the training data (e.g. {sorted(shared)[0]!r})"
        )
    started = time.perf_counter()
    model = fit(clone(estimator), corpus)
    fit_seconds = time.perf_counter() - started
    predicted = list(model.predict(test.texts))
    metrics = compute_metrics(test.labels, predicted, labels, test.groups)
    metrics["protocol"] = f"trained on {', '.join(corpus.files)}; tested on {', '.join(test.files)}"
    scores = np.zeros((len(test), len(labels)))
    scores[:, [list(labels).index(str(c)) for c in model.classes_]] = predict_scores(model, test.texts)
    probabilistic = score_method(model) == "predict_proba"
    predictions = Predictions(test.texts, test.groups, test.labels, predicted, scores, list(labels), probabilistic)
    return metrics, predictions, model, fit_seconds


def fit(estimator, corpus, index=None):
    texts, labels = corpus.texts, corpus.labels
    if index is not None:
        texts = [texts[i] for i in index]
        labels = [labels[i] for i in index]
    if len(set(labels)) < 2:
        raise PipelineError(
            f"data: a training set holds only the label {labels[0]!r}; a classifier needs at least 2"
        )
    try:
        return estimator.fit(texts, labels)
    except ValueError as exc:
        raise PipelineError(f"training failed: {exc}") from None


def library_versions() -> dict:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "scipy", "joblib", "rhetoric-pipeline"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
@reports_errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns cross-validated macro-F1 for sweepers."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    choices = hydra_cfg.runtime.choices
    run_name = cfg.run_name or "-".join(
        part
        for part in (
            time.strftime("%Y%m%d-%H%M%S"),
            str(choices.get("features")),
            str(choices.get("model")),
            config_module.os.environ[config_module.RUN_ID_ENV],
            str(hydra_cfg.job.num) if hydra_cfg.mode.name == "MULTIRUN" else "",
        )
        if part
    )
    metrics = train(
        estimator=config_module.build_estimator(cfg.features, cfg.model),
        data=config_module.instantiate(cfg.data, "data"),
        splitter=config_module.instantiate(cfg.split, "split"),
        models_dir=cfg.paths.models_dir,
        run_dir=hydra_cfg.runtime.output_dir,
        run_name=run_name,
        config=config_module.to_container(cfg),
    )
    return metrics["macro_f1"]


if __name__ == "__main__":
    reports_errors(config_module.preflight)("train", sys.argv[1:])
    main()
