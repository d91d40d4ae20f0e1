"""What a training or evaluation run reports beyond the confusion matrix."""

import json
import warnings
from collections import Counter

import pytest
from conftest import ROOT, SEED_DATA, compose, train_with, write_jsonl

from pipeline.artifacts.predictions_file import read_predictions

LABELS = ["threat", "reporting", "editorial_framing", "background_fact"]
STARTER = ROOT / "data" / "written" / "starter_mixed_topics.jsonl"


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    metrics = train_with(tmp, ["data=seed", "model=linear_svc"], run_name="svc", run_dir=tmp / "run")
    return tmp, metrics


def test_folds_carry_per_label_f1_and_their_spread(seed_run):
    _, metrics = seed_run
    folds = metrics["folds"]
    assert [set(f["per_label_f1"]) for f in folds] == [set(LABELS)] * 2
    threat = [f["per_label_f1"]["threat"] for f in folds]
    assert metrics["per_label_fold_f1"]["threat"]["mean"] == pytest.approx(sum(threat) / 2)
    assert metrics["per_label_fold_f1"]["threat"]["std"] == pytest.approx(abs(threat[0] - threat[1]) / 2)
    assert metrics["macro_f1_fold_mean"] == pytest.approx(sum(f["macro_f1"] for f in folds) / 2)


def test_bootstrap_intervals_resample_the_documents(seed_run):
    _, metrics = seed_run
    boot = metrics["bootstrap"]
    assert (boot["unit"], boot["n_documents"], boot["n_resamples"]) == ("document", 2, 1000)
    low, high = boot["macro_f1"]
    # with two documents every resample is one of them twice or both: the pooled value lies inside
    assert low <= metrics["macro_f1"] <= high
    assert set(boot["per_label_f1"]) == set(LABELS)


def test_baselines_go_through_the_same_folds(seed_run):
    _, metrics = seed_run
    majority = metrics["baselines"]["majority class"]
    stratified = metrics["baselines"]["stratified random"]
    # each fold's majority baseline predicts one label, so at most one label per fold gets any F1
    assert sum(f1 > 0 for f1 in majority["per_label_f1"].values()) <= 2
    assert majority["macro_f1"] < metrics["macro_f1"] and stratified["macro_f1"] < metrics["macro_f1"]
    assert {"macro_f1_interval", "macro_f1_fold_mean", "macro_f1_fold_std", "accuracy"} <= set(stratified)


def test_predictions_calibration_and_mistakes_agree(seed_run):
    tmp, metrics = seed_run
    predictions = read_predictions(tmp / "run" / "predictions.jsonl")
    assert len(predictions.texts) == 55 and predictions.labels == LABELS
    matrix = metrics["confusion_matrix"]["matrix"]
    pairs = Counter(zip(predictions.y_true, predictions.y_pred))
    assert [[pairs[(t, p)] for p in LABELS] for t in LABELS] == matrix

    calibration = metrics["calibration"]
    assert calibration["score_method"] == "softmax(decision_function)"
    assert sum(b["count"] for b in calibration["bins"]) == 55
    assert (tmp / "run" / "reliability.png").read_bytes()[:4] == b"\x89PNG"

    mistakes = metrics["confident_mistakes"]
    assert len(mistakes) == 10 and all(m["label"] != m["predicted"] for m in mistakes)
    scores = [m["score"] for m in mistakes]
    assert scores == sorted(scores, reverse=True)
    column = {label: k for k, label in enumerate(LABELS)}
    wrong = [row[column[p]] for row, t, p in zip(predictions.scores, predictions.y_true, predictions.y_pred) if t != p]
    assert scores[0] == pytest.approx(max(wrong))


def test_report_has_every_section_and_the_run_names_its_model(seed_run):
    tmp, metrics = seed_run
    report = (tmp / "run" / "report.md").read_text()
    for heading in ("## Uncertainty", "## Baselines", "## Calibration", "## Most confident mistakes"):
        assert heading in report
    assert "| majority class |" in report and "rough" in report  # two documents only
    assert metrics["confident_mistakes"][0]["text"].replace("|", "\\|") in report
    assert (tmp / "run" / "model_dir.txt").read_text().strip() == str((tmp / "models" / "svc").resolve())
    saved = json.loads((tmp / "run" / "metrics.json").read_text())
    assert "timings" not in json.dumps(saved) and "seconds" not in json.dumps(saved)


def test_holdout_run_reports_baselines(tmp_path):
    lines = SEED_DATA.read_text(encoding="utf-8").splitlines()
    train_file, test_file = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train_file.write_text("\n".join(l for l in lines if '"000_' in l) + "\n", encoding="utf-8")
    test_file.write_text("\n".join(l for l in lines if '"001_' in l) + "\n", encoding="utf-8")
    metrics = train_with(tmp_path, ["data=seed", f"data.path={train_file}", f"data.test_path={test_file}"])
    assert set(metrics["baselines"]) == {"majority class", "stratified random"}
    assert "folds" not in metrics and metrics["bootstrap"]["n_documents"] == 1
    assert len(read_predictions(tmp_path / "run" / "predictions.jsonl").texts) == 27
    assert "27 sentences in 1 document." in (tmp_path / "run" / "report.md").read_text()  # was "1 documents"


def test_evaluate_reports_the_same_sections(tmp_path, trained_model):
    from pipeline.common.config import instantiate
    from pipeline.evaluation.saved_model import evaluate

    data = instantiate(compose("evaluate", [f"data.path={SEED_DATA}"]).data, "data")
    metrics = evaluate(model_dir=trained_model, data=data, out_dir=tmp_path)
    assert set(metrics["baselines"]) == {"majority class", "stratified random"}
    card = json.loads((trained_model / "model.json").read_text())
    majority_label = max(card["training_data"]["label_counts"].items(), key=lambda kv: kv[1])[0]
    assert metrics["baselines"]["majority class"]["accuracy"] == pytest.approx(
        sum(1 for line in SEED_DATA.read_text().splitlines() if json.loads(line)["label"] == majority_label) / 55
    )
    assert {"bootstrap", "calibration", "confident_mistakes"} <= set(metrics)
    assert len(read_predictions(tmp_path / "predictions.jsonl").texts) == 55
    assert "## Baselines" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_metrics_do_not_depend_on_the_blas_thread_count(tmp_path):
    """A joblib launcher worker runs with one BLAS thread, a plain run with every core."""
    from conftest import run_cli

    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / threads
        # One written file (406 sentences, many articles): enough for lbfgs to use BLAS, quick in CI.
        result = run_cli("train", "model=logreg", "features=word_tfidf", f"data.path={STARTER}", f"hydra.run.dir={out}",
                         f"paths.models_dir={tmp_path / 'models'}", f"run_name=blas{threads}",
                         env={"OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads})
        assert result.returncode == 0, result.stderr
        outputs.append((out / "metrics.json").read_text())
    assert outputs[0] == outputs[1]


def test_evaluating_a_model_on_its_own_training_data_says_so(tmp_path, trained_model):
    """`python -m pipeline.evaluate` on the data the model trained on scored 1.000 as if held out."""
    from pipeline.common.errors import PipelineWarning
    from pipeline.data.source import DataSource
    from pipeline.evaluation.saved_model import evaluate

    with pytest.warns(PipelineWarning, match="data.path: the model was trained on these sentences: its figures are "
                                             "not held out"):
        metrics = evaluate(model_dir=trained_model, data=DataSource(str(SEED_DATA)), out_dir=tmp_path / "own")
    assert metrics["protocol"].endswith(f"on {SEED_DATA} (it was trained on these sentences: not held out)")
    assert "(it was trained on these sentences: not held out)" in (tmp_path / "own" / "report.md").read_text()

    with warnings.catch_warnings():
        warnings.simplefilter("error", PipelineWarning)
        metrics = evaluate(model_dir=trained_model, data=DataSource(str(STARTER)), out_dir=tmp_path / "new")
    assert metrics["protocol"].endswith(f"on {STARTER}")


def test_a_model_trained_on_relative_paths_knows_its_files_when_evaluated_from_elsewhere(tmp_path, monkeypatch):
    from pipeline.common.errors import PipelineWarning
    from pipeline.data.source import DataSource
    from pipeline.evaluation.saved_model import evaluate

    rows = [json.loads(line) for line in SEED_DATA.read_text().splitlines()]
    (tmp_path / "data").mkdir()
    for name, doc in zip(("a.jsonl", "b.jsonl"), sorted({row["doc_id"] for row in rows})):
        write_jsonl(tmp_path / "data" / name, [row for row in rows if row["doc_id"] == doc])
    monkeypatch.chdir(tmp_path / "data")
    train_with(tmp_path, ["data=seed", "data.path=[a.jsonl,b.jsonl]", "features=word_tfidf"], run_name="rel")
    monkeypatch.chdir(tmp_path)  # evaluated elsewhere: a.jsonl here is no file of its training data
    with pytest.warns(PipelineWarning, match="data.path: the model was trained on these sentences"):
        evaluate(model_dir=tmp_path / "models" / "rel", data=DataSource(str(tmp_path / "data" / "a.jsonl")),
                 out_dir=tmp_path / "eval")


def test_a_mistake_row_keeps_its_five_cells_whatever_its_document_and_sentence_hold():
    from pipeline.reports.markdown import _render_mistakes

    mistake = {"score": 0.9, "label": "threat", "predicted": "reporting", "doc_id": "site|42\nb", "text": "a | b\r\nc"}
    row = _render_mistakes({"confident_mistakes": [mistake]})[-1]
    assert row == "| 0.900 | threat | reporting | site\\|42 b | a \\| b  c |"


def test_a_mistake_row_shows_html_in_a_sentence_and_document_id_as_text():
    from pipeline.reports.markdown import _render_mistakes

    mistake = {"score": 0.9, "label": "threat", "predicted": "reporting", "doc_id": "<i>a&b</i>",
               "text": "They wrote <script>alert(1)</script> & left."}
    row = _render_mistakes({"confident_mistakes": [mistake]})[-1]
    assert row == ("| 0.900 | threat | reporting | &lt;i&gt;a&amp;b&lt;/i&gt; | "
                   "They wrote &lt;script&gt;alert(1)&lt;/script&gt; &amp; left. |")
