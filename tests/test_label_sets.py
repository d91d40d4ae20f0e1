"""A data set's own label set (data.labels) flows through training, metrics, card and scoring."""

import csv
import io
import json

import pytest
from conftest import SEED_DATA, compose, train_with, write_jsonl

from pipeline.common.errors import PipelineError

THREE = ["reporting", "editorial_framing", "background_fact"]
OVERRIDES = ["data=seed", "data.labels=[reporting,editorial_framing,background_fact]",
             "data.label_map={threat: reporting}"]


@pytest.fixture(scope="module")
def three_label_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("three")
    metrics = train_with(tmp, OVERRIDES, run_name="three")
    return tmp / "models" / "three", metrics


def test_a_three_label_set_trains_and_reports_three_labels(three_label_model):
    folder, metrics = three_label_model
    assert list(metrics["per_label"]) == THREE
    assert metrics["confusion_matrix"]["labels"] == THREE
    assert len(metrics["confusion_matrix"]["matrix"]) == 3
    card = json.loads((folder / "model.json").read_text())
    assert sorted(card["labels"]) == sorted(THREE)
    assert set(card["training_data"]["label_counts"]) == set(THREE)


def test_scores_of_a_three_label_model_have_three_columns(three_label_model, capsys):
    from pipeline.score import main

    main(["--model", str(three_label_model[0]), "--text", "We will come. It rained.", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2
    assert {k for k in rows[0] if k.startswith("score_")} == {f"score_{l}" for l in THREE}
    assert all(r["label"] in THREE for r in rows)


def test_evaluating_a_three_label_model_on_threats_is_refused(tmp_path, three_label_model):
    from pipeline.common.config import instantiate
    from pipeline.evaluation.saved_model import evaluate

    data = instantiate(compose("evaluate", [f"data.path={SEED_DATA}"]).data, "data")
    with pytest.raises(PipelineError, match=r"labels \['threat'\] are not among the model's labels"):
        evaluate(model_dir=three_label_model[0], data=data, out_dir=tmp_path)


def test_a_model_of_other_labels_evaluates_on_a_file_of_them_without_data_labels(tmp_path):
    """A file labeled 'news', as the model was, was refused: unknown label 'news' (expected one of the four)."""
    from pipeline.common.config import instantiate
    from pipeline.evaluation.saved_model import evaluate

    news = {label: "news" for label in ("reporting", "editorial_framing", "background_fact")}
    train_with(tmp_path, ["data=seed", "features=word_tfidf", "data.labels=[threat,news]",
                          f"data.label_map={{{', '.join(f'{k}: {v}' for k, v in news.items())}}}"], run_name="news")
    rows = [json.loads(line) for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    rows = [dict(row, label=news.get(row["label"], row["label"])) for row in rows]
    other = write_jsonl(tmp_path / "news.jsonl", rows)
    data = instantiate(compose("evaluate", [f"data.path={other}"]).data, "data")  # the default four labels
    metrics = evaluate(model_dir=tmp_path / "models" / "news", data=data, out_dir=tmp_path / "eval")
    assert list(metrics["per_label"]) == ["threat", "news"] and metrics["n_sentences"] == len(rows)


def test_a_label_outside_the_set_names_the_row(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "We will strike.", "label": "threat", "doc_id": "a"}])
    with pytest.raises(PipelineError, match=r"line 1: unknown label 'threat' \(expected one of: reporting, "):
        train_with(tmp_path, ["data=seed", f"data.path={path}", "data.labels=[reporting,editorial_framing,background_fact]"])


def test_a_four_label_model_evaluates_on_three_label_data(tmp_path, trained_model):
    """Its threat predictions are mistakes with their scores; the KeyError 'threat' was a traceback."""
    import warnings

    from pipeline.common.config import instantiate
    from pipeline.evaluation.saved_model import evaluate

    data = instantiate(compose("evaluate", [f"data.path={SEED_DATA}", *OVERRIDES[1:]]).data, "data")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*do not sum to one")  # calibration judged 3 columns of 4
        metrics = evaluate(model_dir=trained_model, data=data, out_dir=tmp_path)
    assert list(metrics["per_label"]) == THREE
    # calibration judges all the model's probabilities, the threat column too
    assert list(metrics["calibration"]["brier_per_label"]) == [*THREE, "threat"]
    threats = [m for m in metrics["confident_mistakes"] if m["predicted"] == "threat"]
    assert threats and all(0 < m["score"] <= 1 for m in threats)
    assert "threat" in (tmp_path / "report.html").read_text(encoding="utf-8")
