"""Evaluation stage: a saved model on any labeled file.

    python -m pipeline.evaluate model_dir=models/latest data.path=FILE
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pipeline import config as config_module
from pipeline.errors import PipelineError, reports_errors

log = logging.getLogger(__name__)


def evaluate(*, model_dir: str | Path, data, out_dir: str | Path, trust_model: bool = False) -> dict:
    """Score every sentence of `data.path` with the model and write the evaluation files.

    Baselines are fitted to the model's training label counts (from its card); the bootstrap
    and the random baseline use the seed the model was trained with. `trust_model` loads
    model.joblib even if this machine does not trust it (pipeline.trust).
    """
    from pipeline.baselines import fitted_from_counts
    from pipeline.metrics import Predictions, baseline_summary, describe_predictions, print_table, write_reports
    from pipeline.model import load_model
    from pipeline.predictions import PREDICTIONS_FILE, label_scores, write_predictions
    from pipeline.train import one_blas_thread

    model = load_model(model_dir, trust=trust_model)
    corpus = data.load_train()
    unknown = sorted(set(corpus.labels) - set(model.labels))
    if unknown:
        raise PipelineError(
            f"data.path: labels {unknown} are not among the model's labels {model.labels}"
        )
    labels = [label for label in data.labels if label in model.labels]
    seed = int(model.card.get("config", {}).get("seed") or 0)

    def predict(estimator, probabilistic: bool) -> Predictions:
        from pipeline.context import input_kind

        inputs = corpus.inputs(input_kind(estimator))  # sentence records for context models
        return Predictions(corpus.texts, corpus.groups, corpus.labels, list(estimator.predict(inputs)),
                           label_scores(estimator, inputs, labels), labels, probabilistic)

    with one_blas_thread():
        predictions = predict(model.estimator, model.card.get("score_method") == "predict_proba")
    counts = model.card.get("training_data", {}).get("label_counts")
    baselines = {
        name: baseline_summary(predict(baseline, True), seed=seed)
        for name, baseline in (fitted_from_counts(counts, seed) if counts else {}).items()
    }
    metrics = {
        "protocol": f"model {model.path} on {', '.join(corpus.files)}",
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


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
@reports_errors
def main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    if not isinstance(cfg.trust_model, bool):
        raise PipelineError(f"config trust_model: must be true or false, got {cfg.trust_model!r}")
    metrics = evaluate(
        model_dir=cfg.model_dir,
        data=config_module.instantiate(cfg.data, "data"),
        out_dir=HydraConfig.get().runtime.output_dir,
        trust_model=cfg.trust_model,
    )
    return metrics["macro_f1"]


if __name__ == "__main__":
    config_module.new_invocation()
    reports_errors(config_module.preflight)("evaluate", sys.argv[1:])
    main()
