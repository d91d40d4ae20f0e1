"""Same config and seed, same results: in one process, across processes, and in parallel multiruns."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SEED_DATA, train_with

from pipeline import load_model

ARGS = ["data=seed", "features=word_tfidf", "model=sgd", "seed=3"]
SENTENCES = [json.loads(line)["text"] for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
# What may differ between two runs of one config: when and how fast they ran, and where they wrote.
VOLATILE = {"created", "timings", "run_dir", "name", "sha256", "skops_sha256", "sizes"}


def stable_card(folder):
    card = json.loads((folder / "model.json").read_text())
    for key in ("run_name", "paths"):
        card["config"].pop(key)
    return {key: value for key, value in card.items() if key not in VOLATILE}


def assert_same_results(folders, metrics_files):
    texts = [path.read_text() for path in metrics_files]
    assert all(text == texts[0] for text in texts)
    scores = [load_model(folder).predict_proba(SENTENCES) for folder in folders]
    assert all(np.array_equal(s, scores[0]) for s in scores)
    cards = [stable_card(folder) for folder in folders]
    assert all(card == cards[0] for card in cards)


def test_same_config_and_seed_give_identical_metrics_and_predictions(tmp_path):
    train_with(tmp_path, ARGS, run_name="a", run_dir=tmp_path / "a")
    train_with(tmp_path, ARGS, run_name="b", run_dir=tmp_path / "b")
    models = tmp_path / "models"
    assert_same_results([models / "a", models / "b"], [tmp_path / "a" / "metrics.json", tmp_path / "b" / "metrics.json"])


def cli(tmp_path, *args, hash_seed="0", multirun=False):
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.train", *(["--multirun"] if multirun else []), *ARGS,
         f"paths.models_dir={tmp_path / 'models'}", *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONHASHSEED=hash_seed),
    )


@pytest.mark.slow
def test_parallel_processes_never_share_a_name_and_agree(tmp_path):
    """Two runs started together (different hash seeds) get their own folders and equal results."""
    runs = [cli(tmp_path, f"hydra.run.dir={tmp_path / f'run{i}'}", hash_seed=str(i + 1)) for i in range(2)]
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
    folders = [p for p in (tmp_path / "models").iterdir() if p.name != "latest"]
    assert len(folders) == 2
    assert_same_results(folders, [tmp_path / f"run{i}" / "metrics.json" for i in range(2)])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None,
                    reason="hydra-joblib-launcher is not installed")
def test_a_two_job_joblib_multirun_gives_identical_results(tmp_path):
    sweep = tmp_path / "sweep"
    run = cli(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=3,3", "run_name=same",
              f"hydra.sweep.dir={sweep}", multirun=True)
    _, stderr = run.communicate(timeout=600)
    assert run.returncode == 0, stderr
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir()) == ["latest", "same-0", "same-1"]
    assert_same_results([models / "same-0", models / "same-1"], [sweep / "0" / "metrics.json", sweep / "1" / "metrics.json"])
    # ...and the same as one run in this process.
    train_with(tmp_path, ARGS, run_name="here", run_dir=tmp_path / "here")
    assert_same_results([models / "same-0", models / "here"], [sweep / "0" / "metrics.json", tmp_path / "here" / "metrics.json"])
