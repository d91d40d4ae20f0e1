"""Evaluation protocols: cross-validation grouped by document, or a held-out test file.
"""

from __future__ import annotations

import time

import pipeline.common.config  # noqa: F401  (registers the resolvers)
from pipeline.common.errors import PipelineError, counted, cut, quote, warn


def cross_validate(estimator, corpus, splitter, labels, seed: int = 0, final_fit: bool = True):
    """Out-of-fold predictions with folds grouped by document.

    Returns the pooled and per-fold metrics, and the out-of-fold predictions with their scores.
    The baselines go through the same folds. `final_fit`: the caller fits on all sentences next
    (training does, an audit does not), which the cost announced first includes.
    """
    import copy
    import warnings

    from pipeline.evaluation.metrics import baseline_summary, describe_predictions
    from pipeline.models.baselines import baseline_estimators
    from pipeline.models.scores import score_method

    refuse_going_on(estimator)
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
    announce_cost(estimator, corpus, [train for train, _ in splits], len(corpus) if final_fit else 0)
    predictions, folds = out_of_fold(estimator, corpus, splits, labels)
    baselines = {}
    for name, baseline in baseline_estimators(seed).items():
        base_predictions, base_folds = out_of_fold(baseline, corpus, splits, labels)
        baselines[name] = baseline_summary(base_predictions, seed=seed, folds=base_folds)
    metrics = describe_predictions(predictions, seed=seed, folds=folds, baselines=baselines,
                                   score_method=score_method(estimator))
    protocol = f"{len(folds)}-fold cross-validation grouped by document ({type(splitter).__name__})"
    return {"protocol": protocol, **metrics}, predictions


def refuse_going_on(estimator) -> None:
    """Grouped CV of a model that goes on training a saved one (init_from) would start every fold from
    weights fitted on all the data, test folds included: its figures would be worthless."""
    from pipeline.training.setup import config_key

    for path, value in estimator.get_params(deep=True).items():
        if path.rpartition("__")[2] == "init_from" and value is not None:
            raise PipelineError(f"config {config_key(path)}: cross-validation would start every fold from a model "
                                "that was trained on all of the data; give data.test_path to test on a file instead")


def announce_cost(estimator, corpus, fold_rows: list, final_rows: int) -> None:
    """Print what fitting will cost before it starts, for classifiers slow enough to say so.

    A classifier with `estimate_epoch_seconds` (model=minilm_finetune, a vote's encoders) times a few training
    steps on the first fold's sentences: folds x epochs x seconds an epoch (for each encoder), and the final fit.
    """
    import sys

    from pipeline.data.records import input_kind

    clf = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    members = [part for _, part in getattr(clf, "estimators", ()) if hasattr(part, "estimate_epoch_seconds")]
    encoders = members or ([clf] if hasattr(clf, "estimate_epoch_seconds") else [])  # a vote's encoders, or one
    if not encoders or not fold_rows:
        return
    first = fold_rows[0]
    inputs = corpus.inputs(input_kind(estimator), first)  # records when a member reads the neighbours
    try:
        costs = [(int(getattr(part, "epochs", 1)), part.estimate_epoch_seconds(inputs)) for part in encoders]
    except ValueError as exc:
        raise PipelineError(f"training failed: {exc}") from None
    per_sentence = sum(epochs * seconds for epochs, seconds in costs) / max(1, len(first))  # all epochs, all members
    folds_total = sum(per_sentence * len(rows) for rows in fold_rows)
    final = per_sentence * final_rows
    then = f"; training then fits on all {final_rows} sentences, ~{_duration(final)} more" if final_rows else ""
    each = " + ".join(f"{epochs} epochs x ~{_duration(seconds)} an epoch" for epochs, seconds in costs)
    if len(costs) > 1:
        each = f"{len(costs)} encoders ({each})"
    print(f"fine-tuning cost: {len(fold_rows)} folds x {each} = ~{_duration(folds_total)}{then} "
          f"(timed on a few batches; a busy machine takes longer)", file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def out_of_fold(estimator, corpus, splits, labels):
    """Each sentence predicted by the model fitted on the folds that do not hold its document.

    Returns the Predictions (in corpus order) and the per-fold metrics.
    """
    import numpy as np
    from sklearn.base import clone

    from pipeline.data.records import input_kind
    from pipeline.evaluation.metrics import Predictions, fold_metrics
    from pipeline.models.scores import predict_with_scores, score_method

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

    from pipeline.evaluation.metrics import (
        Predictions,
        baseline_summary,
        describe_predictions,
    )
    from pipeline.models.baselines import baseline_estimators
    from pipeline.models.scores import predict_with_scores, score_method

    shared = set(corpus.groups) & set(test.groups)
    if shared:
        raise PipelineError(
            f"data.test_path: {counted(len(shared), 'document')} also in the training data "
            f"(e.g. {quote(sorted(shared)[0])})"
        )
    warn_seen_sentences(corpus, test)
    labels = list(labels)

    def predict(model) -> Predictions:
        from pipeline.data.records import input_kind

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
    """True for a pipeline that reads sentences a batch at a time (pipeline.models.streaming)."""
    from pipeline.models.streaming import StreamingPipeline

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
    from pipeline.data.records import input_kind

    inputs = corpus.inputs(input_kind(estimator), index)  # texts, or sentence records for context models
    labels = corpus.labels if index is None else [corpus.labels[i] for i in index]
    if len(set(labels)) < 2:
        raise PipelineError(
            f"data: a training set holds only the label {quote(labels[0])}; a classifier needs at least 2"
        )
    from pipeline.models.calibration import fit_grouped

    groups = corpus.groups if index is None else [corpus.groups[i] for i in index]
    try:
        return fit_grouped(estimator, inputs, labels, groups)
    except ValueError as exc:
        from pipeline.training.setup import pruning_error

        fold = "" if index is None else " of a cross-validation fold"
        trained_on = counted(len(labels), "training sentence") + fold
        raise pruning_error(estimator, exc, trained_on) or PipelineError(f"training failed: {exc}") from None


def predict_corpus(model, corpus, labels):
    """Predictions (with scores) of a fitted model on every sentence of a labeled corpus."""
    from pipeline.data.records import input_kind
    from pipeline.evaluation.metrics import Predictions
    from pipeline.models.scores import predict_with_scores, score_method

    labels = list(labels)
    inputs = corpus.inputs(input_kind(model))  # sentence records for context models
    predicted, scores = predict_with_scores(model, inputs, labels)
    return Predictions(texts_of(corpus), list(corpus.groups), list(corpus.labels), predicted, scores, labels,
                       score_method(model) == "predict_proba")


def warn_seen_sentences(corpus, test) -> None:
    """Test sentences of four words or more whose text a training sentence repeats (a copy in another
    document) are scored as seen: said in a warning, since the test figures count them."""
    def key(text) -> str:
        return " ".join(str(text).lower().split())

    wanted = {k for text in test.texts if len((k := key(text)).split()) >= 4}
    seen = {k for text in corpus.texts if (k := key(text)) in wanted}
    if seen:
        repeated = [text for text in test.texts if key(text) in seen]
        warn(f"data.test_path: {counted(len(repeated), 'test sentence')} also among the training sentences (e.g. "
             f"{quote(cut(str(repeated[0]), 60))}); the test figures count text the model was trained on")


def check_dev_apart(corpus, dev, dev_path) -> None:
    """The real-news dev set is never trained on: no document of it among the training sentences."""
    shared = set(corpus.groups) & set(dev.groups)
    if shared:
        raise PipelineError(
            f"data.path: the training data holds {counted(len(shared), 'document')} of the real-news dev set "
            f"({dev_path}, data.dev_path) (e.g. {sorted(shared)[0]!r}); it is a yardstick, never trained on"
        )


def real_news_dev(model, dev, labels, seed: int, dev_path) -> dict:
    """The yardstick's figures for a fitted model: per-label metrics with document-bootstrap intervals."""
    from pipeline.evaluation.metrics import describe_predictions
    from pipeline.models.scores import score_method

    from dataclasses import replace

    if set(dev.labels) - set(labels):
        return {"data": str(dev_path), "skipped": f"its labels {sorted(set(dev.labels))} are not the model's"}
    predictions = predict_corpus(model, dev, labels)
    # A label the file lacks counts only where the model predicts it (as scikit-learn's F1 does).
    shown = set(dev.labels) | set(predictions.y_pred)
    keep = [k for k, label in enumerate(predictions.labels) if label in shown]
    if len(keep) < len(predictions.labels):
        scores = predictions.scores[:, keep]
        if predictions.probabilistic:  # still probabilities over the labels kept (no argmax changes)
            scores = scores / scores.sum(axis=1, keepdims=True)
        predictions = replace(predictions, scores=scores, labels=[predictions.labels[k] for k in keep])
    described = describe_predictions(predictions, seed=seed, score_method=score_method(model))
    described.pop("confident_mistakes", None)  # dev sentences are looked at by pattern, not one by one
    return {"data": str(dev_path), "real_text": True, **described}
