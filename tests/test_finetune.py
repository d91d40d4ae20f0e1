"""model=minilm_finetune: a fine-tuned encoder that trains, saves its network as checked data
files, loads without running code, and scores through ONNX Runtime or torch.

Tiny settings throughout (1 epoch, 40 sentences, 32 tokens): these test the machinery, not the
quality; bench/encoder.py measures speed.
"""

import json
import shutil

import pytest
from conftest import ROOT, compose, needs_embeddings, run_cli, train_with, write_jsonl

from pipeline.common.errors import PipelineError

pytestmark = needs_embeddings
TINY = ["model=minilm_finetune", "model.epochs=1", "model.max_length=32", "model.batch_size=8"]
SENTENCES = ["We will burn your city to the ground.", "The talks ended on Monday.",
             "The treaty was signed in 1994.", "It is a cynical ploy, plainly."]


def written_documents() -> dict[str, list[dict]]:
    documents: dict[str, list[dict]] = {}
    for file in sorted((ROOT / "data" / "written").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            documents.setdefault(record["doc_id"], []).append(record)
    return documents


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """40 training sentences from four written articles, 16 test sentences from two others."""
    folder = tmp_path_factory.mktemp("finetune-data")
    documents = written_documents()
    train = [r for doc in ("wf01", "wf02", "wf03", "wf04") for r in documents[doc][:10]]
    test = [r for doc in ("wf05", "wf06") for r in documents[doc][:8]]
    return write_jsonl(folder / "train.jsonl", train), write_jsonl(folder / "test.jsonl", test)


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory, tiny_data):
    """Two-fold grouped cross-validation, then the final fit, saved with an fp32 ONNX graph."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("finetune-cv")
    train, _ = tiny_data
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        metrics = train_with(tmp, [*TINY, f"data.path={train}", "split.n_splits=2"], run_name="ft")
    return tmp / "models" / "ft", metrics, stderr.getvalue()


def test_grouped_cv_fine_tunes_each_fold_and_says_the_cost_first(cv_run):
    folder, metrics, stderr = cv_run
    assert len(metrics["folds"]) == 2
    assert "fine-tuning cost: 2 folds x 1 epochs x ~" in stderr and "then fits on all 40 sentences" in stderr
    card = json.loads((folder / "model.json").read_text())
    assert card["input"] == "text" and card["config"]["features"]["_target_"].endswith("FunctionTransformer")
    assert [epoch["epoch"] for epoch in card["fit_history"]] == [1] and card["fit_history"][0]["loss"] > 0


def test_the_network_is_saved_as_data_files_listed_with_their_sha256(cv_run):
    import hashlib

    folder, _, _ = cv_run
    card = json.loads((folder / "model.json").read_text())
    files = card["weights"]["encoder"]
    assert set(files) == {"encoder.safetensors", "encoder.config.json", "encoder.tokenizer.json", "encoder.onnx"}
    for name, digest in files.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    # The estimator files hold settings and labels, never the 90 MB of weights.
    assert (folder / "model.joblib").stat().st_size < 100_000
    assert (folder / "model.skops").stat().st_size < 100_000
    assert card["sizes"]["weights_bytes"] > 50_000_000


def test_trusted_and_untrusted_loads_score_identically(cv_run, monkeypatch):
    import numpy as np

    from pipeline.artifacts import trust_store
    from pipeline.artifacts.loading import load_model

    folder, _, _ = cv_run
    trusted = load_model(folder)
    assert trusted.loaded_with == "joblib" and trusted.estimator[-1].runtime == "onnxruntime"
    monkeypatch.setattr(trust_store, "is_trusted", lambda sha256: False)
    foreign = load_model(folder)  # a model from elsewhere: skops for the estimator, data for the network
    assert foreign.loaded_with == "skops"
    first, second = trusted.predict_proba(SENTENCES), foreign.predict_proba(SENTENCES)
    assert first.shape == (4, 4) and np.allclose(first.sum(axis=1), 1)
    assert np.array_equal(first, second)


def test_onnx_and_the_torch_fallback_agree(cv_run, monkeypatch):
    import numpy as np

    from pipeline.artifacts.loading import load_model
    from pipeline.models import encoder_runtime

    folder, _, _ = cv_run
    onnx = load_model(folder).predict_proba(SENTENCES)
    monkeypatch.setattr(encoder_runtime, "onnxruntime_available", lambda: False)
    fallback = load_model(folder)
    assert fallback.estimator[-1].runtime == "torch"
    scores = fallback.predict_proba(SENTENCES)
    assert np.abs(scores - onnx).max() < 1e-4
    assert (scores.argmax(axis=1) == onnx.argmax(axis=1)).all()


def test_the_onnx_export_logs_nothing_below_errors(tmp_path, caplog):
    import torch

    from pipeline.models import encoder_runtime as rt

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2)

        def forward(self, input_ids, attention_mask):
            mask = attention_mask.unsqueeze(-1).float()
            return self.head((self.embed(input_ids) * mask).sum(dim=1) / mask.sum(dim=1))

    with caplog.at_level("INFO"):
        rt.export_onnx(Tiny(), tmp_path / "tiny.onnx")
    assert (tmp_path / "tiny.onnx").is_file()
    assert [record.name for record in caplog.records if record.levelno < 40] == []  # onnxscript, onnx_ir: INFO


def test_a_loaded_model_scores_on_every_core_whatever_threads_it_fine_tuned_with(cv_run, monkeypatch):
    from pipeline.artifacts.loading import load_model
    from pipeline.models import encoder_runtime

    folder, _, _ = cv_run
    asked = []
    onnx_runner = encoder_runtime.onnx_runner
    monkeypatch.setattr(encoder_runtime, "onnx_runner",
                        lambda model, threads=None: asked.append(threads) or onnx_runner(model, threads))
    model = load_model(folder)
    model.estimator[-1].set_params(threads=1)  # as a model.threads=1 run (a busy training machine) saves it
    model.predict_proba(SENTENCES)
    assert asked == [None]  # ONNX Runtime's default: every core


@pytest.mark.parametrize("victim", ["encoder.safetensors", "encoder.onnx", "encoder.tokenizer.json"])
def test_changed_weight_files_are_refused(cv_run, tmp_path, victim):
    from pipeline.artifacts.loading import load_model

    folder, _, _ = cv_run
    copy = shutil.copytree(folder, tmp_path / "copy")
    data = bytearray((copy / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / victim).write_bytes(bytes(data))
    with pytest.raises(PipelineError, match=rf"{victim}: sha256 does not match model.json; refusing to load it"):
        load_model(copy)


@pytest.mark.parametrize("listed", ["model.pt", "../encoder.onnx", "weights.bin"])
def test_weight_files_that_are_not_data_are_refused(cv_run, tmp_path, listed):
    from pipeline.artifacts.loading import load_model

    folder, _, _ = cv_run
    copy = shutil.copytree(folder, tmp_path / "copy")
    card = json.loads((copy / "model.json").read_text())
    card["weights"]["encoder"][listed] = "0" * 64
    (copy / "model.json").write_text(json.dumps(card))
    with pytest.raises(PipelineError, match="refusing weight file"):
        load_model(copy)


def test_a_missing_weight_file_is_named(cv_run, tmp_path):
    from pipeline.artifacts.loading import load_model

    folder, _, _ = cv_run
    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / "encoder.onnx").unlink()
    with pytest.raises(PipelineError, match=r"encoder.onnx: missing from the model folder"):
        load_model(copy)


def broken_copy(folder, tmp_path, victim: str):
    """A copy of the model folder whose `victim` file is no such file, yet listed with its sha256 (as
    when it broke where the model was made)."""
    import hashlib

    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / victim).write_bytes(b"not a graph")
    card = json.loads((copy / "model.json").read_text())
    card["weights"]["encoder"][victim] = hashlib.sha256(b"not a graph").hexdigest()
    (copy / "model.json").write_text(json.dumps(card))
    return copy


def test_a_graph_onnx_runtime_cannot_read_is_one_error_line_on_one_process_or_two(cv_run, tmp_path):
    copy = broken_copy(cv_run[0], tmp_path, "encoder.onnx")
    records = write_jsonl(tmp_path / "in.jsonl", [{"doc_id": "a", "text": text} for text in SENTENCES])
    for engine in ([], ["--jobs", "2"]):  # the session is made by the process that scores, never before a fork
        result = run_cli("score", "--model", copy, records, "-o", tmp_path / "out.jsonl", *engine)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith("error: encoder.onnx: ONNX Runtime cannot read the graph (InvalidProtobuf: ")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "in.jsonl"]


def test_a_tokenizer_file_that_cannot_be_read_is_refused_on_loading(cv_run, tmp_path):
    from pipeline.artifacts.loading import load_model

    copy = broken_copy(cv_run[0], tmp_path, "encoder.tokenizer.json")
    with pytest.raises(PipelineError, match=r"copy: cannot load the weights of encoder \(Exception: "):
        load_model(copy)


def test_serve_refuses_to_start_on_a_graph_it_cannot_run(cv_run, tmp_path, monkeypatch, capsys):
    """It started, and answered every request with a 500."""
    import uvicorn

    from pipeline.serve import main as serve

    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: pytest.fail("served a model that cannot score"))
    with pytest.raises(SystemExit) as stopped:
        serve(["--model", str(broken_copy(cv_run[0], tmp_path, "encoder.onnx")), "--port", str(port)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("error: encoder.onnx: ONNX Runtime cannot read the graph")


def test_score_reads_text_and_records_and_runs_on_two_processes(cv_run, tmp_path):
    folder, _, _ = cv_run
    one = run_cli("score", "--model", folder, "--text", SENTENCES[0], "--format", "jsonl")
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["label"] in {"threat", "reporting", "editorial_framing", "background_fact"}
    records = write_jsonl(tmp_path / "in.jsonl", [{"doc_id": "a", "sentence_index": i, "text": t}
                                                  for i, t in enumerate(SENTENCES * 5)])
    single = run_cli("score", "--model", folder, records, "-o", tmp_path / "one.jsonl")
    double = run_cli("score", "--model", folder, records, "-o", tmp_path / "two.jsonl", "--jobs", "2")
    assert single.returncode == 0 and double.returncode == 0, single.stderr + double.stderr
    rows = [json.loads(line) for line in (tmp_path / "one.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and rows[4]["label"] == rows[0]["label"]
    same = [json.loads(line) for line in (tmp_path / "two.jsonl").read_text().splitlines()]
    assert [r["label"] for r in same] == [r["label"] for r in rows]
    assert max(abs(a["scores"][k] - b["scores"][k]) for a, b in zip(rows, same) for k in a["scores"]) < 1e-5


def test_explanations_fall_back_to_token_occlusion(cv_run, tmp_path):
    from pipeline.artifacts.loading import load_model
    from pipeline.reports.explain import OcclusionExplainer, explainer_for

    folder, _, _ = cv_run
    model = load_model(folder)
    explainer = explainer_for(model.estimator)
    assert isinstance(explainer, OcclusionExplainer)
    records = explainer.explain_records(model.predict_sentences(SENTENCES))
    words = set(SENTENCES[0].replace(".", "").split())
    assert all(entry["term"] in words for entry in records[0]["explanation"])
    assert all(entry["weight"] > 0 for r in records for entry in r["explanation"])
    page = run_cli("score", "--model", folder, ROOT / "seeds", "--format", "html", "-o", tmp_path / "r.html")
    assert page.returncode == 0, page.stderr
    assert "token occlusion" in (tmp_path / "r.html").read_text()


def test_the_training_report_says_how_sentences_are_explained(cv_run):
    folder, _, _ = cv_run
    card = json.loads((folder / "model.json").read_text())
    from pathlib import Path

    html = (Path(card["run_dir"]) / "report.html").read_text()
    assert "MiniLMFineTuneClassifier has no per-feature weights" in html and "token occlusion" in html


def test_serve_scores_and_explains(cv_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from pipeline.artifacts.loading import load_model
    from pipeline.service.app import create_app

    client = TestClient(create_app(load_model(cv_run[0])))
    assert client.get("/health").json()["explainable"] is True
    answer = client.post("/score", json={"sentences": SENTENCES[:2], "explain": True})
    assert answer.status_code == 200
    assert len(answer.json()) == 2 and "explanation" in answer.json()[0]


def test_a_lone_surrogate_is_scored_as_the_replacement_character_not_a_500(cv_run):
    """The tokenizer takes no lone surrogate (a request's \\ud800 escape): it reads U+FFFD, as score's files do."""
    pytest.importorskip("fastapi")
    import numpy as np
    from fastapi.testclient import TestClient

    from pipeline.artifacts.loading import load_model
    from pipeline.service.app import create_app

    model = load_model(cv_run[0])
    assert np.array_equal(model.predict_proba(["We \ud800 will come."]), model.predict_proba(["We \ufffd will come."]))
    client = TestClient(create_app(model))
    answer = client.post("/score", content=b'{"sentences": ["We \\ud800 will come."], "explain": true}',
                         headers={"content-type": "application/json"})
    assert answer.status_code == 200 and '"We \\ud800 will come."' in answer.text


def test_serve_precision_bf16_serves_the_encoder_in_bfloat16(cv_run, trained_model, monkeypatch, capsys):
    pytest.importorskip("fastapi")
    import socket

    import uvicorn

    from pipeline import serve

    served = []
    monkeypatch.setattr(serve, "create_app", lambda model, **kwargs: served.append(model) or "app")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    serve.main(["--model", str(cv_run[0]), "--precision", "bf16", "--port", port])
    assert [model.estimator[-1].runtime for model in served] == ["torch bf16"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        serve.main(["--model", str(trained_model), "--precision", "bf16", "--port", port])
    assert exited.value.code == 2 and len(served) == 1
    assert capsys.readouterr().err == (f"error: {trained_model}: scoring precision bf16 is for fine-tuned encoders "
                                       "(model=minilm_finetune), and this model has none\n")


def test_evaluate_and_suggest_use_the_saved_model(cv_run, tiny_data, tmp_path):
    _, test = tiny_data
    folder = cv_run[0]
    evaluated = run_cli("evaluate", f"model_dir={folder}", f"data.path={test}", f"hydra.run.dir={tmp_path / 'ev'}")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n_sentences"] == 16
    suggested = run_cli("suggest", "--model", folder, ROOT / "seeds", "-n", "3", "-o", tmp_path / "next.jsonl")
    assert suggested.returncode == 0, suggested.stderr
    assert len((tmp_path / "next.jsonl").read_text().splitlines()) == 3


def test_holdout_with_early_stopping_and_int8(tmp_path, tiny_data):
    import numpy as np

    from pipeline.artifacts.loading import load_model

    train, test = tiny_data
    metrics = train_with(tmp_path, [*TINY, f"data.path={train}", f"data.test_path={test}", "model.epochs=2",
                                    "model.validation_fraction=0.25", "model.onnx_int8=true"], run_name="ft8")
    assert metrics["n_sentences"] == 16
    folder = tmp_path / "models" / "ft8"
    card = json.loads((folder / "model.json").read_text())
    assert set(card["weights"]["encoder"]) == {"encoder.safetensors", "encoder.config.json",
                                               "encoder.tokenizer.json", "encoder.int8.onnx"}
    assert (folder / "encoder.int8.onnx").stat().st_size < (folder / "encoder.safetensors").stat().st_size / 3
    model = load_model(folder)
    clf = model.estimator[-1]
    assert 1 <= clf.n_epochs_ <= 2 and all("validation_loss" in epoch for epoch in clf.history_)
    predictions = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    torch_labels = [p["predicted"] for p in predictions]
    int8 = model.predict_proba([p["text"] for p in predictions])
    # 1 epoch on 40 sentences leaves small margins; a real model agrees on 99%+ (bench/encoder.py).
    assert np.mean([model.labels[i] == label for i, label in zip(int8.argmax(axis=1), torch_labels)]) >= 0.75


def test_a_loaded_model_switched_to_bfloat16_scores_close_to_float32(cv_run):
    import numpy as np

    from pipeline.artifacts.loading import load_model

    model = load_model(cv_run[0])
    clf = model.estimator[-1]
    fp32 = model.predict_proba(SENTENCES)
    clf.set_params(scoring_precision="bf16")  # the network comes from encoder.safetensors, checked
    assert clf.runtime == "torch bf16"
    bf16 = model.predict_proba(SENTENCES)
    assert not np.array_equal(bf16, fp32) and np.abs(bf16 - fp32).max() < 0.05
    clf.set_params(scoring_precision="fp32")
    assert clf.runtime == "onnxruntime" and np.array_equal(model.predict_proba(SENTENCES), fp32)


def test_bfloat16_scoring_on_a_cpu_without_it_warns_once(cv_run, monkeypatch):
    import warnings

    from pipeline.artifacts.loading import load_model
    from pipeline.common.errors import PipelineWarning
    from pipeline.models import finetune

    monkeypatch.setattr(finetune, "cpu_has_bf16", lambda: False)
    model = load_model(cv_run[0], scoring_precision="bf16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.predict_proba(SENTENCES)
        model.predict_proba(SENTENCES[:2])
    assert [str(w.message) for w in caught if issubclass(w.category, PipelineWarning)] == [
        "scoring_precision=bf16 on a CPU without bfloat16 instructions (avx512_bf16, amx_bf16): scoring runs many "
        "times slower than fp32"]


def test_bfloat16_scoring_on_two_processes_on_a_cpu_without_it_warns_once(cv_run, tmp_path, monkeypatch, capsys):
    from pipeline.models import finetune
    from pipeline.score import main

    monkeypatch.setattr(finetune, "cpu_has_bf16", lambda: False)
    records = write_jsonl(tmp_path / "in.jsonl", [{"doc_id": "a", "sentence_index": i, "text": t}
                                                  for i, t in enumerate(SENTENCES)])
    main(["--model", str(cv_run[0]), str(records), "-o", str(tmp_path / "out.jsonl"), "--jobs", "2",
          "--precision", "bf16"])  # the workers score, the main process never does
    assert capsys.readouterr().err.count("scoring_precision=bf16 on a CPU without bfloat16 instructions") == 1
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == len(SENTENCES)


def test_score_precision_bf16_scores_like_the_bf16_model_on_every_engine(cv_run, tmp_path, trained_model):
    import importlib.util

    import numpy as np

    from pipeline.artifacts.loading import load_model

    folder, _, _ = cv_run
    model = load_model(folder, scoring_precision="bf16")
    assert model.estimator[-1].runtime == "torch bf16"
    expected = model.predict_proba(SENTENCES * 5)
    records = write_jsonl(tmp_path / "in.jsonl", [{"doc_id": "a", "sentence_index": i, "text": t}
                                                  for i, t in enumerate(SENTENCES * 5)])
    engines = {"one": [], "two": ["--jobs", "2"]}
    if importlib.util.find_spec("distributed"):
        engines["dask"] = ["--engine", "dask"]
    for name, engine in engines.items():
        result = run_cli("score", "--model", folder, records, "-o", tmp_path / f"{name}.jsonl", *engine,
                         "--precision", "bf16")
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        scores = np.array([[row["scores"][label] for label in model.labels] for row in rows])
        np.testing.assert_allclose(scores, expected, atol=1e-6)

    refused = run_cli("score", "--model", trained_model, "--text", SENTENCES[0], "--precision", "bf16")
    assert refused.returncode != 0 and refused.stdout == ""
    assert refused.stderr.splitlines() == [f"error: {trained_model}: scoring precision bf16 is for fine-tuned "
                                           "encoders (model=minilm_finetune), and this model has none"]


def test_a_run_resumes_only_in_the_precision_it_started_with(cv_run, tmp_path, monkeypatch):
    from pipeline.score import main
    from pipeline.scoring.resumable import FileOutput

    folder, _, _ = cv_run
    records = write_jsonl(tmp_path / "in.jsonl", [{"doc_id": "a", "sentence_index": i, "text": t}
                                                  for i, t in enumerate(SENTENCES)])
    out = tmp_path / "scores.jsonl"

    def interrupted(self, items_done, final=False):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(FileOutput, "commit", interrupted)
        with pytest.raises(SystemExit):
            main(["--model", str(folder), str(records), "-o", str(out), "--precision", "bf16"])
    resumed = run_cli("score", "--model", folder, records, "-o", out, "--resume")  # in the model's fp32
    assert resumed.returncode == 2 and not out.exists()
    assert resumed.stderr.startswith("error: --resume: the scoring_precision differs from the interrupted run")
    finished = run_cli("score", "--model", folder, records, "-o", out, "--resume", "--precision", "bf16")
    assert finished.returncode == 0, finished.stderr
    assert len(out.read_text().splitlines()) == len(SENTENCES)


def test_a_model_trained_to_score_in_bfloat16_does_so_in_its_run_and_once_loaded(tmp_path, tiny_data,
                                                                                 monkeypatch):
    import numpy as np

    from pipeline.artifacts.loading import load_model

    train, test = tiny_data
    train_with(tmp_path, [*TINY, f"data.path={train}", f"data.test_path={test}", "model.scoring_precision=bf16"],
               run_name="bf16")
    predictions = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    in_run = np.array([[p["scores"][label] for label in sorted(p["scores"])] for p in predictions])
    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "empty.json"))
    foreign = load_model(tmp_path / "models" / "bf16")  # model.skops: the setting comes back with the estimator
    assert foreign.loaded_with == "skops" and foreign.estimator[-1].runtime == "torch bf16"
    loaded = foreign.predict_proba([p["text"] for p in predictions])
    np.testing.assert_allclose(loaded[:, np.argsort(foreign.labels)], in_run, atol=1e-6)


def test_the_same_seed_and_threads_give_the_same_model(tmp_path):
    import numpy as np

    from pipeline.models.finetune import MiniLMFineTuneClassifier

    documents = written_documents()
    rows = [r for doc in ("wf07", "wf08") for r in documents[doc][:12]]
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    fits = [MiniLMFineTuneClassifier(epochs=1, max_length=24, batch_size=8, threads=2, random_state=5, onnx=False)
            .fit(texts, labels) for _ in range(2)]
    first, second = (fit.predict_proba(SENTENCES) for fit in fits)
    assert np.array_equal(first, second)
    other = MiniLMFineTuneClassifier(epochs=1, max_length=24, batch_size=8, threads=2, random_state=6).fit(texts, labels)
    assert not np.array_equal(first, other.predict_proba(SENTENCES))
    # Sentence records work like plain sentences.
    from pipeline.data.records import sentence_frame

    assert np.array_equal(fits[0].predict_proba(sentence_frame(SENTENCES)), first)
    # Saved without an ONNX graph and loaded, it scores in torch exactly as it did in memory.
    from pipeline.artifacts.folder import save_model
    from pipeline.artifacts.loading import load_model

    folder = save_model(fits[0], {"input": "text"}, tmp_path / "models", "torch-only")
    assert sorted(p.name for p in folder.glob("encoder*")) == [
        "encoder.config.json", "encoder.safetensors", "encoder.tokenizer.json"]
    loaded = load_model(folder)
    assert loaded.estimator.runtime == "torch"
    assert np.array_equal(loaded.predict_proba(SENTENCES), first)


def test_frozen_parts_keep_their_pretrained_weights_and_the_rest_learns_in_bfloat16_steps():
    import torch

    from pipeline.models import encoder_runtime as rt
    from pipeline.models.finetune import MiniLMFineTuneClassifier

    documents = written_documents()
    rows = [r for doc in ("wf07", "wf08") for r in documents[doc][:12]]
    clf = MiniLMFineTuneClassifier(epochs=1, max_length=24, batch_size=8, threads=2, freeze_embeddings=True,
                                   frozen_layers=2, precision="bf16", onnx=False)
    clf.fit([r["text"] for r in rows], [r["label"] for r in rows])
    pretrained = rt.base_network(rt.packaged_files(clf.encoder)[0], len(clf.classes_)).state_dict()
    tuned = clf._network.state_dict()
    frozen = ("encoder.embeddings.", "encoder.encoder.layer.0.", "encoder.encoder.layer.1.")
    kept = {name for name in pretrained if torch.equal(pretrained[name], tuned[name])}
    assert {name for name in pretrained if name.startswith(frozen)} <= kept
    assert not kept & {"encoder.encoder.layer.2.attention.self.query.weight",
                       "encoder.encoder.layer.5.output.dense.weight"}
    assert {tensor.dtype for tensor in tuned.values() if tensor.is_floating_point()} == {torch.float32}


@pytest.mark.parametrize("native, precision, steps, warned", [
    (True, "auto", "bf16", False), (False, "auto", "fp32", False), (False, "bf16", "bf16", True),
])
def test_precision_auto_takes_bfloat16_steps_only_where_the_cpu_has_them(monkeypatch, caplog, native, precision,
                                                                         steps, warned):
    from pipeline.models import finetune

    monkeypatch.setattr(finetune, "cpu_has_bf16", lambda: native)
    ran = []
    step = finetune.MiniLMFineTuneClassifier._training_logits
    monkeypatch.setattr(finetune.MiniLMFineTuneClassifier, "_training_logits",
                        lambda self, network, batch, how: ran.append(how) or step(self, network, batch, how))
    clf = finetune.MiniLMFineTuneClassifier(epochs=1, max_length=16, batch_size=4, precision=precision, onnx=False)
    with caplog.at_level("INFO", logger="pipeline.models.finetune"):
        clf.fit(SENTENCES * 2, ["threat", "reporting", "background_fact", "editorial_framing"] * 2)
    assert clf.precision_ == steps and ran and set(ran) == {steps}
    assert ("many times slower" in caplog.text) == warned


@pytest.mark.parametrize("override, key", [
    ("model.epochs=0", "model.epochs"),
    ("model.learning_rate=-1", "model.learning_rate"),
    ("model.class_weight=heavy", "model.class_weight"),
    ("model.max_length=1000", "model.max_length"),
    ("model.validation_fraction=1.5", "model.validation_fraction"),
    ("model.frozen_layers=7", "model.frozen_layers"),
    ("model.precision=fp16", "model.precision"),
    ("model.context=next", "model.context"),
    ("model.base_weights=/nonexistent/adapted", "model.base_weights"),
])
def test_bad_settings_name_their_config_key(override, key):
    from pipeline.training.setup import build_estimator, check_params

    cfg = compose("train", ["model=minilm_finetune", override])
    with pytest.raises(PipelineError, match=rf"^config {key}: "):
        check_params(build_estimator(cfg.features, cfg.model))


@pytest.mark.parametrize("model", ["minilm_finetune", "minilm_tfidf_vote"])
def test_calibration_of_a_fine_tuned_encoder_is_refused_in_one_line(model):
    """It failed with scikit-learn's metadata-routing message about groups, blamed on the documents."""
    from pipeline.training.setup import build_estimator

    cfg = compose("train", [f"model={model}", "calibration=sigmoid"])
    with pytest.raises(PipelineError, match="^config calibration: not available with a fine-tuned encoder"):
        build_estimator(cfg.features, cfg.model, cfg.calibration)


@pytest.mark.parametrize("override, module", [("model.onnx_int8=true", "onnxruntime"),
                                              ("model.onnx=true", "onnxscript")])
def test_an_export_without_its_library_is_refused_before_the_fine_tune(monkeypatch, override, module):
    import importlib.util

    from pipeline.training.setup import build_estimator, check_params

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == module else find_spec(name, *rest))
    cfg = compose("train", ["model=minilm_finetune", override])
    key = override.partition("=")[0]
    with pytest.raises(PipelineError, match=rf"^config {key}: .* needs {module}, which is not installed"):
        check_params(build_estimator(cfg.features, cfg.model))
    cfg = compose("train", ["model=minilm_finetune", f"{key}=false"])
    check_params(build_estimator(cfg.features, cfg.model))  # without the export, nothing is missing


def test_int8_without_the_onnx_export_is_refused_before_the_fine_tune():
    # onnx_int8 quantizes the exported graph: with onnx=false there is none, and the model scored in torch fp32
    # in silence.
    from pipeline.training.setup import build_estimator, check_params

    cfg = compose("train", ["model=minilm_finetune", "model.onnx=false", "model.onnx_int8=true"])
    with pytest.raises(PipelineError, match=r"^config model.onnx_int8: .* onnx=false exports none; set onnx=true"):
        check_params(build_estimator(cfg.features, cfg.model))


def test_a_base_weights_folder_not_written_by_pretrain_is_refused_before_the_fine_tune(tmp_path):
    from pipeline.training.setup import build_estimator, check_params

    for name in ("config.json", "model.safetensors", "tokenizer.json"):  # the files, but not pretrain's
        (tmp_path / name).write_text("{}", encoding="utf-8")
    missing = compose("train", ["model=minilm_finetune", f"model.base_weights={tmp_path / 'adapted'}"])
    with pytest.raises(PipelineError, match=r"^config model.base_weights: .*adapted not found \(python -m pipeline"):
        check_params(build_estimator(missing.features, missing.model))  # it said "has no config.json, ..."
    cfg = compose("train", ["model=minilm_finetune", f"model.base_weights={tmp_path}"])
    with pytest.raises(PipelineError, match=r"^config model.base_weights: .* has no pretrain.json"):
        check_params(build_estimator(cfg.features, cfg.model))
    (tmp_path / "pretrain.json").write_text(json.dumps({"sha256": {"config.json": "0" * 64,
                                                                   "model.safetensors": "0" * 64,
                                                                   "tokenizer.json": "0" * 64}}))
    with pytest.raises(PipelineError, match=r"^config model.base_weights: .* has config.json, model.safetensors, "
                                            r"tokenizer.json changed since it was written"):
        check_params(build_estimator(cfg.features, cfg.model))


def test_a_class_weight_naming_no_label_of_the_data_is_refused():
    import numpy as np

    from pipeline.models.finetune import MiniLMFineTuneClassifier

    classes = np.array(["reporting", "threat"])
    assert MiniLMFineTuneClassifier(class_weight={"threat": 3})._loss_weights(np.array([0, 1]), classes) == [1.0, 3.0]
    with pytest.raises(ValueError, match=r"^class_weight: threatt is not a label of the training sentences"):
        MiniLMFineTuneClassifier(class_weight={"threatt": 3})._loss_weights(np.array([0, 1]), classes)


@pytest.mark.parametrize("model, key", [("minilm_finetune", "model"), ("minilm_tfidf_vote", "model.encoder")])
def test_the_cost_of_reading_each_sentence_after_the_one_before_is_timed_on_those_pairs(monkeypatch, capsys, model,
                                                                                        key):
    # The vote's fine-tune costs as much as the encoder's alone: it is announced too (it was not).
    from pipeline.models.finetune import MiniLMFineTuneClassifier
    from pipeline.training.crossval import announce_cost
    from pipeline.training.setup import build_run

    timed = []
    monkeypatch.setattr(MiniLMFineTuneClassifier, "estimate_epoch_seconds",
                        lambda self, X: timed.append(self._inputs(X)) or 1.0)
    run = build_run(compose("train", [f"model={model}", "data=seed", f"{key}.context=previous"]))
    corpus = run.data.load_train()
    announce_cost(run.estimator, corpus, [list(range(10))], len(corpus))
    assert "fine-tuning cost: 1 folds x 4 epochs" in capsys.readouterr().err
    assert [type(item).__name__ for item in timed[0]] == ["str"] + ["tuple"] * 9  # as training reads them


def test_the_votes_encoder_holds_out_whole_documents_for_early_stopping(monkeypatch):
    # The vote hands its encoder sentence records and no groups: early stopping held out sentences, so
    # the validation loss was read on the documents it trained on.
    from pipeline.models.finetune import MiniLMFineTuneClassifier
    from pipeline.training.crossval import fit
    from pipeline.training.setup import build_run

    seen = []

    def split(self, n, groups, seed):
        seen.append(groups)
        raise RuntimeError("split taken")

    monkeypatch.setattr(MiniLMFineTuneClassifier, "_validation_split", split)
    run = build_run(compose("train", ["model=minilm_tfidf_vote", "data=seed", "model.encoder.validation_fraction=0.2"]))
    corpus = run.data.load_train()
    with pytest.raises(RuntimeError, match="split taken"):
        fit(run.estimator, corpus)
    assert list(seen[0]) == list(corpus.groups)


def test_an_audit_announces_the_folds_it_fine_tunes_and_no_final_fit(monkeypatch, capsys):
    from pipeline.annotation.audit import audit
    from pipeline.models.finetune import MiniLMFineTuneClassifier
    from pipeline.training import crossval
    from pipeline.training.setup import build_run

    monkeypatch.setattr(MiniLMFineTuneClassifier, "estimate_epoch_seconds", lambda self, X: 60.0)
    monkeypatch.setattr(crossval, "out_of_fold", lambda *args: (_ for _ in ()).throw(RuntimeError("no fits here")))
    run = build_run(compose("train", ["model=minilm_finetune", "data=seed"]))
    with pytest.raises(RuntimeError, match="no fits here"):
        audit(estimator=run.estimator, data=run.data, splitter=run.splitter)
    said = capsys.readouterr().err
    assert "fine-tuning cost: 2 folds x 4 epochs x ~60 s an epoch" in said and "then fits on all" not in said


@pytest.mark.parametrize("model", ["minilm_finetune", "minilm_tfidf_vote"])
def test_features_other_than_the_sentences_are_refused(model):
    from pipeline.training.setup import build_estimator, check_params

    cfg = compose("train", [f"model={model}", "features=word_tfidf"])
    with pytest.raises(PipelineError, match="config features: MiniLMFineTuneClassifier reads the sentences itself; "
                                            "use features=sentences"):
        check_params(build_estimator(cfg.features, cfg.model))


@pytest.mark.slow
def test_train_cli_bad_value_is_one_line_before_any_work(tmp_path):
    result = run_cli("train", "model=minilm_finetune", "model.batch_size=0", f"hydra.run.dir={tmp_path / 'run'}",
                     f"paths.models_dir={tmp_path / 'models'}")
    assert result.returncode == 2
    assert result.stderr.startswith("error: config model.batch_size: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("persistence", ["pickle", "skops"])
def test_a_model_saved_before_the_newer_settings_loads_with_their_defaults(persistence):
    import pickle

    import skops.io as sio
    from sklearn.base import clone

    from pipeline.models.finetune import MiniLMFineTuneClassifier

    old = MiniLMFineTuneClassifier(epochs=2)
    for setting in ("freeze_embeddings", "precision", "context", "typography"):  # added after the first release
        delattr(old, setting)
    if persistence == "pickle":
        loaded = pickle.loads(pickle.dumps(old))
    else:
        loaded = sio.loads(sio.dumps(old), trusted=["pipeline.models.finetune.MiniLMFineTuneClassifier"])
    params = clone(loaded).get_params()
    assert (params["freeze_embeddings"], params["precision"], params["context"], params["typography"]) == (
        False, "fp32", "none", "keep")
    assert params["epochs"] == 2 and loaded.input_kind == "text"


def test_the_soft_vote_of_encoder_and_tfidf_context_saves_loads_and_scores_articles(tmp_path, tiny_data,
                                                                                      monkeypatch):
    import numpy as np

    from pipeline.data.records import sentence_frame

    train, _ = tiny_data
    vote = ["model=minilm_tfidf_vote", "model.encoder.epochs=1", "model.encoder.max_length=32",
            "model.encoder.batch_size=8", "model.weights=[1.0,2.0]", "model.encoder.context=previous"]
    folder = context_model(tmp_path, tiny_data, vote, "vote")
    assert (folder / "encoder.safetensors").is_file()
    trusted, foreign = loaded_both_ways(folder, tmp_path, monkeypatch)  # skops: the encoder's weights attach as data
    article = " ".join(SENTENCES)
    for model in (trusted, foreign):
        records = model.score_text(article)
        assert [r["sentence_index"] for r in records] == [0, 1, 2, 3]
    np.testing.assert_allclose([list(r["scores"].values()) for r in trusted.score_text(article)],
                               [list(r["scores"].values()) for r in foreign.score_text(article)], atol=1e-6)
    in_article = one_article(SENTENCES)
    tfidf_only, encoder_only = (member.predict_proba(in_article) for member in trusted.estimator[-1].estimators_)
    np.testing.assert_allclose(trusted.estimator[-1].predict_proba(in_article), (tfidf_only + 2 * encoder_only) / 3,
                               atol=1e-6)
    assert np.abs(encoder_only[1:] - trusted.estimator[-1].estimators_[1].predict_proba(SENTENCES[1:])).max() > 1e-4
    # The vote's encoder, which learned label positions, goes on training alone under the label names.
    from pipeline.models.finetune import MiniLMFineTuneClassifier

    rows = [json.loads(line) for line in train.read_text().splitlines()]
    records = sentence_frame([r["text"] for r in rows], doc_ids=[r["doc_id"] for r in rows])
    alone = MiniLMFineTuneClassifier(epochs=1, max_length=32, batch_size=8, context="previous", learning_rate=1e-12,
                                     init_from=str(folder)).fit(records, [r["label"] for r in rows])
    assert list(alone.classes_) == trusted.labels
    np.testing.assert_allclose(alone.predict_proba(in_article), encoder_only, atol=1e-5)


PAIR = ["model=encoder_pair_vote", *(f"model.{member}.{key}" for member in ("first", "second") for key in (
    "encoder=all-MiniLM-L6-v2", "epochs=1", "max_length=32", "batch_size=8"))]


def test_a_pair_of_encoders_fits_each_as_alone_saves_both_and_scores_their_average(tmp_path, tiny_data,
                                                                                     monkeypatch):
    import numpy as np

    from pipeline.training.crossval import fit
    from pipeline.training.setup import build_run

    folder = context_model(tmp_path, tiny_data, [*PAIR, "model.weights=[1.0,3.0]"], "pair")
    assert (folder / "encoder.safetensors").is_file() and (folder / "encoder-1.safetensors").is_file()
    trusted, foreign = loaded_both_ways(folder, tmp_path, monkeypatch)
    in_article = one_article(SENTENCES)
    vote = trusted.estimator[-1]
    previous, around = (member.predict_proba(in_article) for member in vote.estimators_)
    np.testing.assert_allclose(vote.predict_proba(in_article), (previous + 3 * around) / 4, atol=1e-6)
    np.testing.assert_allclose(foreign.estimator[-1].predict_proba(in_article), vote.predict_proba(in_article),
                               atol=1e-6)
    assert np.abs(previous - around).max() > 1e-4  # two networks, not one saved twice
    # Each member is the network its settings give alone: a vote's figures can be read off solo fits.
    for context, member in (("previous", previous), ("around", around)):
        run = build_run(compose("train", [*TINY, f"model.context={context}", f"data.path={tiny_data[0]}"]))
        alone = fit(run.estimator, run.data.load_train())  # as a training run fits it
        np.testing.assert_allclose(alone.predict_proba(in_article), member, atol=1e-5)


def test_a_pair_of_encoders_announces_the_cost_of_each(monkeypatch, capsys):
    from pipeline.models.finetune import MiniLMFineTuneClassifier
    from pipeline.training.crossval import announce_cost
    from pipeline.training.setup import build_run

    monkeypatch.setattr(MiniLMFineTuneClassifier, "estimate_epoch_seconds",
                        lambda self, X: {"previous": 20.0, "around": 30.0}[self.context])
    run = build_run(compose("train", [*PAIR, "data=seed", "model.second.epochs=2"]))
    corpus = run.data.load_train()
    announce_cost(run.estimator, corpus, [list(range(10))], 5)
    said = capsys.readouterr().err
    assert "fine-tuning cost: 1 folds x 2 encoders (1 epochs x ~20 s an epoch + 2 epochs x ~30 s an epoch) = ~80 s" \
        in said and "fits on all 5 sentences, ~40 s more" in said  # (20 + 2 x 30) s for 10 sentences, then for 5


def context_model(tmp_path, tiny_data, overrides, name):
    """A model that reads the neighbours, fitted on the tiny articles and scored on the test ones; its folder."""
    train, test = tiny_data
    metrics = train_with(tmp_path, [*overrides, f"data.path={train}", f"data.test_path={test}", "data.dev_path=null"],
                         run_name=name)
    assert metrics["n_sentences"] == 16
    folder = tmp_path / "models" / name
    assert json.loads((folder / "model.json").read_text())["input"] == "records"
    return folder


def loaded_both_ways(folder, tmp_path, monkeypatch):
    """The saved model loaded trusted, then as a foreign folder (skops, an empty trust store)."""
    from pipeline import load_model

    trusted = load_model(folder)
    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "empty.json"))
    foreign = load_model(folder)
    assert (trusted.loaded_with, foreign.loaded_with) == ("joblib", "skops")
    return trusted, foreign


def one_article(texts):
    from pipeline.data.records import sentence_frame

    return sentence_frame(texts, doc_ids=["a"] * len(texts), indices=list(range(len(texts))),
                          n_sentences=[len(texts)] * len(texts))


def test_with_the_previous_sentence_it_takes_records_and_reads_each_sentence_after_its_predecessor(
        tmp_path, tiny_data, monkeypatch):
    import numpy as np

    from pipeline.data.records import sentence_frame

    folder = context_model(tmp_path, tiny_data, [*TINY, "model.context=previous"], "ctx")
    trusted, foreign = loaded_both_ways(folder, tmp_path, monkeypatch)
    assert foreign.estimator[-1].context == "previous"  # model.skops: the setting comes back with the estimator
    in_article = one_article(SENTENCES)
    alone = trusted.estimator.predict_proba(sentence_frame(SENTENCES))
    read = trusted.estimator.predict_proba(in_article)
    np.testing.assert_allclose(read[0], alone[0], atol=1e-6)  # an article's first sentence has no predecessor
    assert np.abs(read[1:] - alone[1:]).max() > 1e-4  # the others are read after theirs
    np.testing.assert_allclose(foreign.estimator.predict_proba(in_article), read, atol=1e-5)
    scored = trusted.score_text(" ".join(SENTENCES))
    np.testing.assert_allclose([[r["scores"][k] for k in trusted.estimator.classes_] for r in scored], read,
                               atol=1e-5)


def test_with_the_sentences_around_it_a_sentence_is_read_with_the_one_after_it_too(tmp_path, tiny_data, monkeypatch):
    import numpy as np

    from pipeline.data.records import sentence_frame

    folder = context_model(tmp_path, tiny_data, [*TINY, "model.context=around"], "around")
    trusted, foreign = loaded_both_ways(folder, tmp_path, monkeypatch)
    assert foreign.estimator[-1].context == "around"
    read = trusted.estimator.predict_proba(one_article(SENTENCES))
    alone = trusted.estimator.predict_proba(sentence_frame(SENTENCES))
    assert np.abs(read - alone).max(axis=1).min() > 1e-5  # the first sentence too: it has one after it
    # Only what follows the first two sentences changes: the second is read again, the first is not.
    other_end = trusted.estimator.predict_proba(one_article([*SENTENCES[:2], "The ceasefire held overnight."]))
    np.testing.assert_allclose(other_end[0], read[0], atol=1e-6)
    assert np.abs(other_end[1] - read[1]).max() > 1e-5
    np.testing.assert_allclose(foreign.estimator.predict_proba(one_article(SENTENCES)), read, atol=1e-5)
    scored = trusted.score_text(" ".join(SENTENCES))
    np.testing.assert_allclose([[r["scores"][k] for k in trusted.estimator.classes_] for r in scored], read,
                               atol=1e-5)


def test_the_sentences_around_are_parted_by_the_encoders_own_separator_token():
    import pandas as pd

    from pipeline.models import encoder_runtime as rt
    from pipeline.models.finetune import sentences_with_neighbours

    records = pd.DataFrame({"doc_id": ["a", "a", "a", "b"], "sentence_index": [0, 1, 2, 0],
                            "text": ["One.", "Two.", "Three.", "Alone."]})
    assert sentences_with_neighbours(records, "[SEP]") == [("One.", "[SEP] Two."), ("Two.", "One. [SEP] Three."),
                                                          ("Three.", "Two. [SEP]"), "Alone."]
    for encoder, token in [("all-MiniLM-L6-v2", "[SEP]"), ("all-mpnet-base-v2", "</s>")]:
        try:
            tokenizer_json = rt.packaged_files(encoder)[1]
        except ImportError:  # the mpnet extra is not installed
            continue
        assert rt.separator(tokenizer_json) == token
        tokenizer = rt.make_tokenizer(tokenizer_json, 64)
        ids = rt.token_ids(tokenizer, [("Two.", f"One. {token} Three.")])[0].tolist()
        sep = tokenizer.token_to_id(token)
        assert ids.count(sep) == (4 if token == "</s>" else 3)  # one token each, not its letters


def test_with_the_headline_a_sentence_is_read_with_its_articles_first_sentence_and_the_one_before_it(
        tmp_path, tiny_data, monkeypatch):
    import numpy as np

    folder = context_model(tmp_path, tiny_data, [*TINY, "model.context=headline"], "headline")
    trusted, foreign = loaded_both_ways(folder, tmp_path, monkeypatch)
    assert foreign.estimator[-1].context == "headline"
    read = trusted.estimator.predict_proba(one_article(SENTENCES))
    # Another headline changes how the fourth sentence is read, three sentences after it: the
    # headline reaches past the sentence before.
    other_headline = trusted.estimator.predict_proba(one_article(["Rebels issue ultimatum to the capital.",
                                                                  *SENTENCES[1:]]))
    assert np.abs(other_headline[3] - read[3]).max() > 1e-5
    np.testing.assert_allclose(foreign.estimator.predict_proba(one_article(SENTENCES)), read, atol=1e-5)
    scored = trusted.score_text(" ".join(SENTENCES))
    np.testing.assert_allclose([[r["scores"][k] for k in trusted.estimator.classes_] for r in scored], read,
                               atol=1e-5)
    trusted.estimator[-1].context = "previous"  # the same network reading the sentence before alone
    previous = trusted.estimator.predict_proba(one_article(SENTENCES))
    np.testing.assert_allclose(previous[0], read[0], atol=1e-6)  # the headline itself is read alone
    assert np.abs(previous[1:] - read[1:]).max(axis=1).min() > 1e-5


def test_the_headline_and_the_sentence_before_are_parted_by_the_separator_in_that_order():
    import pandas as pd

    from pipeline.models.finetune import sentences_with_headline

    records = pd.DataFrame({"doc_id": ["a"] * 4 + ["b", "c", "c"], "sentence_index": [0, 1, 2, 3, 0, 2, 3],
                            "text": ["Head.", "Two.", "Three.", "Four.", "Alone.", "Five.", "Six."]})
    assert sentences_with_headline(records, "[SEP]") == [
        "Head.", ("Two.", "[SEP] Head."), ("Three.", "Head. [SEP] Two."), ("Four.", "Head. [SEP] Three."),
        "Alone.", "Five.", ("Six.", "[SEP] Five.")]  # c's first sentence and Five's predecessor are not there
    assert sentences_with_headline(["Head.", "Two."], "[SEP]") == ["Head.", "Two."]


CURLY = ["He said “we will burn your city” – it’s over… for them.",
         "“Leave by Friday,” the militia’s leader said."]
STRAIGHT = ['He said "we will burn your city" - it\'s over... for them.',
            '"Leave by Friday," the militia\'s leader said.']


def test_with_plain_typography_curly_and_straight_quotes_score_alike_in_every_path(
        tmp_path, tiny_data, cv_run, monkeypatch):
    import numpy as np

    from pipeline import load_model

    train, _ = tiny_data
    train_with(tmp_path, [*TINY, "model.typography=plain", "model.context=previous", f"data.path={train}",
                          "split.n_splits=2"], run_name="plain")
    trusted, foreign = loaded_both_ways(tmp_path / "models" / "plain", tmp_path, monkeypatch)
    assert foreign.estimator[-1].typography == "plain"
    for model in (trusted, foreign):  # the ONNX graph, loaded with and without trust
        assert model.estimator[-1].runtime == "onnxruntime"
        np.testing.assert_array_equal(model.estimator.predict_proba(one_article(CURLY)),
                                      model.estimator.predict_proba(one_article(STRAIGHT)))
        np.testing.assert_array_equal(model.predict_proba(CURLY), model.predict_proba(STRAIGHT))
    scored = [[r["scores"] for r in trusted.score_text(" ".join(texts))] for texts in (CURLY, STRAIGHT)]
    assert scored[0] == scored[1]
    # The model as fitted (torch) reads the same, and one that keeps the glyphs tells the twins apart.
    from pipeline.models.finetune import MiniLMFineTuneClassifier

    rows = [r for doc in ("wf07", "wf08") for r in written_documents()[doc][:12]]
    fitted = MiniLMFineTuneClassifier(epochs=1, max_length=24, batch_size=8, threads=2, typography="plain",
                                      onnx=False).fit([r["text"] for r in rows], [r["label"] for r in rows])
    np.testing.assert_array_equal(fitted.predict_proba(CURLY), fitted.predict_proba(STRAIGHT))
    keeps = load_model(cv_run[0])
    assert keeps.estimator[-1].typography == "keep"
    assert np.abs(keeps.predict_proba(CURLY) - keeps.predict_proba(STRAIGHT)).max() > 1e-4


@pytest.mark.slow
def test_pretraining_writes_a_base_that_the_fine_tune_starts_from(tmp_path):
    import numpy as np

    from pipeline.models.finetune import MiniLMFineTuneClassifier

    documents = written_documents()
    articles = tmp_path / "articles"
    articles.mkdir()
    for doc in ("wf09", "wf10", "wf11", "wf12"):
        (articles / f"{doc}.txt").write_text(" ".join(r["text"] for r in documents[doc]), encoding="utf-8")
    out = tmp_path / "adapted"
    args = [out, "--from", articles, "--sentences", "48", "--batch-size", "4", "--head-steps", "2",
            "--max-length", "24", "--threads", "2", "--exclude", no_dev(tmp_path)]
    result = run_cli("pretrain", *args)
    assert result.returncode == 0, result.stderr
    card = json.loads((out / "pretrain.json").read_text())
    assert card["steps"] > card["head_steps"] == 2 and card["history"][-1]["loss"] > 0
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "tokenizer.json", "pretrain.json"}
    # Readable by whoever may read the folder's other files (safetensors wrote its file owner-only).
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {(out / "pretrain.json").stat().st_mode & 0o777}
    # A second run never replaces the folder.
    again = run_cli("pretrain", *args)
    assert again.returncode == 2 and again.stderr.startswith(f"error: {out}: already exists")
    assert json.loads((out / "pretrain.json").read_text()) == card

    rows = [r for doc in ("wf07", "wf08") for r in documents[doc][:12]]
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    settings = dict(epochs=1, max_length=24, batch_size=8, threads=2, random_state=5, onnx=False)
    base = MiniLMFineTuneClassifier(**settings).fit(texts, labels)
    adapted = MiniLMFineTuneClassifier(**settings, base_weights=str(out)).fit(texts, labels)
    assert not np.allclose(base.predict_proba(SENTENCES), adapted.predict_proba(SENTENCES))
    again = MiniLMFineTuneClassifier(**settings, base_weights=str(out)).fit(texts, labels)
    assert np.array_equal(adapted.predict_proba(SENTENCES), again.predict_proba(SENTENCES))


def test_pretraining_refuses_more_tokens_than_the_encoder_has_positions(tmp_path):
    result = run_cli("pretrain", tmp_path / "adapted", "--from", ROOT / "seeds", "--max-length", "600")
    assert result.returncode == 2 and not (tmp_path / "adapted").exists()
    assert result.stderr.splitlines() == ["error: argument --max-length: must be at most 512, got 600 "
                                          "(see python -m pipeline.pretrain --help)"]


def no_dev(folder):
    """An empty --exclude file: pretraining leaves no article out."""
    (folder / "no-dev.jsonl").write_text("", encoding="utf-8")
    return folder / "no-dev.jsonl"


def test_an_exclude_file_that_is_not_there_is_refused_before_any_article_is_read(tmp_path):
    # A typo in --exclude let the dev articles into pretraining, said only as "the 0 dev articles".
    result = run_cli("pretrain", tmp_path / "adapted", "--from", ROOT / "seeds", "--exclude", tmp_path / "dev.jsonl")
    assert result.returncode == 2 and not (tmp_path / "adapted").exists()
    assert len(result.stderr.splitlines()) == 1
    assert f"argument --exclude: file not found: {tmp_path / 'dev.jsonl'} (an empty file" in result.stderr


def test_pretraining_into_a_folder_that_cannot_be_made_is_one_error_line(tmp_path):
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    out = tmp_path / "a-file" / "adapted"
    result = run_cli("pretrain", out, "--from", ROOT / "seeds", "--exclude", no_dev(tmp_path),
                     "--sentences", "8", "--batch-size", "4", "--head-steps", "1")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {out}: cannot create its folder {out.parent} (File exists)"]


def test_pretraining_reads_articles_with_stray_bytes_and_refuses_a_binary_one_in_one_line(tmp_path):
    from pipeline.common.errors import PipelineWarning
    from pipeline.models.pretrain import unlabeled_sentences

    articles = tmp_path / "articles"
    articles.mkdir()
    latin1 = "The caf\xe9 on the square was closed by the police on Monday.".encode("latin-1")
    (articles / "latin1.txt").write_bytes(latin1)
    with pytest.warns(PipelineWarning, match="latin1.txt: bytes that are not UTF-8 were replaced"):
        sentences, _ = unlabeled_sentences([articles / "latin1.txt"], set(), limit=10, seed=0)
    assert sentences == ["The caf\ufffd on the square was closed by the police on Monday."]
    (articles / "image.txt").write_bytes(bytes(range(256)) * 8)
    result = run_cli("pretrain", tmp_path / "adapted", "--from", articles, "--exclude", no_dev(tmp_path))
    assert result.returncode == 2 and not (tmp_path / "adapted").exists()
    assert result.stderr.splitlines() == [f"error: {articles / 'image.txt'}: looks like a binary file, not text"]


def test_pretraining_sentences_leave_out_the_dev_articles(tmp_path):
    from pipeline.annotation.validation import sentence_key
    from pipeline.models.pretrain import unlabeled_sentences

    (tmp_path / "article1.txt").write_text("The dev article says the bridge will close on Monday night.", encoding="utf-8")
    (tmp_path / "article2.txt").write_text("A training article says the port reopened after the storm.", encoding="utf-8")
    write_jsonl(tmp_path / "news.jsonl", [{"doc_id": "article1", "text": "Another dev sentence of six or more words."},
                                          {"doc_id": "x/7", "text": "Short one."},
                                          {"doc_id": "x/8", "text": "Markets fell sharply on Friday after the report."},
                                          {"doc_id": "x/9", "text": "the DEV article says the bridge  will close on Monday night."}])
    files = sorted(tmp_path.iterdir())
    dev_text = frozenset({sentence_key("The dev article says the bridge will close on Monday night.")})
    sentences, available = unlabeled_sentences(files, {"article1"}, limit=10, seed=0, exclude_texts=dev_text)
    # The dev article, and its sentence republished by another site (x/9), are left out.
    assert sorted(sentences) == ["A training article says the port reopened after the storm.",
                                 "Markets fell sharply on Friday after the report."] and available == 2
    assert len(unlabeled_sentences(files, set(), limit=2, seed=0)[0]) == 2


def test_init_from_goes_on_training_a_saved_encoder_with_the_next_epochs_batches(tmp_path, monkeypatch):
    """A run too long for one sitting, done in two: the second starts from the first's network (body and
    head) and sees its batches in the order a longer run's next epoch would."""
    import numpy as np

    from pipeline.artifacts.folder import save_model
    from pipeline.models import finetune
    from pipeline.models.finetune import MiniLMFineTuneClassifier

    documents = written_documents()
    rows = [r for doc in ("wf07", "wf08") for r in documents[doc][:12]]
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    settings = dict(max_length=24, batch_size=8, threads=2, random_state=5, onnx=False)
    first = MiniLMFineTuneClassifier(epochs=1, **settings).fit(texts, labels)
    folder = save_model(first, {"input": "text"}, tmp_path / "models", "first")
    seen = []
    batches = finetune.training_batches
    monkeypatch.setattr(finetune, "training_batches", lambda *a: seen.append(batches(*a)) or seen[-1])
    still = MiniLMFineTuneClassifier(epochs=1, **settings, learning_rate=1e-12, init_from=str(folder)).fit(texts,
                                                                                                          labels)
    np.testing.assert_allclose(still.predict_proba(SENTENCES), first.predict_proba(SENTENCES), atol=1e-5)
    went_on = seen[-1]
    second = save_model(still, {"input": "text"}, tmp_path / "models", "second")
    MiniLMFineTuneClassifier(epochs=1, **settings, init_from=str(second)).fit(texts, labels)  # a third sitting
    third = seen[-1]
    seen.clear()
    MiniLMFineTuneClassifier(epochs=3, **settings).fit(texts, labels)
    assert len(seen) == 3 and went_on == seen[1] != seen[0] and third == seen[2] != seen[1]
    wrong = [label if label != "threat" else "reporting" for label in labels]
    with pytest.raises(ValueError, match=r"^init_from .*first: its labels are background_fact, editorial_framing, "
                                         r"reporting, threat; the training data's background_fact, "):
        MiniLMFineTuneClassifier(epochs=1, **settings, init_from=str(folder)).fit(texts, wrong)


def test_init_from_names_what_it_cannot_go_on_from_and_refuses_cross_validation(tmp_path, tiny_data):
    from pipeline.training.setup import build_estimator, check_params

    cfg = compose("train", ["model=minilm_finetune", f"model.init_from={tmp_path / 'gone'}"])
    with pytest.raises(PipelineError, match=r"^config model.init_from: .*gone not found$"):
        check_params(build_estimator(cfg.features, cfg.model))
    cfg = compose("train", ["model=minilm_finetune", f"model.init_from={tmp_path}"])
    with pytest.raises(PipelineError, match=r"^config model.init_from: .* is no model folder \(.*: no model.json in"):
        check_params(build_estimator(cfg.features, cfg.model))
    (tmp_path / "model.json").write_text(json.dumps({"weights": {}}))
    with pytest.raises(PipelineError, match=r"^config model.init_from: .* holds 0 fine-tuned encoders, not one$"):
        check_params(build_estimator(cfg.features, cfg.model))
    (tmp_path / "model.json").write_text(json.dumps({"weights": {"encoder": {}}}))
    train, _ = tiny_data
    result = run_cli("train", *TINY, f"data.path={train}", f"model.init_from={tmp_path}",
                     f"hydra.run.dir={tmp_path / 'run'}", f"paths.models_dir={tmp_path / 'models'}")
    assert result.returncode == 2 and not (tmp_path / "models").exists(), result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: config model.init_from: cross-validation would start every fold from a model that was trained "
        "on all of the data; give data.test_path to test on a file instead")
