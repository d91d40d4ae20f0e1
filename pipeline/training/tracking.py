"""Optional experiment tracking (configs/tracking/): off by default, MLflow when asked for."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.artifacts.names import CARD_FILE, MODEL_POINTER_FILE
from pipeline.common.errors import PATH_CHARS, PipelineError, cut

INSTALL_HINT = "tracking=mlflow needs MLflow: pip install 'rhetoric-pipeline[mlflow]' (or: pip install mlflow-skinny)"


@dataclass
class NoTracking:
    """tracking=none: the run folder and the model card are the whole record."""

    def log_run(self, *, run_name: str, config: dict, metrics: dict, run_dir: str | Path) -> None:
        return None


@dataclass
class MlflowTracking:
    """tracking=mlflow: params, headline metrics and the run folder's files, one MLflow run per job."""

    tracking_uri: str
    experiment: str = "rhetoric-pipeline"

    def __post_init__(self) -> None:
        # Checked when the config is instantiated, so a missing MLflow stops the job before training.
        if importlib.util.find_spec("mlflow") is None:
            raise PipelineError(INSTALL_HINT)

    def log_run(self, *, run_name: str, config: dict, metrics: dict, run_dir: str | Path) -> None:
        try:
            self._log_run(run_name, config, metrics, run_dir)
        except Exception as exc:  # a server down, a store it cannot write: after training, which is kept
            reason = (str(exc).strip().splitlines() or [""])[0]
            raise PipelineError(
                f"config tracking.tracking_uri: cannot log the run to {cut(self.tracking_uri, PATH_CHARS)} "
                f"({type(exc).__name__}: {cut(reason, PATH_CHARS)}); the model is saved and {run_dir} is kept"
            ) from None

    def _log_run(self, run_name: str, config: dict, metrics: dict, run_dir: str | Path) -> None:
        if self.tracking_uri.startswith("file:"):
            # MLflow 3 refuses its file store unless asked; a local folder is what this project wants.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_experiment(self.experiment)
        with mlflow.start_run(run_name=run_name):
            mlflow.log_params(flatten(config))
            mlflow.log_metrics(headline_metrics(metrics))
            mlflow.set_tag("run_dir", str(run_dir))
            mlflow.log_artifacts(str(run_dir))
            pointer = Path(run_dir) / MODEL_POINTER_FILE
            if pointer.is_file():
                model_dir = pointer.read_text(encoding="utf-8").strip()
                mlflow.set_tag("model_dir", model_dir)
                mlflow.log_artifact(str(Path(model_dir) / CARD_FILE), artifact_path="model")


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """{"model": {"C": 1}} -> {"model.C": "1"}; MLflow params are flat strings."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def headline_metrics(metrics: dict) -> dict[str, float]:
    """The scalar figures of metrics.json, named as there (per_label.threat.f1 -> f1.threat); the
    real-news dev set's the same way under `real_news_dev.` (real_news_dev.macro_f1, ...)."""
    from pipeline.artifacts.names import REAL_NEWS_DEV
    from pipeline.evaluation.metrics import real_news_figures

    out = _scalars(metrics)
    real = real_news_figures(metrics)
    if real is not None:
        out.update({f"{REAL_NEWS_DEV}.{key}": value for key, value in _scalars(real).items()})
    return out


def _scalars(metrics: dict) -> dict[str, float]:
    out = {key: float(metrics[key]) for key in
           ("macro_f1", "micro_f1", "weighted_f1", "accuracy", "macro_f1_fold_mean", "macro_f1_fold_std")
           if key in metrics}
    for label, row in metrics.get("per_label", {}).items():
        out[f"f1.{label}"] = float(row["f1"])
    if "bootstrap" in metrics:
        out["macro_f1_low"], out["macro_f1_high"] = metrics["bootstrap"]["macro_f1"]
    if "calibration" in metrics:
        out["brier"] = float(metrics["calibration"]["brier"])
        out["ece"] = float(metrics["calibration"]["ece"])
    return out
