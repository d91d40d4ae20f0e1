import json

import pytest
from conftest import train_with, write_jsonl

from pipeline import load_model
from pipeline.common.errors import PipelineError, PipelineWarning


def test_train_save_load_score_round_trip(tmp_path):
    metrics = train_with(tmp_path, ["data=seed"], run_name="first")
    folder = tmp_path / "models" / "first"
    card = json.loads((folder / "model.json").read_text())
    assert card["metrics"]["macro_f1"] == metrics["macro_f1"]
    assert card["labels"] == sorted(["threat", "reporting", "editorial_framing", "background_fact"])
    assert len(card["training_data"]["fingerprint"]) == 64
    assert card["config"]["model"]["_target_"] == "sklearn.linear_model.LogisticRegression"
    assert {"scikit-learn", "numpy", "joblib", "python"} <= set(card["versions"])
    assert (tmp_path / "models" / "latest").resolve() == folder.resolve()

    model = load_model(tmp_path / "models" / "latest")
    records = model.score_text("We will burn your city. The talks ended on Monday.", doc_id="new")
    assert [r["sentence_index"] for r in records] == [0, 1]
    assert records[0]["doc_id"] == "new"
    for record in records:
        assert record["label"] in model.labels
        assert abs(sum(record["scores"].values()) - 1) < 1e-5
    assert [r["label"] for r in model.predict_sentences(["We will burn your city."])] == [records[0]["label"]]


def test_seed_corpus_cross_validates_article_against_article(tmp_path):
    metrics = train_with(tmp_path, ["data=seed"])
    assert len(metrics["folds"]) == 2
    assert sorted(f["n_documents"] for f in metrics["folds"]) == [1, 1]
    assert sum(f["n_sentences"] for f in metrics["folds"]) == metrics["n_sentences"] == 55
    for name in ("metrics.json", "report.md", "confusion_matrix.png"):
        assert (tmp_path / "run" / name).is_file()


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    overrides = ["data=seed", "model=sgd", "seed=3"]
    train_with(tmp_path, overrides, run_name="a", run_dir=tmp_path / "a")
    train_with(tmp_path, overrides, run_name="b", run_dir=tmp_path / "b")
    assert (tmp_path / "a" / "metrics.json").read_text() == (tmp_path / "b" / "metrics.json").read_text()


def test_explicit_test_file_is_used_instead_of_cross_validation(tmp_path):
    from conftest import SEED_DATA

    lines = SEED_DATA.read_text(encoding="utf-8").splitlines()
    train_file, test_file = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train_file.write_text("\n".join(l for l in lines if '"000_' in l) + "\n", encoding="utf-8")
    test_file.write_text("\n".join(l for l in lines if '"001_' in l) + "\n", encoding="utf-8")
    metrics = train_with(tmp_path, ["data=seed", f"data.path={train_file}", f"data.test_path={test_file}"])
    assert metrics["n_sentences"] == 27
    assert "tested on" in metrics["protocol"]


@pytest.mark.parametrize("lazy", [False, True])
def test_without_a_group_column_a_test_file_named_as_the_training_file_shares_no_document(tmp_path, lazy):
    """Each row is its own document, named by its file and row: train/d.jsonl and test/d.jsonl were both
    'd:0', 'd:1', ..., and the run was refused as '27 documents also in the training data'."""
    from conftest import SEED_DATA

    lines = SEED_DATA.read_text(encoding="utf-8").splitlines()
    (tmp_path / "train").mkdir(), (tmp_path / "test").mkdir()
    train_file, test_file = tmp_path / "train" / "d.jsonl", tmp_path / "test" / "d.jsonl"
    train_file.write_text("\n".join(l for l in lines if '"000_' in l) + "\n", encoding="utf-8")
    test_file.write_text("\n".join(l for l in lines if '"001_' in l) + "\n", encoding="utf-8")
    metrics = train_with(tmp_path, ["data=seed", f"data.path={train_file}", f"data.test_path={test_file}",
                                    "data.group_column=null", "features=word_tfidf",
                                    *(["experiment=out_of_core"] if lazy else [])])
    assert metrics["n_sentences"] == 27 and "tested on" in metrics["protocol"]


def test_test_sentences_copied_from_training_sentences_are_warned_about(tmp_path):
    from conftest import SEED_DATA

    records = [json.loads(line) for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    train_file = write_jsonl(tmp_path / "train.jsonl", [r for r in records if r["doc_id"].startswith("000_")])
    copied = next(r for r in records if r["doc_id"].startswith("000_") and len(r["text"].split()) >= 4)
    test_file = write_jsonl(tmp_path / "test.jsonl", [*(r for r in records if r["doc_id"].startswith("001_")),
                                                      dict(copied, doc_id="copy", text=copied["text"].upper())])
    with pytest.warns(PipelineWarning, match="data.test_path: 1 test sentence also among the training sentences"):
        train_with(tmp_path, ["data=seed", f"data.path={train_file}", f"data.test_path={test_file}"])


def test_models_without_predict_proba_get_softmax_scores(tmp_path):
    train_with(tmp_path, ["data=seed", "model=linear_svc"], run_name="svc")
    model = load_model(tmp_path / "models" / "svc")
    assert model.card["score_method"] == "softmax(decision_function)"
    probabilities = model.predict_proba(["We will come for you.", "It rained."])
    assert probabilities.shape == (2, 4)
    assert abs(probabilities.sum(axis=1) - 1).max() < 1e-9


def test_bad_config_values_fail_before_anything_is_saved(tmp_path):
    with pytest.raises(PipelineError, match="config model.C"):
        train_with(tmp_path, ["data=seed", "model.C=-1"])
    with pytest.raises(PipelineError, match=r"config features.ngram_range: .*\[3, 1\]"):
        train_with(tmp_path, ["data=seed", "features=char_tfidf", "features.ngram_range=[3,1]"])
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_an_existing_model_folder_is_never_overwritten(tmp_path):
    train_with(tmp_path, ["data=seed"], run_name="same")
    before = (tmp_path / "models" / "same" / "model.json").read_text()
    with pytest.raises(PipelineError, match="already exists"):
        train_with(tmp_path, ["data=seed", "seed=5"], run_name="same")
    assert (tmp_path / "models" / "same" / "model.json").read_text() == before


def test_the_real_news_dev_set_as_data_is_refused_for_training(tmp_path):
    """data=ptc_dev is for evaluate: training on the yardstick would leave nothing to measure against."""
    from conftest import SEED_DATA

    dev = tmp_path / "dev.jsonl"
    dev.write_bytes(SEED_DATA.read_bytes())
    with pytest.raises(PipelineError, match=r"the training data holds \d+ documents? of the real-news dev set "):
        train_with(tmp_path, ["data=ptc_dev", f"paths.ptc_dev={dev}", "features=word_tfidf"])
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("value", ["abc", "null", "1.5", "true", "-1"])
def test_a_seed_that_is_not_a_whole_number_is_named_as_seed(tmp_path, value):
    """Not int()'s traceback, nor an error about model.random_state, which the user never set."""
    with pytest.raises(PipelineError, match=r"config seed: must be a whole number from 0 to 4294967295, got"):
        train_with(tmp_path, ["data=seed", f"seed={value}"])


def test_labels_no_training_sentence_carries_are_warned_about(tmp_path):
    """Two labels of four in the data: macro-F1 over all four halves silently unless the user hears why."""
    from conftest import SEED_DATA

    from pipeline.common.errors import PipelineWarning

    rows = [json.loads(line) for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    data = tmp_path / "two.jsonl"
    data.write_text("".join(json.dumps(dict(r, label="threat" if r["label"] == "threat" else "reporting")) + "\n"
                            for r in rows), encoding="utf-8")
    with pytest.warns(PipelineWarning, match="data.labels: no training sentence is labeled 'editorial_framing', "
                                             "'background_fact'; each counts as F1 0 in macro-F1"):
        train_with(tmp_path, [f"data.path={data}", "features=word_tfidf"])
