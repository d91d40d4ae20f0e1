"""Training stage core: evaluate, refit on all training sentences, save the model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import pipeline.common.config  # noqa: F401  (registers the resolvers)
from pipeline.artifacts.names import LATEST, MODEL_FILE, MODEL_POINTER_FILE, REAL_NEWS_DEV, SKOPS_FILE
from pipeline.common.errors import DiskFull, PipelineError, note_kept, quote, warn
from pipeline.training.crossval import (
    check_dev_apart,
    cross_validate,
    fit,
    holdout,
    one_blas_thread,
    real_news_dev,
    streams,
)

log = logging.getLogger(__name__)
# From this many training sentences model.skops is written by a helper process
# (pipeline.artifacts.skops_writer) while the reports are drawn; below it, in this process.
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
    from pipeline.artifacts.skops_writer import SkopsWriter

    check_before_loading(estimator, models_dir, run_name, unique_name)
    lazy = streams(estimator)  # sentences stay on disk, read a batch at a time
    corpus = data.load_train(lazy=lazy)
    present = set(corpus.labels)
    absent = [label for label in data.labels if label not in present]
    if absent:
        warn(f"data.labels: no training sentence is labeled {', '.join(map(quote, absent))}; each counts as F1 0 "
             "in macro-F1 (set data.labels to the labels the data has)")
    test = data.load_test(lazy=lazy)
    dev = data.load_dev() if getattr(data, "dev_path", None) else None
    if dev is not None:
        check_dev_apart(corpus, dev, data.dev_path)  # testing on it (data.test_path) is allowed: it is evaluation
    elif getattr(data, "dev_path", None):
        log.info("real-news dev set not found at %s (data.dev_path, paths.ptc_dir): not scored", data.dev_path)
    background = save_skops and len(corpus) >= BACKGROUND_SKOPS_SENTENCES
    saved: list[Path] = []
    try:
        with SkopsWriter() if background else contextlib.nullcontext() as skops_writer:
            return _evaluate_and_save(
                estimator, corpus, test, data.labels, splitter, models_dir=models_dir, run_dir=run_dir,
                run_name=run_name, config=config, seed=seed, unique_name=unique_name, save_skops=save_skops,
                skops_writer=skops_writer, saved=saved, dev=dev, dev_path=getattr(data, "dev_path", None),
            )
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: say what the run leaves behind
        note_kept(exc, _kept(models_dir, run_dir, saved))
        raise
    except DiskFull as exc:  # a run file, the model or the trust store: say what the run leaves behind
        raise DiskFull(exc.path, reason=exc.reason, advice=f"{_kept(models_dir, run_dir, saved)}; "
                       "free some space and train again") from None


def check_before_loading(estimator, models_dir: str | Path, run_name: str, unique_name: bool = False) -> None:
    """What train() checks before it reads any data: the model folder's name and place, models/latest,
    every parameter."""
    from pipeline.artifacts.folder import check_run_name
    from pipeline.training.setup import check_params

    check_run_name(run_name)
    if not unique_name and (Path(models_dir) / run_name).exists():
        raise PipelineError(f"model folder already exists: {Path(models_dir) / run_name} (choose another run_name)")
    in_the_way = next(folder for folder in (Path(models_dir), *Path(models_dir).absolute().parents) if folder.exists())
    if not in_the_way.is_dir():  # found only when the model is saved: say so before training
        raise PipelineError(f"config paths.models_dir: {models_dir} cannot be a folder: {in_the_way} is a file")
    check_writable(in_the_way, models_dir)
    latest = Path(models_dir) / LATEST
    if latest.exists() and not latest.is_symlink():  # switched only once the model is saved: say so before
        raise PipelineError(f"{latest} is not a link to the last model but a {'folder' if latest.is_dir() else 'file'} "
                            "(a copy or zip that followed links makes one); rename or remove it, then train")
    check_params(estimator)


def check_writable(folder: Path, models_dir) -> None:
    """Create and remove a folder in `folder`, where the model folder goes: a read-only models folder
    (or file system) was found only when the model was saved, after the whole fit."""
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=folder))
    except OSError as exc:
        raise PipelineError(f"config paths.models_dir: {models_dir}: cannot write in {folder} "
                            f"({exc.strerror or exc}); the model could not be saved, so nothing was trained") from None


def _kept(models_dir, run_dir, saved: list[Path]) -> str:
    if saved:
        return f"the model was saved to {saved[0]} and {Path(models_dir) / LATEST} names it"
    return (f"no model was saved ({Path(models_dir) / LATEST} is unchanged); "
            f"the files already in {run_dir} are complete")


def _evaluate_and_save(estimator, corpus, test, labels, splitter, *, models_dir, run_dir, run_name, config, seed,
                       unique_name, save_skops, skops_writer, saved: list, dev=None, dev_path=None) -> dict:
    """train() once the data is loaded; `skops_writer` (or None) is handed the final model."""
    from sklearn.base import clone

    from pipeline.artifacts.folder import save_model, scratch_path
    from pipeline.artifacts.names import PREDICTIONS_FILE
    from pipeline.artifacts.predictions_file import write_predictions
    from pipeline.common import atomic
    from pipeline.data.records import input_kind
    from pipeline.evaluation.metrics import real_news_figures
    from pipeline.models.scores import score_method
    from pipeline.reports.files import write_reports
    from pipeline.reports.markdown import print_table

    def fitted_hook(model) -> None:
        if skops_writer is not None:  # both model files are written while the evaluation goes on
            skops_writer.submit(model, scratch_path(models_dir, SKOPS_FILE),
                                scratch_path(models_dir, MODEL_FILE))

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
        dev_path = dev_path and Path(dev_path).absolute()  # compare, run elsewhere, finds the same file
        if dev is not None:  # first in metrics.json and the card, as in the reports: the yardstick
            metrics = {REAL_NEWS_DEV: real_news_dev(fitted, dev, labels, seed, dev_path), **metrics}
        elif dev_path:
            metrics = {REAL_NEWS_DEV: {"data": str(dev_path), "skipped": "file not found"}, **metrics}

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
            "files": [str(Path(file).resolve()) for file in corpus.files],  # evaluate, run elsewhere, knows them
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
    history = getattr(fitted[-1], "history_", None)
    if history is not None:  # a fine-tuned encoder: loss (and validation loss) and seconds per epoch
        card["fit_history"] = history
    folder = save_model(fitted, card, models_dir, run_name, unique=unique_name, skops=save_skops,
                        skops_writer=skops_writer)
    saved.append(folder)
    atomic.write_text(Path(run_dir) / MODEL_POINTER_FILE, f"{folder.resolve()}\n")
    real = real_news_figures(metrics)
    if real is not None:  # real news first
        print_table(real, f"Real news: {real['n_sentences']} sentences of {real['n_documents']} articles "
                          f"({Path(real['data']).name}, never trained on) — macro F1 {real['macro_f1']:.3f} "
                          "[{:.3f}, {:.3f}]".format(*real["bootstrap"]["macro_f1"]))
    print_table(metrics, f"{metrics['protocol']} — macro F1 {metrics['macro_f1']:.3f}")
    log.info("saved model to %s; evaluation files in %s", folder, run_dir)
    return metrics


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
