"""Evaluate a saved model on a labeled file.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pipeline.common.config  # noqa: F401  (registers the resolvers)
from pipeline.common.errors import PipelineError, warn

log = logging.getLogger(__name__)


def evaluate(*, model_dir: str | Path, data, out_dir: str | Path, trust_model: bool = False) -> dict:
    """Score every sentence of `data.path` with the model and write the evaluation files.

    Baselines are fitted to the model's training label counts (from its card); the bootstrap
    and the random baseline use the seed the model was trained with. `trust_model` loads
    model.joblib even if this machine does not trust it (pipeline.trust).
    """
    from pipeline.artifacts.loading import load_model
    from pipeline.artifacts.names import PREDICTIONS_FILE
    from pipeline.artifacts.predictions_file import write_predictions
    from pipeline.evaluation.metrics import (
        Predictions,
        baseline_summary,
        describe_predictions,
    )
    from pipeline.models.baselines import fitted_from_counts
    from pipeline.models.scores import label_scores
    from pipeline.reports.files import write_reports
    from pipeline.reports.markdown import print_table
    from pipeline.training.crossval import one_blas_thread

    model = load_model(model_dir, trust=trust_model)
    test_path = getattr(data, "test_path", None)
    if test_path and _resolved(test_path) != _resolved(data.path):  # data=newsdiscourse names its test split there
        warn(f"data.test_path: evaluate scores data.path ({data.path}); give data.path={data.test_path} "
             "to evaluate on the test file")
    # The model's own labels are known labels of the file too, so a model trained with other
    # data.labels evaluates on a file of its labels without data.labels repeated.
    own_labels = [label for label in model.labels if label not in data.labels]
    readable_as = copy.copy(data)
    readable_as.labels = [*data.labels, *own_labels]
    corpus = readable_as.load_train()
    unknown = sorted(set(corpus.labels) - set(model.labels))
    if unknown:
        raise PipelineError(
            f"data.path: labels {unknown} are not among the model's labels {model.labels}"
        )
    present = set(corpus.labels)
    labels = [label for label in data.labels if label in model.labels]
    labels += [label for label in own_labels if label in present]
    absent = [label for label in labels if label not in present]
    if absent:  # their F1 is 0 (no true sentence to find), which pulls macro-F1 down by 1/len(labels) each
        warn(f"data.path: no sentence is labeled {', '.join(absent)}; macro-F1 averages {len(labels)} labels "
             f"and counts {'each' if len(absent) > 1 else 'it'} as F1 0, so read the per-label figures")
    trained_on = model.card.get("training_data", {})
    known = {Path(file).resolve() for file in trained_on.get("files", [])}
    seen = [file for file in corpus.files if Path(file).resolve() in known]
    whole = corpus.fingerprint() == trained_on.get("fingerprint") or (seen and len(seen) == len(corpus.files))
    own = "these sentences" if whole else ", ".join(seen)
    if own:  # the quick-start model scores 1.000 on data/: say these are figures of training sentences
        warn(f"data.path: the model was trained on {own}: its figures are not held out (evaluate on a labeled "
             "file it never saw)")
    seed = int(model.card.get("config", {}).get("seed") or 0)

    def predict(estimator, probabilistic: bool) -> Predictions:
        from pipeline.data.records import input_kind

        inputs = corpus.inputs(input_kind(estimator))  # sentence records for context models
        others = [label for label in model.labels if label not in labels]  # ones data.labels lacks
        scores = label_scores(estimator, inputs, [*labels, *others])
        return Predictions(corpus.texts, corpus.groups, corpus.labels, list(estimator.predict(inputs)),
                           scores[:, :len(labels)], labels, probabilistic,
                           {label: scores[:, len(labels) + k] for k, label in enumerate(others)})

    with one_blas_thread():
        predictions = predict(model.estimator, model.card.get("score_method") == "predict_proba")
    counts = model.card.get("training_data", {}).get("label_counts")
    baselines = {
        name: baseline_summary(predict(baseline, True), seed=seed)
        for name, baseline in (fitted_from_counts(counts, seed) if counts else {}).items()
    }
    metrics = {
        "protocol": f"model {model.path} on {', '.join(corpus.files)}"
                    + (f" (it was trained on {own}: not held out)" if own else ""),
        **describe_predictions(predictions, seed=seed, baselines=baselines,
                               score_method=model.card.get("score_method")),
    }
    metrics["model"] = {"path": str(model.path), "name": model.card.get("name"), "sha256": model.card.get("sha256")}
    metrics["data_fingerprint"] = corpus.fingerprint()
    write_reports(metrics, out_dir, f"Evaluation of {model.card.get('name', model.path)}",
                  predictions=predictions, estimator=model.estimator)
    write_predictions(predictions, Path(out_dir) / PREDICTIONS_FILE)
    print_table(metrics, f"{metrics['protocol']} — macro F1 {metrics['macro_f1']:.3f}")
    log.info("evaluation files in %s", out_dir)
    return metrics


def _resolved(paths) -> list[Path]:
    return [Path(p).resolve() for p in (paths if isinstance(paths, (list, tuple)) else [paths])]
