"""Writers at the same moment: trainings saving models while `pipeline.trust` updates the store
never corrupt the trust store or models/latest, and a second run scoring to the same -o file is
refused while the first one writes it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli, write_jsonl
from faults import hidden_leftovers, stderr_lines, visible_models

from pipeline import load_model
from pipeline.artifacts.names import LATEST
from pipeline.artifacts.trust_store import trusted_models

pytestmark = pytest.mark.slow

START = """
import sys, time
from pathlib import Path
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
"""
TRAIN = START + """
import json, joblib
from pipeline.artifacts.folder import save_model
model, models, prefix = sys.argv[2:5]
estimator = joblib.load(model + "/model.joblib")
card = json.load(open(model + "/model.json"))
for i in range(6):
    estimator.set_params(clf__C=1.0 + i / 10 + (0.01 if prefix == "b" else 0))  # each save other bytes
    save_model(estimator, card, models, f"{prefix}-{i}", skops=False)
"""
VOUCH = START + """
from pipeline.artifacts.trust_store import forget, record
folder, prefix = sys.argv[2:4]
for i in range(40):
    record(f"{prefix}{i:063d}", Path(folder), "vouched")
    if i % 2:
        forget(f"{prefix}{i:063d}")
"""
READ = START + """
import json
from pipeline import load_model
from pipeline.artifacts.trust_store import store_path
models = Path(sys.argv[2])
reads = 0
while not Path(sys.argv[3]).exists():
    text = store_path().read_text() if store_path().exists() else "{}"
    json.loads(text)  # never half-written
    if (models / "latest").exists():
        load_model(models / "latest")  # never a half-saved model
    reads += 1
print(reads)
"""


def test_trainings_and_trust_updates_at_once_keep_the_store_and_latest_whole(tmp_path, trained_model, monkeypatch):
    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "store" / "trusted.json"))
    models, go, done = tmp_path / "models", tmp_path / "go", tmp_path / "done"
    received = tmp_path / "received"
    subprocess.run(["cp", "-r", str(trained_model), str(received)], check=True)

    def python(code, *args):
        return subprocess.Popen([sys.executable, "-c", code, str(go), *map(str, args)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    writers = [python(TRAIN, trained_model, models, "a"), python(TRAIN, trained_model, models, "b"),
               python(VOUCH, received, "c"), python(VOUCH, received, "d")]
    reader = python(READ, models, done)
    time.sleep(3)  # let every process import and wait at the start line
    go.touch()
    command = run_cli("trust", received)  # the command itself, at the same time
    for process in writers:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    done.touch()
    reads, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    assert int(reads) > 0 and command.returncode == 0, command.stderr

    store = trusted_models()
    saved = visible_models(models)
    assert len(saved) == 12 and hidden_leftovers(models) == []
    for folder in saved:  # every trained model recorded, none lost to a concurrent write
        assert json.loads((folder / "model.json").read_text())["sha256"] in store
    vouched = {f"{p}{i:063d}" for p in "cd" for i in range(0, 40, 2)}
    assert vouched <= set(store) and not {f"{p}{i:063d}" for p in "cd" for i in range(1, 40, 2)} & set(store)
    assert json.loads((received / "model.json").read_text())["sha256"] in store
    assert (models / LATEST).resolve() in [f.resolve() for f in saved]
    assert load_model(models / LATEST).loaded_with == "joblib"


def test_a_second_run_scoring_to_the_same_output_is_refused(tmp_path, text_model):
    count = 150_000  # long enough to still run while the second and third runs try
    source = write_jsonl(tmp_path / "in.jsonl", ({"doc_id": f"d{i // 20}", "text": f"The talks went on, day {i}."}
                                                  for i in range(count)))
    out = tmp_path / "scores.jsonl"
    progress = tmp_path / f".{out.name}.partial" / "progress.json"
    first = subprocess.Popen([sys.executable, "-m", "pipeline.score", "--model", str(text_model), str(source),
                              "-o", str(out), "--batch-size", "500"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (progress.exists() and json.loads(progress.read_text())["items"] > 0):
        assert first.poll() is None and time.monotonic() < deadline, "the first run ended too soon"
        time.sleep(0.02)

    # Paused (it keeps its lock) while the others try: on busy cores it could otherwise finish first.
    os.kill(first.pid, signal.SIGSTOP)
    try:
        for extra in ([], ["--resume"]):
            second = run_cli("score", "--model", text_model, source, "-o", out, *extra)
            assert second.returncode == 2
            assert stderr_lines(second.stderr) == [
                f"error: {out}: another run is writing it (its folder {progress.parent} is locked); "
                "wait for that run, or stop it and pass --resume"]
        assert first.poll() is None, "the first run ended before the others tried: the test proved nothing"
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == [f"The talks went on, day {i}." for i in range(count)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.jsonl", "scores.jsonl"])
