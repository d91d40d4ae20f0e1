"""Large training runs write model.skops in a helper process (pipeline.skops_writer)."""

import json

import joblib
import numpy as np
import pytest
from conftest import SEED_DATA, train_with

from pipeline import load_model
from pipeline.training import run as train_module
from pipeline.artifacts.folder import sha256_file
from pipeline.artifacts.skops_writer import SkopsWriter
from pipeline.artifacts.trust_store import STORE_ENV
from pipeline.common.errors import PipelineError

SENTENCES = ["We will burn your city.", "The talks ended on Monday.", "Critics call it a disgrace."]


@pytest.fixture
def background(monkeypatch):
    """Every training run, however small, writes model.skops through the helper."""
    monkeypatch.setattr(train_module, "BACKGROUND_SKOPS_SENTENCES", 0)
    started = []
    real = SkopsWriter.__init__

    def counting(self):
        started.append(self)
        real(self)

    monkeypatch.setattr(SkopsWriter, "__init__", counting)
    return started


def holdout_files(tmp_path):
    """The seed sentences as a training file (first article) and a test file (second article)."""
    rows = [json.loads(line) for line in SEED_DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    first = rows[0]["doc_id"]
    files = {}
    for name, keep in (("train", lambda r: r["doc_id"] == first), ("test", lambda r: r["doc_id"] != first)):
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows if keep(r)), encoding="utf-8")
    return [f"data.path={files['train']}", f"data.test_path={files['test']}"]


@pytest.mark.parametrize("protocol", ["cross-validation", "holdout"])
def test_the_helper_writes_a_model_skops_that_loads_with_the_same_scores(tmp_path, background, protocol, monkeypatch):
    data = holdout_files(tmp_path) if protocol == "holdout" else []
    train_with(tmp_path, ["data=seed", *data, "features=word_tfidf", "seed=3"], run_name="bg")
    folder = tmp_path / "models" / "bg"
    assert len(background) == 1 and background[0].process.returncode is not None  # started, and stopped
    card = json.loads((folder / "model.json").read_text())
    assert card["metrics"]["protocol"].startswith("trained on") == (protocol == "holdout")
    assert sha256_file(folder / "model.skops") == card["skops_sha256"]
    assert (folder / "model.skops").stat().st_size == card["sizes"]["skops_bytes"]
    assert not [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]  # no leftovers
    trusted = load_model(folder).predict_proba(SENTENCES)
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "elsewhere" / "trusted.json"))
    received = load_model(folder)
    assert received.loaded_with == "skops"
    assert np.array_equal(received.predict_proba(SENTENCES), trusted)


def test_the_helper_writes_model_joblib_as_the_run_would_have(tmp_path, background, monkeypatch):
    dumped_here = []
    real_dump = joblib.dump
    monkeypatch.setattr(joblib, "dump", lambda value, target, *a, **k: dumped_here.append(target)
                        or real_dump(value, target, *a, **k))
    train_with(tmp_path, ["data=seed", "features=word_char_tfidf", "seed=3"], run_name="bg")
    assert not dumped_here  # the training process did not pickle the model itself
    monkeypatch.setattr(train_module, "BACKGROUND_SKOPS_SENTENCES", 10**9)
    train_with(tmp_path, ["data=seed", "features=word_char_tfidf", "seed=3"], run_name="here")
    assert len(background) == 1 and len(dumped_here) == 1  # only the first run had a helper
    bg, here = tmp_path / "models" / "bg", tmp_path / "models" / "here"
    card = json.loads((bg / "model.json").read_text())
    assert card["sha256"] == sha256_file(bg / "model.joblib")
    assert card["sizes"]["model_bytes"] == (bg / "model.joblib").stat().st_size
    from_helper, in_process = joblib.load(bg / "model.joblib"), joblib.load(here / "model.joblib")
    for name, vectorizer in from_helper[0].transformer_list:
        assert type(vectorizer.vocabulary_) is dict
        assert vectorizer.vocabulary_ == dict(in_process[0].transformer_list)[name].vocabulary_
    texts = SENTENCES + [json.loads(row)["text"] for row in SEED_DATA.read_text(encoding="utf-8").splitlines()[:40]]
    assert np.array_equal(from_helper.predict_proba(texts), in_process.predict_proba(texts))
    assert load_model(bg).loaded_with == "joblib"  # recorded as trusted, like any trained model


def test_small_runs_write_model_skops_in_process(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(SkopsWriter, "__init__", lambda self: started.append(self))
    train_with(tmp_path, ["data=seed", "features=word_tfidf"], run_name="small")
    assert not started and (tmp_path / "models" / "small" / "model.skops").is_file()


def test_a_failing_helper_is_one_error_and_leaves_nothing(tmp_path, background, monkeypatch):
    monkeypatch.setattr(SkopsWriter, "submit", lambda self, estimator, target, *_: setattr(self, "target", target)
                        or self.process.stdin.close())  # the helper gets no model and stops
    with pytest.raises(PipelineError, match=r"\.tmp-.*model\.skops: the skops writer stopped"):
        train_with(tmp_path, ["data=seed", "features=word_tfidf"], run_name="broken")
    models = tmp_path / "models"
    assert not (models / "broken").exists() and not [p for p in models.iterdir() if p.name.startswith(".tmp-")]
    assert background[0].process.returncode is not None


def test_the_helper_reports_a_model_it_cannot_write(tmp_path):
    with SkopsWriter() as writer:
        writer.submit(object(), tmp_path / "missing-folder" / "model.skops")
        with pytest.raises(PipelineError, match="cannot write model.skops .*FileNotFoundError"):
            writer.result()
    assert writer.process.returncode is not None


def test_saving_and_loading_through_skops_import_neither_torch_nor_dask(tmp_path):
    """skops walks every scikit-learn package; its torch and dask shims cost 5 s a run, for nothing."""
    import subprocess
    import sys

    from conftest import ROOT

    code = f"""
import sys
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from pipeline.artifacts.folder import save_model
from pipeline.artifacts.trust_store import STORE_ENV
import os
os.environ[STORE_ENV] = {str(tmp_path / "store.json")!r}
from pipeline import load_model
model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(["we will burn it", "talks ended"], ["threat", "reporting"])
folder = save_model(model, {{"input": "text"}}, {str(tmp_path / "models")!r}, "m")
os.environ[STORE_ENV] = {str(tmp_path / "empty.json")!r}
loaded = load_model(folder)
assert loaded.loaded_with == "skops", loaded.loaded_with
print(sorted(name for name in ("torch", "dask") if name in sys.modules))
import sklearn.externals.array_api_compat.torch  # importable again afterwards
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "True"]
