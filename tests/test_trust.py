"""What loading a model trusts: the local trust store, model.skops, and crafted files."""

import hashlib
import io
import json
import pickle
import shutil
import subprocess
import sys
import threading
import warnings
import zipfile

import numpy as np
import pytest
from conftest import ROOT, SEED_DATA, run_cli, train_with

from pipeline import load_model
from pipeline.artifacts.folder import save_model
from pipeline.artifacts.loading import trusted_type
from pipeline.artifacts.trust_store import STORE_ENV, record, store_path, trusted_models
from pipeline.common.errors import PipelineError, PipelineWarning

SENTENCES = ["We will burn your city.", "The talks ended on Monday.", "Critics call it a disgrace."]


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    """A machine that has never seen the models of the test session."""
    store = tmp_path / "other-machine" / "trusted.json"
    monkeypatch.setenv(STORE_ENV, str(store))
    return store


def copy_model(trained_model, tmp_path, name="received"):
    return shutil.copytree(trained_model, tmp_path / name)


def test_a_model_trained_here_is_recorded_and_loads_with_joblib(tmp_path):
    train_with(tmp_path, ["data=seed", "features=char_tfidf", "seed=11"], run_name="here")
    folder = tmp_path / "models" / "here"
    card = json.loads((folder / "model.json").read_text())
    entry = trusted_models()[card["sha256"]]
    assert entry["how"] == "trained" and entry["path"] == str(folder.resolve())
    assert not store_path().is_relative_to(tmp_path)  # outside every model folder
    assert load_model(folder).loaded_with == "joblib"


def test_a_received_model_loads_from_skops_with_the_same_scores(trained_model, tmp_path, empty_store):
    expected = load_model(trained_model, trust=True).predict_proba(SENTENCES)
    received = load_model(copy_model(trained_model, tmp_path))
    assert received.loaded_with == "skops"
    assert np.array_equal(received.predict_proba(SENTENCES), expected)


def test_a_received_model_without_skops_is_refused_unless_trusted(trained_model, tmp_path, empty_store):
    folder = copy_model(trained_model, tmp_path)
    (folder / "model.skops").unlink()
    with pytest.raises(PipelineError, match=r"not trusted on this machine .* run `python -m pipeline.trust "):
        load_model(folder)
    assert load_model(folder, trust=True).loaded_with == "joblib"
    assert not empty_store.exists()  # trusting once records nothing


def test_a_changed_skops_file_is_refused(trained_model, tmp_path, empty_store):
    folder = copy_model(trained_model, tmp_path)
    (folder / "model.skops").write_bytes((folder / "model.skops").read_bytes() + b"x")
    with pytest.raises(PipelineError, match="model.skops: sha256 does not match model.json"):
        load_model(folder)


def test_vouching_for_a_model_with_the_trust_command(trained_model, tmp_path, empty_store):
    folder = copy_model(trained_model, tmp_path)
    env = {STORE_ENV: str(empty_store)}
    result = run_cli("trust", folder, env=env)
    assert result.returncode == 0, result.stderr
    card = json.loads((folder / "model.json").read_text())
    assert card["name"] in result.stdout and f"trusted: {card['sha256']}" in result.stdout
    assert load_model(folder).loaded_with == "joblib"
    listed = run_cli("trust", "--list", env=env)
    assert card["sha256"] in listed.stdout and "vouched" in listed.stdout
    assert run_cli("trust", "--remove", folder, env=env).returncode == 0
    assert load_model(folder).loaded_with == "skops"


def test_trust_can_be_taken_back_from_a_changed_or_deleted_folder(trained_model, tmp_path, empty_store):
    env = {STORE_ENV: str(empty_store)}
    changed, gone, by_hash = (copy_model(trained_model, tmp_path, name) for name in ("changed", "gone", "by-hash"))
    sha256 = json.loads((changed / "model.json").read_text())["sha256"]
    for folder in (changed, gone, by_hash):
        assert run_cli("trust", folder, env=env).returncode == 0
        assert trusted_models()[sha256]["path"] == str(folder.resolve())
        if folder is changed:  # said "sha256 does not match model.json; refusing to load it" and kept the entry
            (folder / "model.joblib").write_bytes(b"changed")
        elif folder is gone:  # said "model folder not found" and kept the entry
            shutil.rmtree(folder)
        else:  # the sha256 that --list shows
            folder = sha256
        result = run_cli("trust", "--remove", folder, env=env)
        assert result.returncode == 0 and result.stdout == f"no longer trusted: {folder}\n", result.stderr
        assert trusted_models() == {}
    again = run_cli("trust", "--remove", gone, env=env)
    assert again.returncode == 2
    assert again.stderr == f"error: model folder not found: {gone} (nor is a model recorded there: see --list)\n"


def test_trust_says_what_it_cannot_do(trained_model, tmp_path, empty_store):
    env = {STORE_ENV: str(empty_store)}
    listed = run_cli("trust", "--list", env=env)  # printed nothing
    assert listed.returncode == 0 and listed.stdout == "" and f"no trusted models in {empty_store}" in listed.stderr
    both = run_cli("trust", trained_model, "--list", env=env)  # listed, and trusted nothing in silence
    assert both.returncode == 2 and "--list takes no model folders" in both.stderr
    a_file = run_cli("trust", trained_model / "model.json", env=env)  # said "model folder not found"
    assert a_file.returncode == 2 and "model.json is a file, not a model folder" in a_file.stderr
    folder = copy_model(trained_model, tmp_path)
    one_bad = run_cli("trust", folder, tmp_path / "missing", env=env)  # trusted the first, then stopped
    assert one_bad.returncode == 2 and one_bad.stdout == "" and "missing" in one_bad.stderr
    assert load_model(folder).loaded_with == "skops"


class _CreatesFile:
    """Unpickling this creates `path`: stands for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _crafted_skops(marker) -> bytes:
    """A skops file whose single object is `open(marker, "w")`."""
    def text(value, node_id):
        return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                "content": json.dumps(value), "is_json": True, "__id__": node_id}

    schema = {"__class__": "open", "__module__": "builtins", "__loader__": "ConstructorFromReduceNode",
              "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                          "content": [text(str(marker), 1), text("w", 2)], "__id__": 3},
              "__id__": 4, "protocol": 2, "_skops_version": "0.16.0"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return buffer.getvalue()


@pytest.mark.parametrize("skops_file", ["none", "genuine", "crafted"])
def test_a_crafted_pickle_with_a_forged_card_is_never_executed(trained_model, tmp_path, skops_file):
    marker = tmp_path / "pwned"
    folder = tmp_path / "evil"
    folder.mkdir()
    payload = pickle.dumps(_CreatesFile(marker))
    (folder / "model.joblib").write_bytes(payload)
    card = json.loads((trained_model / "model.json").read_text())
    card["sha256"] = hashlib.sha256(payload).hexdigest()  # forged, and correct
    if skops_file == "genuine":
        shutil.copy(trained_model / "model.skops", folder / "model.skops")
    elif skops_file == "crafted":
        (folder / "model.skops").write_bytes(_crafted_skops(marker))
        card["skops_sha256"] = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(card))

    if skops_file == "genuine":
        assert load_model(folder).loaded_with == "skops"  # the pickle beside it is never opened
    else:
        expected = "not trusted on this machine" if skops_file == "none" else "types that are not trusted: builtins.open"
        with pytest.raises(PipelineError, match=expected):
            load_model(folder)
    results = [run_cli("score", "--model", folder, "--text", "We will come.")]
    if skops_file == "none":
        results.append(run_cli("evaluate", f"model_dir={folder}", f"data.path={SEED_DATA}",
                               f"hydra.run.dir={tmp_path / 'run'}"))
    for result in results:
        assert result.returncode == (0 if skops_file == "genuine" else 2), result.stderr
        assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_trusted_types_are_estimators_of_scikit_learn_and_this_project():
    assert trusted_type("sklearn.linear_model._logistic.LogisticRegression")
    assert trusted_type("sklearn.feature_extraction.text.TfidfVectorizer")
    for name in ("builtins.open", "os.system", "numpy.memmap", "subprocess.Popen", "sklearn.utils.deprecated",
                 "sklearn.base.clone", "sklearn.no_such_module.Thing", "pipeline.artifacts.loading.load_model",
                 "pipeline.common.errors.PipelineError", "sklearn.linear_model.LogisticRegression.__init__"):
        assert not trusted_type(name), name


def test_a_model_from_another_scikit_learn_version_warns_naming_both(trained_model, tmp_path, monkeypatch):
    import sklearn
    import sklearn.base

    estimator = load_model(trained_model).estimator
    card = json.loads((trained_model / "model.json").read_text())
    card["versions"]["scikit-learn"] = "1.0.2"
    monkeypatch.setattr(sklearn.base, "__version__", "1.0.2")  # what pickles record
    folder = save_model(estimator, card, tmp_path / "models", "old", skops=False)
    monkeypatch.undo()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(folder)
    assert [str(w.message) for w in caught] == [
        f"{folder}: saved with scikit-learn 1.0.2, running scikit-learn {sklearn.__version__}; its scores may differ"
    ]
    assert caught[0].category is PipelineWarning
    assert model.predict_proba(SENTENCES).shape == (3, 4)

    result = run_cli("score", "--model", folder, "--text", "We will come.")
    assert result.returncode == 0
    assert result.stderr.splitlines() == [f"warning: {caught[0].message}"]


def test_parallel_records_lose_no_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "store.json"))
    shas = [f"{i:064x}" for i in range(24)]
    threads = [threading.Thread(target=record, args=(sha, tmp_path, "trained")) for sha in shas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(trusted_models()) == set(shas)


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe{}", b'{"models": {"ab12": 5}}'])
def test_a_damaged_trust_store_is_named(tmp_path, monkeypatch, trained_model, content):
    store = tmp_path / "store.json"
    store.write_bytes(content)
    monkeypatch.setenv(STORE_ENV, str(store))
    with pytest.raises(PipelineError, match=f"trust store {store}: not a trust store file"):
        load_model(trained_model)
    for args in (["--list"], [trained_model], ["--remove", trained_model]):  # were tracebacks but for the first
        result = run_cli("trust", *args, env={STORE_ENV: str(store)})
        assert result.returncode == 2 and result.stderr.startswith(f"error: trust store {store}: not a trust store")
    assert store.read_bytes() == content


def test_default_store_is_under_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv(STORE_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert store_path() == tmp_path / "rhetoric-pipeline" / "trusted.json"


def test_loading_a_trusted_model_does_not_import_skops(trained_model):
    code = (
        "import sys; from pipeline import load_model; "
        f"load_model({str(trained_model)!r}).predict_proba(['We will come.']); "
        "print('skops' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr


def test_a_failed_save_keeps_the_trust_of_the_same_bytes_saved_at_once(trained_model, tmp_path, empty_store,
                                                                        monkeypatch):
    """Runs with the same config and seed save identical model files at the same time: one stopped
    halfway must not take back the trust of another that finished, nor keep trust for itself."""
    import os

    model = load_model(trained_model, trust=True)
    models, real_rename = tmp_path / "models", os.rename

    def second_save_finishes_first(src, dst):
        if os.path.basename(dst) == "first":  # the first save has claimed its trust by now
            monkeypatch.setattr(os, "rename", real_rename)
            save_model(model.estimator, model.card, models, "second", skops=False)
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", second_save_finishes_first)
    with pytest.raises(KeyboardInterrupt):
        save_model(model.estimator, model.card, models, "first", skops=False)
    assert not (models / "first").exists()
    assert load_model(models / "second").loaded_with == "joblib"
    (entry,) = trusted_models().values()
    assert entry == {"path": str((models / "second").resolve()), "how": "trained", "added": entry["added"]}

    def stopped_before_its_folder_is_visible(src, dst):
        raise KeyboardInterrupt

    model.estimator.set_params(clf__C=0.321)  # other bytes: nobody else needs their trust
    monkeypatch.setattr(os, "rename", stopped_before_its_folder_is_visible)
    with pytest.raises(KeyboardInterrupt):
        save_model(model.estimator, model.card, models, "third", skops=False)
    assert list(trusted_models().values()) == [entry]
