"""Out-of-core training (experiment=out_of_core): sentences stay on disk and are read a batch at a time."""

import json
import warnings

import numpy as np
import pytest
from conftest import compose, run_cli, train_with, write_jsonl

from pipeline.common.errors import PipelineError
from pipeline.data.source import DataSource
from pipeline.models.streaming import BatchedSGDClassifier, StreamingPipeline

WORDS = ["port", "bridge", "ministry", "dam", "airport", "refinery", "border", "pipeline"]
TEMPLATES = {
    "threat": "They vowed to burn the {w} unless the {v} closed by {n}.",
    "reporting": "Officials said {n} people left the {w} near the {v} on Monday.",
    "editorial_framing": "The reckless plan for the {w} betrays the {v}, number {n}.",
    "background_fact": "The {w} was built in {n} beside the old {v}.",
}


def synthetic_rows(n: int, per_document: int = 6) -> list[dict]:
    """Every sentence distinct; about one in four carries another label than its template's, so
    models make mistakes."""
    labels = list(TEMPLATES)
    return [
        {"text": TEMPLATES[labels[i % 4]].format(w=WORDS[i % 8], v=WORDS[(i * 3) % 8], n=1900 + i),
         "label": labels[(i + (i * 7 % 13 < 3)) % 4], "doc_id": f"d{i // per_document}"}
        for i in range(n)
    ]


def streaming_estimator(batch_size=8, n_epochs=2, features=None):
    from sklearn.feature_extraction.text import HashingVectorizer

    features = features or HashingVectorizer(ngram_range=(1, 2), n_features=2**12, alternate_sign=False)
    clf = BatchedSGDClassifier(batch_size=batch_size, n_epochs=n_epochs, class_weight="balanced", random_state=0)
    return StreamingPipeline([("features", features), ("clf", clf)])


class Spy:
    """Records the length of every batch of sentences read from disk and hashed."""

    def __init__(self, monkeypatch):
        from sklearn.feature_extraction.text import HashingVectorizer

        from pipeline.data import lazy as lazy_corpus

        self.read, self.hashed = [], []
        rows, batches, transform = (lazy_corpus.ArrowTexts.rows, lazy_corpus.ArrowTexts.iter_batches,
                                    HashingVectorizer.transform)

        def spy_rows(texts, positions):
            out = rows(texts, positions)
            self.read.append(len(out))
            return out

        def spy_batches(texts, size=None):
            for batch in batches(texts, size):
                self.read.append(len(batch))
                yield batch

        def spy_transform(vectorizer, texts):
            self.hashed.append(len(texts))
            return transform(vectorizer, texts)

        monkeypatch.setattr(lazy_corpus, "SCAN_BATCH", 10)  # the loader, fingerprint and predictions.jsonl
        monkeypatch.setattr(lazy_corpus.ArrowTexts, "rows", spy_rows)
        monkeypatch.setattr(lazy_corpus.ArrowTexts, "iter_batches", spy_batches)
        monkeypatch.setattr(HashingVectorizer, "transform", spy_transform)


def test_streaming_fit_equals_partial_fit_over_the_same_batches_and_reads_one_batch_at_a_time(tmp_path, monkeypatch):
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.utils.class_weight import compute_class_weight

    rows = synthetic_rows(90)
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    corpus = DataSource(str(path)).load_train(lazy=True)
    assert not isinstance(corpus.texts, list) and len(corpus.texts) == 90
    spy = Spy(monkeypatch)
    model = streaming_estimator(batch_size=8, n_epochs=3).fit(corpus.inputs(), corpus.labels)
    assert spy.hashed == ([8] * 11 + [2]) * 3  # 90 sentences: 11 batches of 8 and one of 2, 3 epochs
    assert max(spy.read) == 8

    # The reference: every sentence hashed in memory, SGD partial_fit over the same shuffled batches.
    texts, y = [r["text"] for r in rows], np.array([r["label"] for r in rows])
    X = HashingVectorizer(ngram_range=(1, 2), n_features=2**12, alternate_sign=False).transform(texts)
    classes = np.unique(y)
    weights = dict(zip(classes, compute_class_weight("balanced", classes=classes, y=y)))
    reference = SGDClassifier(loss="log_loss", class_weight=weights, random_state=0)
    rng = np.random.RandomState(0)
    for _ in range(3):
        order = rng.permutation(90)
        for start in range(0, 90, 8):
            reference.partial_fit(X[order[start:start + 8]], y[order[start:start + 8]], classes=classes)
    clf = model.named_steps["clf"].classifier_
    assert np.array_equal(clf.coef_, reference.coef_) and np.array_equal(clf.intercept_, reference.intercept_)
    assert np.array_equal(model.predict_proba(texts), reference.predict_proba(X))
    assert np.array_equal(model.predict_proba(corpus.texts), reference.predict_proba(X))


def test_out_of_core_training_never_holds_all_sentences_and_matches_the_in_memory_pipeline(tmp_path, monkeypatch):
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import Pipeline

    from pipeline.training.run import train

    path = write_jsonl(tmp_path / "train.jsonl", synthetic_rows(120))
    estimator = streaming_estimator(batch_size=8)

    def run(estimator, name):
        return train(estimator=estimator, data=DataSource(str(path)),
                     splitter=StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0),
                     models_dir=tmp_path / "models", run_dir=tmp_path / name, run_name=name, config={}, seed=0)

    # The same steps in a plain Pipeline hash every sentence at once, from a list in memory.
    in_memory = run(Pipeline(clone(estimator).steps), "in-memory")
    spy = Spy(monkeypatch)
    streamed = run(estimator, "streamed")
    assert spy.hashed and max(spy.hashed) <= 10 and max(spy.read) <= 10  # 120 sentences, never more than 10
    assert streamed == in_memory
    assert 0 < streamed["macro_f1"] < 1
    streamed_files, in_memory_files = tmp_path / "streamed", tmp_path / "in-memory"
    assert (streamed_files / "predictions.jsonl").read_text() == (in_memory_files / "predictions.jsonl").read_text()
    assert (streamed_files / "report.md").read_text().replace("streamed", "in-memory") == (
        in_memory_files / "report.md").read_text()
    card = json.loads((tmp_path / "models" / "streamed" / "model.json").read_text())
    reference = json.loads((tmp_path / "models" / "in-memory" / "model.json").read_text())
    assert card["training_data"] == reference["training_data"] and card["input"] == "text"


def test_out_of_core_holdout_on_a_test_file(tmp_path):
    rows = synthetic_rows(96)
    train_file = write_jsonl(tmp_path / "train.jsonl", rows[:72])
    test_file = write_jsonl(tmp_path / "test.jsonl", rows[72:])
    metrics = train_with(tmp_path, ["experiment=out_of_core", f"data.path={train_file}",
                                    f"data.test_path={test_file}", "model.batch_size=16"])
    assert metrics["protocol"].endswith(f"tested on {test_file}") and metrics["n_sentences"] == 24
    predictions = (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in predictions] == [r["text"] for r in rows[72:]]


def test_only_stateless_features_with_a_batched_classifier_stream():
    from pipeline.training.setup import build_estimator

    def built(*overrides):
        cfg = compose("train", list(overrides))
        return build_estimator(cfg.features, cfg.model, cfg.get("calibration"))

    assert type(built("experiment=out_of_core")) is StreamingPipeline
    assert type(built("features=hashing", "model=sgd_streaming", "calibration=sigmoid")).__name__ == "Pipeline"
    assert type(built("features=word_tfidf", "model=sgd_streaming")).__name__ == "Pipeline"  # TF-IDF learns a vocabulary
    assert type(built("features=hashing", "model=sgd")).__name__ == "Pipeline"


def load_both(path, **options):
    """The eager and the lazy load of one file: (result or error message, warnings) each."""
    out = []
    for lazy in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                corpus = DataSource(str(path), **options).load_train(lazy=lazy)
                result = (list(corpus.texts), corpus.labels, corpus.groups, corpus.files, corpus.fingerprint())
            except PipelineError as exc:
                result = str(exc)
        out.append((result, [str(w.message) for w in caught if "PipelineWarning" in type(w.message).__name__]))
    return out


LINE = '{{"text": {t}, "label": {l}, "doc_id": {d}}}\n'


@pytest.mark.parametrize(
    "lines, options",
    [
        ([("a", "threat", "x"), ("b", "Threat ", "x"), ("c", "THREAT", "y"), ("d", "reporting", "y")], {}),
        ([("a", "threat", "x"), ("  ", "threat", "x")], {}),
        ([("a", "threat", "x"), (None, "threat", "x")], {}),
        ([("a", "threat", "x"), (7, "threat", "x")], {}),
        ([("a", "threat", "x"), ("b", "rant", "x"), ("  ", "threat", "x")], {}),
        ([("a", "threat", "x"), ("  ", "rant", "x")], {}),
        ([("a", "threat", "x"), ("b", None, "x")], {}),
        ([("a", "T", 1), ("b", "R", 2), ("c", "T", 2)], {"label_map": {"T": "threat", "R": "reporting"}}),
        ([("Same.", "threat", "x"), ("b", "reporting", "x"), (" Same.", "reporting", "x")], {}),
        ([("Same.", "threat", "x"), ("b", "reporting", "x"), ("Same.", "reporting", "x")],
         {"conflicting_labels": "warn"}),
        ([("Same.", "threat", "x"), ("Other.", "threat", "y"), ("Same.", "reporting", "y"),
          ("Other.", "reporting", "z")], {}),
        ([("a", "threat", None), ("b", "reporting", None), ("c", "threat", "None")], {}),
        ([("a", "threat", "x"), ("b", "reporting", "y")], {"group_column": None}),
        # A field holding other types on some lines: datasets reads the column as JSON text
        ([("a", "threat", "x"), (["b"], "threat", "x")], {}),
        ([("a", "threat", "x"), ("b", 3, "x"), ("c", "reporting", "y")], {}),
        ([("a", "threat", "x"), ("b", "reporting", 7), ("c", "reporting", 7)], {}),
    ],
)
def test_lazy_loading_reads_and_checks_files_like_the_in_memory_loader(tmp_path, lines, options):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(LINE.format(t=json.dumps(t), l=json.dumps(lab), d=json.dumps(d))
                                   for t, lab, d in lines), encoding="utf-8")
    eager, lazy = load_both(path, **options)
    assert lazy == eager


def test_lazy_loading_of_a_folder_and_of_parquet_matches(tmp_path):
    import pandas as pd

    write_jsonl(tmp_path / "a.jsonl", synthetic_rows(30))
    pd.DataFrame(synthetic_rows(50)[30:]).to_parquet(tmp_path / "b.parquet")
    eager, lazy = load_both(tmp_path)
    assert lazy == eager and len(lazy[0][0]) == 50
    texts = DataSource(str(tmp_path)).load_train(lazy=True).texts
    assert texts[-1] == texts[49] == eager[0][0][49] and texts[10:13].rows([2, 0]) == [eager[0][0][12], eager[0][0][10]]
    with pytest.raises(IndexError):
        texts[50]


@pytest.mark.slow
def test_out_of_core_cli_trains_on_parquet_and_the_saved_model_scores_a_file(tmp_path):
    import pandas as pd

    pd.DataFrame(synthetic_rows(200)).to_parquet(tmp_path / "train.parquet")
    run_dir, models = tmp_path / "run", tmp_path / "models"
    result = run_cli("train", "experiment=out_of_core", f"data.path={tmp_path / 'train.parquet'}",
                     "model.batch_size=32", f"hydra.run.dir={run_dir}", f"paths.models_dir={models}", "run_name=ooc")
    assert result.returncode == 0, result.stderr
    assert len((run_dir / "predictions.jsonl").read_text().splitlines()) == 200
    sentences = write_jsonl(tmp_path / "new.jsonl", [{"text": r["text"]} for r in synthetic_rows(12)])
    scored = run_cli("score", "--model", models / "ooc", sentences, "-o", tmp_path / "scored.jsonl")
    assert scored.returncode == 0, scored.stderr
    records = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    card = json.loads((models / "ooc" / "model.json").read_text())
    assert len(records) == 12 and all(r["label"] in card["labels"] for r in records)



INDEXED = '{{"text": {t}, "label": "threat", "doc_id": {d}, "sentence_index": {i}}}\n'
MUST = "line 2: 'sentence_index' must be a whole number >= 0, got "


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("a", "x", 0), ("b", "x", 1), ("c", "y", 0)], None),
        ([("a", "x", 0), ("b", "x", 1.0)], None),
        ([("a", "x", 0), ("b", "x", -1)], MUST + "-1"),
        ([("a", "x", 0), ("b", "x", 1.5)], MUST + "1.5"),
        ([("a", "x", 0), ("b", "x", "one")], MUST + "'one'"),
        ([("a", "x", 0), ("b", "x", True)], MUST + "True"),
        ([("a", "x", 0), ("b", "x", None)], MUST + "None"),
        ([("a", "x", 0), ("b", "x", 10**20)], "line 2: 'sentence_index' is out of range, got 1e+20"),
        ([("a", "x", 0), ("b", "x", 2**62)], "line 2: 'sentence_index' is out of range, got 4611686018427387904"),
        ([("a", "x", "0"), ("b", "x", "1")], "line 1: 'sentence_index' must be a whole number >= 0, got '0'"),
        ([("a", "x", 0), ("b", "x", 1), ("c", "x", 1)], "line 3: doc_id 'x' sentence_index 1 repeats"),
        ([("a", "x", 0), ("b", "y", 0), (" a", "x", 0)], None),  # the same sentence twice: a repeat
        ([("a", "x", 0), ("a ", "x", 0), ("b", "x", 0)], "line 3: doc_id 'x' sentence_index 0 repeats"),
    ],
)
def test_lazy_loading_checks_sentence_indices_like_the_in_memory_loader(tmp_path, rows, message):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(INDEXED.format(t=json.dumps(t), d=json.dumps(d), i=json.dumps(i)) for t, d, i in rows),
                    encoding="utf-8")
    eager, lazy = load_both(path, index_column="sentence_index")
    assert lazy == eager
    assert not isinstance(eager[0], str) if message is None else message in eager[0]


def test_lazy_loading_names_the_csv_cell_that_makes_sentence_index_text(tmp_path):
    """One cell such as 'abc' makes the column text: out of core named row 1 and its '0', as training once did."""
    path = tmp_path / "d.csv"
    path.write_text("text,label,doc_id,sentence_index\nOne.,threat,x,0\nTwo.,reporting,x,abc\n", encoding="utf-8")
    eager, lazy = load_both(path, index_column="sentence_index")
    assert lazy == eager
    assert "d.csv: row 2: 'sentence_index' must be a whole number >= 0, got 'abc'" in eager[0]
