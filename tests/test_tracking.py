import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT, compose

from pipeline.common.errors import PipelineError
from pipeline.training.tracking import (
    INSTALL_HINT,
    MlflowTracking,
    NoTracking,
    flatten,
    headline_metrics,
)


def test_tracking_is_off_by_default():
    from pipeline.common.config import instantiate

    tracker = instantiate(compose("train").tracking, "tracking")
    assert isinstance(tracker, NoTracking)


def test_mlflow_tracking_without_mlflow_names_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(PipelineError) as caught:
        MlflowTracking(tracking_uri="file:/tmp/nowhere")
    assert str(caught.value) == INSTALL_HINT and "pip install 'rhetoric-pipeline[mlflow]'" in INSTALL_HINT


def test_a_store_mlflow_cannot_log_to_is_one_line_naming_the_key_and_what_is_kept(tmp_path, monkeypatch):
    """An MLflow server that is down (or a store it cannot write) fails after training: one line, not
    MLflow's traceback, and the saved model and run folder stay."""
    import types

    class MlflowException(Exception):
        pass

    def unreachable(name):
        raise MlflowException("API request to endpoint /api/2.0/mlflow/experiments/get-by-name failed\nretries")

    fake = types.SimpleNamespace(set_tracking_uri=lambda uri: None, set_experiment=unreachable)
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    tracker = MlflowTracking(tracking_uri="http://127.0.0.1:1")
    with pytest.raises(PipelineError) as caught:
        tracker.log_run(run_name="r", config={}, metrics={}, run_dir=tmp_path)
    assert str(caught.value) == (
        "config tracking.tracking_uri: cannot log the run to http://127.0.0.1:1 (MlflowException: API request to "
        f"endpoint /api/2.0/mlflow/experiments/get-by-name failed); the model is saved and {tmp_path} is kept"
    )


@pytest.mark.slow
def test_train_with_mlflow_missing_stops_before_training(tmp_path):
    code = (
        "import sys, runpy; sys.modules['mlflow'] = None; "  # makes `import mlflow` fail as if not installed
        f"sys.argv = ['train', 'data=seed', 'tracking=mlflow', 'paths.runs_dir={tmp_path}/runs', "
        f"'paths.models_dir={tmp_path}/models']; runpy.run_module('pipeline.train', run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr == f"error: {INSTALL_HINT}\n"
    assert not (tmp_path / "models").exists()


def test_params_and_metrics_are_flattened_for_mlflow():
    assert flatten({"model": {"C": 1.0, "class_weight": None}, "seed": 3}) == {
        "model.C": "1.0", "model.class_weight": "None", "seed": "3"
    }
    metrics = {"macro_f1": 0.5, "accuracy": 0.6, "per_label": {"threat": {"f1": 0.7}},
               "bootstrap": {"macro_f1": [0.4, 0.6]}, "calibration": {"brier": 0.3, "ece": 0.1}}
    assert headline_metrics(metrics) == {"macro_f1": 0.5, "accuracy": 0.6, "f1.threat": 0.7, "macro_f1_low": 0.4,
                                         "macro_f1_high": 0.6, "brier": 0.3, "ece": 0.1}
    metrics["real_news_dev"] = {"data": "dev.jsonl", "macro_f1": 0.45, "per_label": {"threat": {"f1": 0.3}},
                                "bootstrap": {"macro_f1": [0.35, 0.55]}}
    assert headline_metrics(metrics) == {"macro_f1": 0.5, "accuracy": 0.6, "f1.threat": 0.7, "macro_f1_low": 0.4,
                                         "macro_f1_high": 0.6, "brier": 0.3, "ece": 0.1,
                                         "real_news_dev.macro_f1": 0.45, "real_news_dev.f1.threat": 0.3,
                                         "real_news_dev.macro_f1_low": 0.35, "real_news_dev.macro_f1_high": 0.55}
    metrics["real_news_dev"] = {"data": "dev.jsonl", "skipped": "file not found"}
    assert "real_news_dev.macro_f1" not in headline_metrics(metrics)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed (extra [mlflow])")
def test_mlflow_store_gets_params_metrics_and_files(tmp_path, monkeypatch):
    from conftest import run_cli

    result = run_cli("train", "data=seed", "model=complement_nb", "tracking=mlflow", f"paths.runs_dir={tmp_path}",
                     f"paths.models_dir={tmp_path / 'models'}", "run_name=tracked")
    assert result.returncode == 0, result.stderr
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads its file store only when asked
    mlflow.set_tracking_uri(f"file:{tmp_path}/mlruns")
    runs = mlflow.search_runs(experiment_names=["rhetoric-pipeline"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["model._target_"] == "sklearn.naive_bayes.ComplementNB"
    assert 0 <= run.data.metrics["macro_f1"] <= 1 and "ece" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"metrics.json", "report.md", "predictions.jsonl", "model"} <= artifacts
