"""Discourse context features, the records input they need, and models that use them."""

import json

import pytest
from conftest import SEED_DATA, train_with, write_jsonl

from pipeline import load_model
from pipeline.common.errors import PipelineError
from pipeline.data.corpus import document_positions
from pipeline.data.records import (
    RECORDS,
    TEXT,
    frame_from_items,
    input_kind,
    sentence_frame,
)
from pipeline.data.source import DataSource


def features_of(frame, **params):
    from pipeline.features.discourse import DiscourseFeatures

    transformer = DiscourseFeatures(**params).fit(frame)
    names = list(transformer.get_feature_names_out())
    matrix = transformer.transform(frame).toarray()
    return [{n for n, v in zip(names, row) if v} for row in matrix]


ARTICLE = sentence_frame(
    ["Rebels seized the town on Monday, officials said.",
     "“We will not stop,” their leader told reporters. “You cannot hide.",
     "Nobody is safe.”",
     "The town was founded in 1820."],
    doc_ids=["a"] * 4, indices=[0, 1, 2, 3], n_sentences=[4] * 4, paragraphs=[0, 1, 1, 2],
)


def test_position_paragraph_and_quotation_cues():
    lede, quote, inside, last = features_of(ARTICLE)
    assert {"index_0-0", "relative_0-0.1", "paragraph_start", "paragraph_first_of_article",
            "attribution", "date"} <= lede
    assert {"quote_mark", "we_future", "second_person", "attribution", "paragraph_start"} <= quote
    # The third sentence continues the quotation the second one opened.
    assert "inside_quote" in inside and "paragraph_start" not in inside and "inside_quote" not in quote
    assert {"last_sentence", "year", "number", "index_2-3", "relative_0.75-1"} <= last
    assert "inside_quote" not in last


def test_a_bare_sentence_carries_no_position_evidence():
    (bare,) = features_of(sentence_frame(["We will burn your city."]))
    assert not any(n.startswith(("index_", "relative_", "paragraph", "last_")) for n in bare)
    assert {"we_future", "second_person"} <= bare


def test_threat_frames_join_a_menace_verb_or_a_condition_to_harm():
    frames = [{n for n in row if n.startswith("frame_")} for row in features_of(sentence_frame([
        "Militants vowed on Monday to kill the hostages unless the ransom is paid.",
        "If you come back, we will burn your city.",
        "He warned that prices would rise.",
        "The weather service warned of heavy rain.",
        "Officials counted the votes.",
    ]), threat_frames=True)]
    assert frames[0] == {"frame_menace_harm", "frame_menace_clause", "frame_menace_clause_harm"}
    assert frames[1] == {"frame_conditional_harm", "frame_future_harm"}
    assert frames[2] == {"frame_menace_clause"}  # its content is no harm
    assert frames[3] == frames[4] == set()  # a warning of weather takes no clause and names no harm


def test_a_context_model_saved_before_threat_frames_scores_without_them():
    import pickle

    from pipeline.features.discourse import FastDiscourseFeatures

    new = FastDiscourseFeatures(neighbours=True, neighbour_min_df=1).fit(ARTICLE)
    old = pickle.loads(pickle.dumps(new))
    del old.__dict__["threat_frames"]  # what unpickling a model saved before the option gives
    assert old.get_params()["threat_frames"] is False
    assert (old.transform(ARTICLE) != new.transform(ARTICLE)).nnz == 0
    assert list(old.get_feature_names_out()) == list(new.get_feature_names_out())


def test_neighbours_come_from_the_same_document_in_article_order():
    frame = sentence_frame(["alpha one", "beta two", "gamma three"], doc_ids=["a", "b", "a"],
                           indices=[1, 0, 0], n_sentences=[2, 1, 2])
    rows = features_of(frame, position=False, cues=False, neighbours=True, neighbour_min_df=1)
    assert rows[0] == {"before:gamma", "before:three"}  # index 0 of doc a comes first
    assert rows[1] == set()  # alone in doc b: nothing from doc a leaks in
    assert rows[2] == {"after:alpha", "after:one"}


def test_context_features_read_plain_text_as_bare_sentences():
    from pipeline.features.discourse import DiscourseFeatures

    texts = ["We will burn your city.", "It rained."]
    features = DiscourseFeatures().fit(texts)
    assert (features.transform(texts) != features.transform(sentence_frame(texts))).nnz == 0


def test_input_kind_follows_the_features():
    from conftest import compose

    from pipeline.training.setup import build_estimator

    for features, kind in [("word_char_tfidf", TEXT), ("word_char_tfidf_context", RECORDS)]:
        cfg = compose("train", [f"features={features}"])
        assert input_kind(build_estimator(cfg.features, cfg.model)) == kind


def test_scored_items_get_article_length_from_their_indices():
    frame = frame_from_items([("d", 0, "A."), ("d", 4, "B."), ("e", 2, "C.", {"n_sentences": 9, "paragraph": 1})])
    assert frame["n_sentences"].tolist() == [5, 5, 9]
    assert frame["paragraph"].tolist() == [-1, -1, 1]


def test_positions_come_from_the_index_column_or_row_order(tmp_path):
    assert document_positions(["a", "b", "a", "a"]) == ([0, 0, 1, 2], [3, 1, 3, 3])
    # A corpus that skips sentences keeps its numbering; the length is the largest index + 1.
    assert document_positions(["a", "a"], [1, 4]) == ([1, 4], [5, 5])
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"text": "One.", "label": "threat", "doc_id": "x", "n": 3},
        {"text": "Two.", "label": "reporting", "doc_id": "x", "n": 1},
    ])
    corpus = DataSource(str(path), index_column="n").load_train()
    assert (corpus.positions, corpus.doc_lengths) == ([3, 1], [4, 4])
    records = corpus.inputs(RECORDS)
    assert records["sentence_index"].tolist() == [3, 1] and records["doc_id"].tolist() == ["x", "x"]
    assert corpus.inputs(TEXT) == ["One.", "Two."]
    no_column = DataSource(str(path), index_column="sentence_index").load_train()
    assert no_column.positions == [0, 1]


def test_a_bad_index_value_names_the_row(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"text": "One.", "label": "threat", "doc_id": "x", "sentence_index": 0},
        {"text": "Two.", "label": "reporting", "doc_id": "x", "sentence_index": -2},
    ])
    with pytest.raises(PipelineError, match=r"d.jsonl: line 2: 'sentence_index' must be a whole number"):
        DataSource(str(path), index_column="sentence_index").load_train()


@pytest.fixture(scope="module")
def context_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("context")
    metrics = train_with(tmp, ["data=seed", "features=word_char_tfidf_context"], run_name="ctx")
    return tmp / "models" / "ctx", metrics


def test_a_context_model_trains_saves_and_scores_articles(context_model):
    folder, metrics = context_model
    card = json.loads((folder / "model.json").read_text())
    assert card["input"] == RECORDS
    assert card["metrics"]["macro_f1"] == metrics["macro_f1"] and len(metrics["folds"]) == 2
    model = load_model(folder)
    records = model.score_text("Rebels seized the town.\n\n“We will burn your city,” he said.")
    assert [r["sentence_index"] for r in records] == [0, 1]
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-5 for r in records)  # each score rounded to 6 places
    # Bare sentences work too, and match an article's sentence only in their text.
    assert model.predict_proba(["We will burn your city."]).shape == (1, 4)


def test_the_saved_pipeline_takes_bare_sentences_and_records(context_model, tmp_path, monkeypatch):
    """model.joblib is the whole inference path for a context model too: a list of str scores
    bare sentences (no article), a records table scores sentences in their article, and records
    are transformed exactly as by the ColumnTransformer context models were built on before."""
    import joblib
    import numpy as np
    from sklearn.compose import ColumnTransformer

    folder = context_model[0]
    pipeline = joblib.load(folder / "model.joblib")
    sentences = ["We will burn your city.", "The talks ended on Monday.", "It was a shameful betrayal."]
    bare = pipeline.predict_proba(sentences)
    assert bare.shape == (3, 4) and np.allclose(bare.sum(axis=1), 1)
    np.testing.assert_array_equal(bare, pipeline.predict_proba(sentence_frame(sentences)))
    assert list(pipeline.predict(sentences)) == list(pipeline.classes_[bare.argmax(axis=1)])

    records = frame_from_items([("d", i, s) for i, s in enumerate(sentences)])
    in_article = pipeline.predict_proba(records)
    items = [("d", i, s) for i, s in enumerate(sentences)]
    np.testing.assert_array_equal(in_article, load_model(folder).predict_items(items))
    assert abs(in_article - bare).max() > 1e-6  # the positions count

    features = pipeline.named_steps["features"]
    plain = ColumnTransformer.__new__(ColumnTransformer)
    plain.__dict__.update(features.__dict__)
    assert (plain.transform(records) != features.transform(records)).nnz == 0

    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "empty.json"))  # loads model.skops
    checked = load_model(folder)
    assert checked.loaded_with == "skops"
    np.testing.assert_allclose(checked.estimator.predict_proba(sentences), bare, atol=1e-12)


def test_a_context_model_uses_the_position(context_model):
    model = load_model(context_model[0])
    sentence = "The group has carried out attacks in the region before."
    lede = model.predict_proba(sentence_frame([sentence], ["d"], [0], [30]))
    late = model.predict_proba(sentence_frame([sentence], ["d"], [25], [30]))
    assert abs(lede - late).max() > 1e-3


def test_text_models_keep_taking_plain_sentences(tmp_path):
    train_with(tmp_path, ["data=seed", "features=word_tfidf"], run_name="plain")
    model = load_model(tmp_path / "models" / "plain")
    assert model.card["input"] == TEXT and model.input_kind == TEXT
    texts = ["We will come for you.", "It rained."]
    assert (model.predict_proba(texts) == model.estimator.predict_proba(texts)).all()


def test_score_cli_with_a_context_model_keeps_ids(tmp_path, context_model, capsys):
    from pipeline.score import main

    path = write_jsonl(tmp_path / "s.jsonl", [
        {"text": "We will burn it down.", "doc_id": "art7", "sentence_index": 4},
        {"text": "The minister resigned.", "doc_id": "art7", "sentence_index": 5},
    ])
    main(["--model", str(context_model[0]), str(path), "--format", "jsonl"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["doc_id"], r["sentence_index"]) for r in records] == [("art7", 4), ("art7", 5)]


def test_evaluate_feeds_records_to_a_context_model(tmp_path, context_model):
    from conftest import compose

    from pipeline.common.config import instantiate
    from pipeline.evaluation.saved_model import evaluate

    cfg = compose("evaluate", [f"data.path={SEED_DATA}"])
    metrics = evaluate(model_dir=context_model[0], data=instantiate(cfg.data, "data"), out_dir=tmp_path)
    assert metrics["n_sentences"] == 55 and metrics["macro_f1"] > 0.5  # its own training data


def test_context_scores_do_not_depend_on_the_batch_size(tmp_path):
    """A context model reads neighbours and article length: batches must not split articles."""
    import json

    from conftest import ROOT, train_with

    from pipeline.score import main

    train_with(tmp_path, ["data=seed", "features=word_char_tfidf_context", "save_skops=false"], run_name="ctx")
    outputs = []
    for size in (1000, 3):
        out = tmp_path / f"b{size}.jsonl"
        main(["--model", str(tmp_path / "models" / "ctx"), str(ROOT / "seeds"), "--batch-size", str(size),
              "-o", str(out)])
        outputs.append([json.loads(line) for line in out.read_text().splitlines()])
    assert len(outputs[0]) == 55
    assert outputs[0] == outputs[1]
