"""Training stage: cross-validate by document, refit on all data, save the model.

    python -m pipeline.train [group=option] [key=value] ...
    python -m pipeline.train model=linear_svc model.C=0.5 features=char_tfidf seed=7
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pipeline import config as config_module
from pipeline.errors import PipelineError, reports_errors

log = logging.getLogger(__name__)

MODEL_POINTER_FILE = "model_dir.txt"  # in a run folder: where its model was saved
# From this many training sentences model.skops is written by a helper process
# (pipeline.skops_writer) while the reports are drawn; below it, in this process.
BACKGROUND_SKOPS_SENTENCES = 10_000


def train(
    *,
    estimator,
    data,
    splitter,
    models_dir: str | Path,
    run_dir: str | Path,
    run_name: str,
    config: dict,
    seed: int = 0,
    unique_name: bool = False,
    save_skops: bool = True,
) -> dict:
    """Evaluate `estimator` on `data`, refit it on all training sentences and save it.

    Returns the evaluation metrics (also written to run_dir and the model card). `seed` feeds
    the bootstrap and the random baseline. Besides the reports, run_dir gets the evaluated
    predictions (predictions.jsonl) and the saved model's folder (model_dir.txt). The model goes
    to models_dir/run_name, which must not exist yet; with `unique_name` a random suffix is
    added instead of failing.
    """
    from pipeline.config import check_params
    from pipeline.model import check_run_name
    from pipeline.skops_writer import SkopsWriter

    check_run_name(run_name)
    if not unique_name and (Path(models_dir) / run_name).exists():
        raise PipelineError(f"model folder already exists: {Path(models_dir) / run_name} (choose another run_name)")
    check_params(estimator)
    lazy = streams(estimator)  # sentences stay on disk, read a batch at a time
    corpus = data.load_train(lazy=lazy)
    test = data.load_test(lazy=lazy)
    background = save_skops and len(corpus) >= BACKGROUND_SKOPS_SENTENCES
    with SkopsWriter() if background else contextlib.nullcontext() as skops_writer:
        return _evaluate_and_save(
            estimator, corpus, test, data.labels, splitter, models_dir=models_dir, run_dir=run_dir,
            run_name=run_name, config=config, seed=seed, unique_name=unique_name, save_skops=save_skops,
            skops_writer=skops_writer,
        )


def _evaluate_and_save(estimator, corpus, test, labels, splitter, *, models_dir, run_dir, run_name, config, seed,
                       unique_name, save_skops, skops_writer) -> dict:
    """train() once the data is loaded; `skops_writer` (or None) is handed the final model."""
    from sklearn.base import clone

    from pipeline import atomic
    from pipeline.context import input_kind
    from pipeline.metrics import print_table, write_reports
    from pipeline.model import save_model, scratch_path, score_method
    from pipeline.predictions import PREDICTIONS_FILE, write_predictions

    def fitted_hook(model) -> None:
        if skops_writer is not None:  # both model files are written while the evaluation goes on
            skops_writer.submit(model, scratch_path(models_dir, "model.skops"),
                                scratch_path(models_dir, "model.joblib"))

    started = time.perf_counter()
    with one_blas_thread():
        if test is None:
            metrics, predictions = cross_validate(estimator, corpus, splitter, labels, seed)
            evaluated = time.perf_counter()
            fitted = fit(clone(estimator), corpus)
            fit_seconds = time.perf_counter() - evaluated
            fitted_hook(fitted)
        else:
            # The held-out model was fitted on exactly the training files: it is the final model.
            metrics, predictions, fitted, fit_seconds = holdout(estimator, corpus, test, labels, seed, fitted_hook)
            evaluated = time.perf_counter()

    title = f"Training run {run_name}"
    write_reports(metrics, run_dir, title, predictions=predictions, estimator=fitted)
    write_predictions(predictions, Path(run_dir) / PREDICTIONS_FILE)
    card = {
        "labels": [str(label) for label in fitted.classes_],
        "score_method": score_method(fitted),
        "input": input_kind(fitted),  # "text": a list of sentences; "records": sentences with positions
        "config": config,
        "metrics": metrics,
        "training_data": {
            "fingerprint": corpus.fingerprint(),
            "files": corpus.files,
            "n_sentences": len(corpus),
            "n_documents": corpus.n_documents,
            "label_counts": {label: corpus.labels.count(label) for label in labels},
        },
        "sizes": {"n_features": int(getattr(fitted[-1], "n_features_in_", 0))},
        "timings": {"evaluate_seconds": round(evaluated - started, 3), "fit_seconds": round(fit_seconds, 3)},
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_dir": str(run_dir),
    }
    saved = save_model(fitted, card, models_dir, run_name, unique=unique_name, skops=save_skops,
                       skops_writer=skops_writer)
    atomic.write_text(Path(run_dir) / MODEL_POINTER_FILE, f"{saved.resolve()}\n")
    print_table(metrics, f"{metrics['protocol']} — macro F1 {metrics['macro_f1']:.3f}")
    log.info("saved model to %s; evaluation files in %s", saved, run_dir)
    return metrics


def cross_validate(estimator, corpus, splitter, labels, seed: int = 0):
    """Out-of-fold predictions with folds grouped by document.

    Returns the pooled and per-fold metrics, and the out-of-fold predictions with their scores.
    The baselines go through the same folds.
    """
    import copy
    import warnings

    from pipeline.baselines import baseline_estimators
    from pipeline.metrics import baseline_summary, describe_predictions
    from pipeline.model import score_method

    n_documents = corpus.n_documents
    if n_documents < 2:
        raise PipelineError(
            f"data.path: cross-validation by document needs at least 2 documents, found {n_documents}; "
            "give data.test_path to test on a file instead"
        )
    splitter = copy.deepcopy(splitter)
    if getattr(splitter, "n_splits", 0) > n_documents:
        splitter.n_splits = n_documents  # two seed articles: train on one, test on the other
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = list(splitter.split(corpus.texts, corpus.labels, corpus.groups))
    predictions, folds = out_of_fold(estimator, corpus, splits, labels)
    baselines = {}
    for name, baseline in baseline_estimators(seed).items():
        base_predictions, base_folds = out_of_fold(baseline, corpus, splits, labels)
        baselines[name] = baseline_summary(base_predictions, seed=seed, folds=base_folds)
    metrics = describe_predictions(predictions, seed=seed, folds=folds, baselines=baselines,
                                   score_method=score_method(estimator))
    protocol = f"{len(folds)}-fold cross-validation grouped by document ({type(splitter).__name__})"
    return {"protocol": protocol, **metrics}, predictions


def out_of_fold(estimator, corpus, splits, labels):
    """Each sentence predicted by the model fitted on the folds that do not hold its document.

    Returns the Predictions (in corpus order) and the per-fold metrics.
    """
    import numpy as np
    from sklearn.base import clone

    from pipeline.context import input_kind
    from pipeline.metrics import Predictions, fold_metrics
    from pipeline.model import score_method
    from pipeline.predictions import predict_with_scores

    labels = list(labels)
    kind = input_kind(estimator)
    y = np.asarray(corpus.labels, dtype=object)
    groups = np.asarray(corpus.groups, dtype=object)
    predicted = np.empty(len(y), dtype=object)
    shared = {label: label for label in labels}
    scores = np.zeros((len(y), len(labels)))
    folds = []
    for train_index, test_index in splits:
        model = fit(clone(estimator), corpus, train_index)
        inputs = corpus.inputs(kind, test_index)
        # A fold's model knows only the labels its training part holds: the others score 0.
        fold_predicted, scores[test_index] = predict_with_scores(model, inputs, labels)
        # One str object per label, not one per sentence (out of core, the corpus may be large).
        predicted[test_index] = [shared.get(p, p) for p in fold_predicted]
        folds.append(fold_metrics(list(y[test_index]), list(predicted[test_index]), labels, list(groups[test_index])))
    probabilistic = score_method(estimator) == "predict_proba"
    return Predictions(texts_of(corpus), list(corpus.groups), list(y), list(predicted), scores, labels,
                       probabilistic), folds


def holdout(estimator, corpus, test, labels, seed: int = 0, fitted_hook=None):
    """Train on the training files, test on the explicit test file; metrics, predictions, model, fit seconds.

    `fitted_hook(model)` is called as soon as the model is fitted (to start writing it).
    """
    from sklearn.base import clone

    from pipeline.baselines import baseline_estimators
    from pipeline.metrics import Predictions, baseline_summary, describe_predictions
    from pipeline.model import score_method
    from pipeline.predictions import predict_with_scores

    shared = set(corpus.groups) & set(test.groups)
    if shared:
        raise PipelineError(
            f"data.test_path: {len(shared)} documents also in the training data (e.g. {sorted(shared)[0]!r})"
        )
    labels = list(labels)

    def predict(model) -> Predictions:
        from pipeline.context import input_kind

        inputs = test.inputs(input_kind(model))  # sentence records for context models
        predicted, scores = predict_with_scores(model, inputs, labels)
        return Predictions(texts_of(test), list(test.groups), list(test.labels), predicted, scores, labels,
                           score_method(model) == "predict_proba")

    started = time.perf_counter()
    model = fit(clone(estimator), corpus)
    fit_seconds = time.perf_counter() - started
    if fitted_hook is not None:
        fitted_hook(model)
    predictions = predict(model)
    baselines = {
        name: baseline_summary(predict(fit(baseline, corpus)), seed=seed)
        for name, baseline in baseline_estimators(seed).items()
    }
    metrics = describe_predictions(predictions, seed=seed, baselines=baselines, score_method=score_method(model))
    protocol = f"trained on {', '.join(corpus.files)}; tested on {', '.join(test.files)}"
    return {"protocol": protocol, **metrics}, predictions, model, fit_seconds


def streams(estimator) -> bool:
    """True for a pipeline that reads sentences a batch at a time (pipeline.streaming)."""
    from pipeline.streaming import StreamingPipeline

    return isinstance(estimator, StreamingPipeline)


def texts_of(corpus):
    """The corpus sentences for Predictions: a copied list, or the same sentences left on disk."""
    return list(corpus.texts) if isinstance(corpus.texts, list) else corpus.texts


def one_blas_thread():
    """Linear algebra on one thread while fitting and scoring.

    The BLAS thread count changes the last bits of the floats (joblib launcher workers run with
    one thread, a plain run with all cores), so without this the same config and seed would give
    different metrics.json depending on the launcher. It is also faster here: a sparse
    LogisticRegression fit on the default data took 0.7-1.2 s on one thread and 10-15 s on two.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def fit(estimator, corpus, index=None):
    from pipeline.context import input_kind

    inputs = corpus.inputs(input_kind(estimator), index)  # texts, or sentence records for context models
    labels = corpus.labels if index is None else [corpus.labels[i] for i in index]
    if len(set(labels)) < 2:
        raise PipelineError(
            f"data: a training set holds only the label {labels[0]!r}; a classifier needs at least 2"
        )
    from pipeline.calibration import fit_grouped

    groups = corpus.groups if index is None else [corpus.groups[i] for i in index]
    try:
        return fit_grouped(estimator, inputs, labels, groups)
    except ValueError as exc:
        raise PipelineError(f"training failed: {exc}") from None


def library_versions() -> dict:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("scikit-learn", "numpy", "scipy", "joblib", "skops", "rhetoric-pipeline"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
@reports_errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the macro-F1 that sweepers maximise and leaderboards rank by."""
    from hydra.core.hydra_config import HydraConfig

    from pipeline.leaderboard import ranking_score

    tracker = config_module.instantiate(cfg.tracking, "tracking") if cfg.get("tracking") else None
    hydra_cfg = HydraConfig.get()
    choices = hydra_cfg.runtime.choices
    job_num = str(hydra_cfg.job.num) if hydra_cfg.mode.name == "MULTIRUN" else ""
    if cfg.run_name:
        # Every job of a multirun gets its own folder: run_name-0, run_name-1, ...
        run_name = "-".join(part for part in (str(cfg.run_name), job_num) if part)
    else:
        run_name = "-".join(
            part
            for part in (
                time.strftime("%Y%m%d-%H%M%S"),
                str(choices.get("features")),
                str(choices.get("model")),
                config_module.os.environ[config_module.RUN_ID_ENV],
                job_num,
            )
            if part
        )
    config = config_module.to_container(cfg)
    metrics = train(
        estimator=config_module.build_estimator(cfg.features, cfg.model, cfg.get("calibration")),
        data=config_module.instantiate(cfg.data, "data"),
        splitter=config_module.instantiate(cfg.split, "split"),
        models_dir=cfg.paths.models_dir,
        run_dir=hydra_cfg.runtime.output_dir,
        run_name=run_name,
        config=config,
        seed=cfg.seed,
        unique_name=not cfg.run_name,
        save_skops=cfg.get("save_skops", True),
    )
    if tracker is not None:
        tracker.log_run(run_name=run_name, config=config, metrics=metrics, run_dir=hydra_cfg.runtime.output_dir)
    return ranking_score(metrics)


if __name__ == "__main__":
    config_module.new_invocation()
    reports_errors(config_module.preflight)("train", sys.argv[1:])
    main()
