"""Saved files are whole or absent: models, models/latest and the evaluation files."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, train_with

from pipeline import load_model
from pipeline.artifacts.folder import save_model, sha256_file
from pipeline.artifacts.names import LATEST
from pipeline.common import atomic
from pipeline.common.errors import PipelineError
from pipeline.evaluation.metrics import compute_metrics
from pipeline.reports.files import write_reports


def model_folders(models: Path) -> list[Path]:
    return sorted(p for p in models.iterdir() if not p.name.startswith(".") and p.name != LATEST)


def assert_every_model_complete(models: Path) -> None:
    """Each visible folder is a whole model, and latest names one of them."""
    for folder in model_folders(models):
        card = json.loads((folder / "model.json").read_text())
        assert card["name"] == folder.name
        assert sha256_file(folder / "model.skops") == card["skops_sha256"]
        assert load_model(folder).loaded_with == "joblib"
    latest = models / LATEST
    assert latest.is_symlink() and latest.resolve() in [f.resolve() for f in model_folders(models)]


@pytest.fixture
def estimator_and_card(trained_model):
    return load_model(trained_model).estimator, json.loads((trained_model / "model.json").read_text())


SAVE_FOREVER = """
import json, sys
import joblib
from pipeline.artifacts.folder import save_model
model, models, prefix = sys.argv[1:]
estimator = joblib.load(model + "/model.joblib")
card = json.load(open(model + "/model.json"))
print("ready", flush=True)
for i in range(10**6):
    save_model(estimator, card, models, f"{prefix}-{i}")
"""


@pytest.mark.slow
def test_killing_a_saving_process_at_any_moment_leaves_whole_models(tmp_path, trained_model):
    models = tmp_path / "models"
    train_with(tmp_path, ["data=seed"], run_name="first")
    killed_mid_save = []
    for round_, delay in enumerate([0.0, 0.03, 0.1, 0.3, 0.6, 1.1]):
        worker = subprocess.Popen(
            [sys.executable, "-c", SAVE_FOREVER, str(trained_model), str(models), f"r{round_}"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        assert worker.stdout.readline().strip() == "ready"
        time.sleep(delay)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker.stdout.close()
        killed_mid_save.append(any(p.name.startswith(".tmp-") for p in models.iterdir()))
        assert_every_model_complete(models)
    assert (models / "first").is_dir()
    assert any(killed_mid_save), "no kill landed inside a save; the test proved nothing"


@pytest.mark.slow
def test_sigkill_of_a_training_run_while_it_saves(tmp_path):
    models = tmp_path / "models"
    train_with(tmp_path, ["data=seed"], run_name="first")
    run = subprocess.Popen(
        [sys.executable, "-m", "pipeline.train", "data=seed", f"paths.models_dir={models}",
         f"hydra.run.dir={tmp_path / 'run2'}", "run_name=second"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not any(p.name.startswith(".tmp-") for p in models.iterdir()):
        assert run.poll() is None and time.monotonic() < deadline, "the run ended before it saved"
        time.sleep(0.002)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert_every_model_complete(models)
    assert (models / LATEST).resolve() in {(models / "first").resolve(), (models / "second").resolve()}
    # The next save clears the dead run's temporary folder.
    train_with(tmp_path, ["data=seed"], run_name="third")
    assert not [p for p in models.iterdir() if p.name.startswith(".")]
    assert (models / LATEST).resolve() == (models / "third").resolve()


def test_parallel_saves_under_one_name_never_collide(tmp_path, estimator_and_card):
    estimator, card = estimator_and_card
    models = tmp_path / "models"
    saved, errors = [], []

    def save(unique):
        try:
            saved.append(save_model(estimator, card, models, "same", unique=unique, skops=False))
        except PipelineError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=save, args=(True,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len({p.name for p in saved}) == 4
    assert models / "same" in saved
    for folder in saved:
        assert json.loads((folder / "model.json").read_text())["name"] == folder.name

    before = (models / "same" / "model.joblib").read_bytes()
    threads = [threading.Thread(target=save, args=(False,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 3 and all("model folder already exists" in e for e in errors)
    assert (models / "same" / "model.joblib").read_bytes() == before


def test_a_run_name_that_exists_fails_before_training(tmp_path):
    (tmp_path / "models" / "taken").mkdir(parents=True)
    with pytest.raises(PipelineError, match="model folder already exists"):  # not "file not found"
        train_with(tmp_path, ["data=seed", "data.path=/no/such/file.jsonl"], run_name="taken")
    assert not (tmp_path / "run").exists()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.replacing(target) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_reports_replace_old_ones_whole(tmp_path):
    metrics = compute_metrics(["threat", "reporting"], ["threat", "threat"], ["threat", "reporting"], ["a", "b"])
    write_reports(metrics, tmp_path, "First")
    metrics["macro_f1"] = 0.25
    write_reports(metrics, tmp_path, "Second")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion_matrix.png", "metrics.json", "report.html", "report.md"]
    assert json.loads((tmp_path / "metrics.json").read_text())["macro_f1"] == 0.25
    assert (tmp_path / "report.md").read_text().startswith("# Second")
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_temporaries_of_live_processes_are_left_alone(tmp_path, estimator_and_card):
    from pipeline.artifacts.folder import _owner_tag, remove_dead_temporaries

    models = tmp_path / "models"
    models.mkdir()
    host = _owner_tag().split("@")[1]
    live = models / f".tmp-{os.getpid()}@{host}-abcdef-live"
    dead = models / f".tmp-{2**22 + 12345}@{host}-abcdef-dead"  # above Linux's default pid_max
    other_host = models / f".tmp-{2**22 + 12345}@elsewhere-abcdef-remote"
    for folder in (live, dead, other_host):
        folder.mkdir()
    remove_dead_temporaries(models)
    assert live.exists() and other_host.exists() and not dead.exists()
