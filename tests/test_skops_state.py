"""model.skops stores vocabularies as arrays (pipeline.skops_state) and still loads only trusted types."""

import hashlib
import json
import zipfile

import numpy as np
import pytest

from pipeline import load_model
from pipeline.artifacts.folder import save_model
from pipeline.artifacts.skops_state import ArrayVocabulary, compact, expand
from pipeline.artifacts.trust_store import STORE_ENV
from pipeline.common.errors import PipelineError

LABELS = ["threat", "reporting", "editorial_framing", "background_fact"]


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    """A machine that trusts none of the models: they load from model.skops."""
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "other-machine" / "trusted.json"))


def corpus(n=3000, seed=0):
    """Sentences over a vocabulary of made-up words (accents and an emoji included), 4 labels."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}é" if i % 7 == 0 else f"w{i}" for i in range(6000)] + ["naïve", "façade", "😀x"]
    texts = [" ".join(rng.choice(words, size=12)) for _ in range(n)]
    labels = [LABELS[i % 4] for i in range(n)]
    return texts, labels


def word_char_model():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    texts, labels = corpus()
    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4))),
    ])
    return Pipeline([("features", features), ("clf", LogisticRegression(max_iter=200))]).fit(texts, labels)


def card_for(estimator):
    return {"labels": [str(c) for c in estimator.classes_], "input": "text"}


@pytest.fixture(scope="module")
def fitted():
    return word_char_model()


@pytest.fixture
def saved(fitted, tmp_path):
    return save_model(fitted, card_for(fitted), tmp_path / "models", "big")


def test_a_large_vocabulary_round_trips_through_skops_with_the_same_probabilities(fitted, saved, empty_store):
    texts, _ = corpus(200, seed=1)
    loaded = load_model(saved)
    assert loaded.loaded_with == "skops"
    assert np.array_equal(loaded.estimator.predict_proba(texts), fitted.predict_proba(texts))
    for name in ("word", "char"):
        vocabulary = loaded.estimator.named_steps["features"].named_transformers[name].vocabulary_
        assert type(vocabulary) is dict
        assert vocabulary == fitted.named_steps["features"].named_transformers[name].vocabulary_
    assert len(fitted.named_steps["features"].named_transformers["word"].vocabulary_) > 30_000


def test_model_skops_holds_the_vocabulary_as_arrays_not_a_node_per_term(fitted, saved):
    with zipfile.ZipFile(saved / "model.skops") as archive:
        schema = archive.read("schema.json").decode("utf-8")
        names = archive.namelist()
    assert len(schema) < 500_000  # a node per term: about 200 bytes for each of the 30,000+ terms
    assert "w123 w45" not in schema and '"naïve"' not in schema
    assert schema.count("pipeline.artifacts.skops_state") == 2 and schema.count("ArrayVocabulary") == 2
    assert sum(name.endswith(".npy") for name in names) >= 4  # text and ends of both vocabularies


def test_saving_leaves_the_fitted_model_untouched(fitted, tmp_path):
    word = fitted.named_steps["features"].named_transformers["word"]
    vocabulary = word.vocabulary_
    packed = compact(fitted)
    assert word.vocabulary_ is vocabulary and type(vocabulary) is dict
    packed_word = packed.named_steps["features"].named_transformers["word"]
    assert isinstance(packed_word.vocabulary_, ArrayVocabulary) and packed_word is not word
    assert packed.named_steps["clf"] is fitted.named_steps["clf"]  # nothing else is copied
    assert packed_word.idf_ is word.idf_
    assert expand(packed).named_steps["features"].named_transformers["word"].vocabulary_ == vocabulary


def test_an_older_skops_file_with_a_dict_vocabulary_still_loads(fitted, saved, empty_store):
    import skops.io

    (saved / "model.skops").unlink()
    skops.io.dump(fitted, saved / "model.skops")  # as model.skops was written before
    card = json.loads((saved / "model.json").read_text())
    card["skops_sha256"] = hashlib.sha256((saved / "model.skops").read_bytes()).hexdigest()
    (saved / "model.json").write_text(json.dumps(card))
    texts, _ = corpus(50, seed=2)
    loaded = load_model(saved)
    assert loaded.loaded_with == "skops"
    assert np.array_equal(loaded.estimator.predict_proba(texts), fitted.predict_proba(texts))


def rewrite_schema(folder, change):
    """Apply `change` to model.skops's schema.json text and record the new sha256 in the card."""
    skops_file = folder / "model.skops"
    with zipfile.ZipFile(skops_file) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries["schema.json"] = change(entries["schema.json"].decode("utf-8")).encode("utf-8")
    with zipfile.ZipFile(skops_file, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    card = json.loads((folder / "model.json").read_text())
    card["skops_sha256"] = hashlib.sha256(skops_file.read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(card))


@pytest.mark.parametrize("module, name, refused", [
    ("pipeline.artifacts.model", "Model", "pipeline.artifacts.model.Model"),  # a project class, but not an array holder
    ("builtins", "eval", "builtins.eval"),
    ("pipeline.artifacts.skops_state", "compact", "pipeline.artifacts.skops_state.compact"),
])
def test_a_tampered_vocabulary_type_is_refused(saved, empty_store, module, name, refused):
    rewrite_schema(saved, lambda text: text.replace('"pipeline.artifacts.skops_state"', json.dumps(module))
                   .replace('"ArrayVocabulary"', json.dumps(name)))
    with pytest.raises(PipelineError, match=f"refusing to load types that are not trusted: .*{refused}"):
        load_model(saved)


def test_tampered_vocabulary_arrays_are_refused(saved, empty_store):
    # Point the first vocabulary's "ends" at its "text" array: a uint8 array where int64 is required.
    def swap(text):
        schema = json.loads(text)
        node = find_vocabulary(schema)["content"]["content"]
        node["ends"] = node["text"]
        return json.dumps(schema)

    rewrite_schema(saved, swap)
    with pytest.raises(PipelineError, match="model.skops: cannot load .*'ends' must be a 1-D int64 array"):
        load_model(saved)


def find_vocabulary(node):
    if isinstance(node, dict):
        if node.get("__class__") == "ArrayVocabulary":
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = find_vocabulary(child)
        if found is not None:
            return found
    return None


def test_array_vocabulary_keeps_every_term_and_column():
    vocabulary = {"b": 2, "a": 0, "naïve façade": 1, "😀": 3, "": 4}
    packed = ArrayVocabulary.from_mapping(vocabulary)
    assert len(packed) == 5 and packed.to_dict() == vocabulary
    assert ArrayVocabulary.from_mapping({}).to_dict() == {}


@pytest.mark.parametrize("vocabulary", [
    {"a": 0, "b": 0},  # one column twice
    {"a": 0, "b": 2},  # a gap
    {"a": 0.0},  # not a column number
    {"a": True},
    {1: 0},  # not a term
])
def test_vocabularies_that_are_not_plain_columns_stay_dicts(vocabulary):
    assert ArrayVocabulary.from_mapping(vocabulary) is None


def test_array_vocabulary_refuses_inconsistent_arrays():
    text = np.frombuffer(b"abc", dtype=np.uint8)
    with pytest.raises(ValueError, match="expected exactly"):
        ArrayVocabulary.__new__(ArrayVocabulary).__setstate__({"text": text, "ends": np.array([3]), "x": 1})
    with pytest.raises(ValueError, match="'text' must be a 1-D uint8 array"):
        ArrayVocabulary(np.array([97.0]), np.array([1]))
    with pytest.raises(ValueError, match="do not match"):
        ArrayVocabulary(text, np.array([1, 5])).to_dict()
    with pytest.raises(ValueError, match="appears twice"):
        ArrayVocabulary(np.frombuffer(b"aa", dtype=np.uint8), np.array([1, 2])).to_dict()
