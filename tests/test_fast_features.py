"""The faster feature classes give exactly what the classes they replace give.

FastTfidfVectorizer is pinned to scikit-learn's TfidfVectorizer, FastDiscourseFeatures to
DiscourseFeatures and the batch cue search to the cue regexes themselves: the same vocabulary,
idf, matrix entries (in the same order) and dtypes, on awkward text and in any batches.
"""

import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.data.records import sentence_frame
from pipeline.features import tfidf
from pipeline.features.discourse import (
    CUE_WORDS,
    CUES,
    FRAME_PARTS,
    FRAME_WORDS,
    DiscourseFeatures,
    FastDiscourseFeatures,
    _cue_search,
)
from pipeline.features.tfidf import FastTfidfVectorizer
from pipeline.features.typography import plain_lowercase
from pipeline.features.words import batch_words

# Text that stresses tokenizers, case folding and n-gram cutting.
AWKWARD = [
    "",
    "   ",
    "!!! ... ??? —",
    "Café déjà vu: naïve coöperation, façade, São Paulo, Zürich.",
    "東京で会議が開かれた。北京和上海也参加了会议。",
    "Emoji 🙂🙂 and flags 🇫🇷 next to words🔥fire.",
    "مرحبا بالعالم، قال المتحدث يوم الاثنين.",
    "שלום עולם, אמר הדובר.",
    "the the the the the the the the the the the the",
    "A A a a Aa aA — repeated, repeated; REPEATED.",
    "tabs\tand\nnewlines\r\nand\u00a0no-break\u2003em spaces",
    "Kelvin \u212a and long \u017f, dotted \u0130stanbul, dotless \u0131, German straße STRASSE.",
    "Digits 1990s 2024 ٣٤٥ ①② x² 1,200.50 $5m 7%",
    "under_score __init__ snake_case CamelCase",
    "O'Brien won't say “we’ll strike” nor 'we will' ``quoted'' «guillemets» ‘single’.",
    "a b c d e f g h i j k",
    "Long " + " ".join(f"word{i % 37} wörd{i % 11}" for i in range(400)) + ".",
    "x" * 3000,
    "\ud800 lone surrogate \udfff inside",
]
NEWS = [
    "Rebels seized the town on Monday, officials said.",
    "“We will not stop,” their leader told reporters. “You cannot hide.",
    "Nobody is safe.”",
    "The town was founded in 1820 and has been rebuilt twice since.",
    "Critics say the government had ignored the warnings for decades.",
    "According to the ministry, 4,000 people have fled; prices rose 12 percent.",
    "Will they attack again? Analysts expect a long siege!",
]
TEXTS = NEWS + AWKWARD

VECTORIZERS = [
    # the default model's char part: lower-cased with plain typography
    dict(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, preprocessor=plain_lowercase),
    dict(ngram_range=(1, 2), sublinear_tf=True),  # its word part
    dict(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),  # lower-cased only
    dict(min_df=2, sublinear_tf=True),  # its neighbour words
    dict(analyzer="char_wb", ngram_range=(1, 3), lowercase=False),
    dict(analyzer="char_wb", ngram_range=(4, 6), binary=True, norm=None),  # short words kept whole
    dict(analyzer="char_wb", ngram_range=(2, 4), strip_accents="unicode", max_df=0.5),
    dict(ngram_range=(2, 2), stop_words="english"),
    dict(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", lowercase=False),
    dict(ngram_range=(1, 2), max_features=40, use_idf=False),
    dict(ngram_range=(1, 2), vocabulary=["town", "the town", "said", "officials said", "zz", "a b c"]),
    dict(analyzer="char_wb", ngram_range=(1, 4), vocabulary=[" th", "the", "own ", "x", " a ", "東京"]),
    dict(ngram_range=(1, 3)),  # counted by scikit-learn's own code
    dict(analyzer="char", ngram_range=(2, 3)),  # likewise
    dict(ngram_range=(1, 2), preprocessor=plain_lowercase),  # words from the shared cut: no mapped character is a word character
]


def assert_same_transform(ours, theirs, texts):
    """Both transform `texts` to the same matrix, or both refuse them with the same error."""
    try:
        expected = theirs.transform(texts)
    except ValueError as error:
        with pytest.raises(ValueError, match=re.escape(str(error))):
            ours.transform(texts)
        return
    assert_same_matrix(ours.transform(texts), expected)


def assert_same_matrix(ours, theirs):
    assert type(ours) is type(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    for part in ("indptr", "indices", "data"):
        assert getattr(ours, part).dtype == getattr(theirs, part).dtype, part
        np.testing.assert_array_equal(getattr(ours, part), getattr(theirs, part), err_msg=part)


@pytest.fixture(params=["looked up", "key tables"])
def tables(request, monkeypatch):
    """Score through string lookups (as for a few sentences) or through the key tables."""
    if request.param == "key tables":
        monkeypatch.setattr(tfidf, "_table", lambda vectorizer, build, lookups: build(vectorizer))
    else:
        monkeypatch.setattr(tfidf, "_table", lambda vectorizer, build, lookups: None)
    return request.param


def params_id(params: dict) -> str:
    return ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in params.items())  # the same in every worker


@pytest.mark.parametrize("params", VECTORIZERS, ids=params_id)
def test_fast_tfidf_fits_and_transforms_like_scikit_learn(params, tables):
    train, test = TEXTS[::2] + NEWS, TEXTS[1::2]
    theirs, ours = TfidfVectorizer(**params), FastTfidfVectorizer(**params)
    assert_same_matrix(ours.fit_transform(train), theirs.fit_transform(train))
    assert list(ours.vocabulary_.items()) == list(theirs.vocabulary_.items())  # order and values
    assert [type(c) for c in ours.vocabulary_.values()] == [type(c) for c in theirs.vocabulary_.values()]
    if hasattr(theirs, "idf_"):
        np.testing.assert_array_equal(ours.idf_, theirs.idf_)
    names = ours.get_feature_names_out()
    assert names.dtype == object and names.tolist() == theirs.get_feature_names_out().tolist()
    for batch in (test, test[::-1], test[:1], [], TEXTS):
        assert_same_transform(ours, theirs, batch)


@pytest.mark.parametrize("size", [1, 3, 7, 100])
def test_batches_of_any_size_and_order_give_the_rows_of_the_whole(size):
    texts = TEXTS * 3
    random.Random(size).shuffle(texts)
    for params in VECTORIZERS[:4]:
        reference = TfidfVectorizer(**params).fit(NEWS + AWKWARD[:8])
        vectorizer = FastTfidfVectorizer(**params).fit(NEWS + AWKWARD[:8])
        whole = reference.transform(texts)
        for start in range(0, len(texts), size):
            assert_same_matrix(vectorizer.transform(texts[start:start + size]), whole[start:start + size])


def test_tokens_shared_between_vectorizers_only_when_they_tokenize_alike():
    texts = ["Word WORD word", "Other Words here"]
    lower = FastTfidfVectorizer().fit(texts)
    cased = FastTfidfVectorizer(lowercase=False).fit(texts)
    lower.transform(texts)  # leaves its tokens for a vectorizer reading the same texts
    assert_same_matrix(cased.transform(texts), TfidfVectorizer(lowercase=False).fit(texts).transform(texts))
    assert_same_matrix(lower.transform(texts), TfidfVectorizer().fit(texts).transform(texts))


def test_scoring_tables_are_never_saved_with_the_model():
    import pickle

    vectorizer = FastTfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).fit(NEWS)
    before = pickle.dumps(vectorizer)
    for _ in range(3):  # enough lookups to build the table
        vectorizer.transform(TEXTS * 20)
    assert pickle.dumps(vectorizer) == before


texts_strategy = st.lists(
    st.one_of(
        st.text(max_size=80),
        st.lists(st.sampled_from(TEXTS + ["we", "We'll", "ſaid", "SAID", "had been", "\u212aing", "1990s"]),
                 max_size=6).map(" ".join),
    ),
    min_size=1, max_size=12,
)


@given(texts_strategy, texts_strategy)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fast_tfidf_matches_scikit_learn_on_random_text(train, test):
    for params in VECTORIZERS[:3]:
        try:
            theirs = TfidfVectorizer(**params).fit(train)
        except ValueError as error:  # an empty vocabulary: ours must refuse alike
            with pytest.raises(ValueError, match=re.escape(str(error))):
                FastTfidfVectorizer(**params).fit(train)
            continue
        ours = FastTfidfVectorizer(**params).fit(train)
        assert list(ours.vocabulary_.items()) == list(theirs.vocabulary_.items())
        for _ in range(2):  # the second pass goes through the key tables for small vocabularies
            assert_same_transform(ours, theirs, test)


# ---------------------------------------------------------------- cues
SEARCH = _cue_search()  # the cues, then the threat frames' parts, as the fast features search them
REGEXES = [re.compile(pattern, re.IGNORECASE) for pattern in [*CUES.values(), *FRAME_PARTS.values()]]
CUE_PIECES = sorted({w for words in [*CUE_WORDS.values(), *FRAME_WORDS.values()] for w in words} | {
    "we", "We", "WE", "we'll", "we’ll", "will", "are going to", "had", "been", "walked", "taken", "has", "have",
    "'ve", "’ve", "we've been", "They’ve walked", "per cent", "percent", "$", "€", "%", "1999", "2024s", "1850", "٢٠٢٤", "?", "!", "“", "”", "\"",
    "''", "``", "‘", "«", "»", "ſaid", "\u212aNOW", "İ", "ı", "Said", "SAYS", "saying", "unsaid", "said_", "x1",
    "according", "to", "last", "week", "won't", "won’t", "ought", "need", "needs", "going", "appears", "appear",
    "decades", "critics", "analysts", "expects", "a", "the", ",", ".", "'", "’", "\n", "\t", " ",
    "that", "them", "on", "Monday", "VOWED", "Threatened", "warned-to", "vowed_to", "wipe", "out", "or", "else",
    "’ll", "killers", "unpaid",
})
cue_text = st.lists(st.tuples(st.sampled_from(CUE_PIECES), st.sampled_from([" ", "", "  ", ",", "\n"])),
                    max_size=12).map(lambda pieces: "".join(piece + gap for piece, gap in pieces))


@given(st.lists(st.one_of(cue_text, st.text(max_size=60)), max_size=10))
@settings(max_examples=300, deadline=None)
def test_batch_cue_search_answers_as_each_regex_does(texts):
    expected = [[regex.search(text) is not None for regex in REGEXES] for text in texts]
    for words in (None, batch_words(texts)):  # reading the texts, or the batch's shared cut
        found = SEARCH.found(texts, words)
        assert found.shape == (len(texts), len(CUES) + len(FRAME_PARTS))
        assert found.tolist() == expected


def test_letters_that_match_ascii_letters_ignoring_case_are_word_characters():
    # Why a listed word matches as a whole \w run: no non-word character matches its letters.
    letter, word = re.compile("[a-z]", re.IGNORECASE), re.compile(r"\w")
    assert all(word.match(chr(c)) for c in range(0x110000) if letter.match(chr(c)))


# ---------------------------------------------------------------- discourse features
def frame_of(rows):
    """rows: (text, doc, index, paragraph); article lengths from the largest index."""
    length = {}
    for _, doc, index, _ in rows:
        length[doc] = max(length.get(doc, 0), index + 1)
    return sentence_frame([r[0] for r in rows], doc_ids=[r[1] for r in rows], indices=[r[2] for r in rows],
                          n_sentences=[length[r[1]] if r[2] >= 0 else 0 for r in rows],
                          paragraphs=[r[3] for r in rows])


ARTICLES = frame_of(
    [(text, "a", i, i // 2) for i, text in enumerate(NEWS)]
    + [(text, "b", i, -1) for i, text in enumerate(AWKWARD)]
    + [("Bare sentence said nothing.", "c", -1, -1), ("“Open quote", "d", 0, 0), ("still inside", "d", 1, 0),
       ("closed” now", "d", 2, 1), ('"straight', "d", 3, 1), ('quote"', "d", 4, 2)]
)


@pytest.mark.parametrize("params", [dict(neighbours=True), dict(), dict(neighbours=True, position=False),
                                    dict(neighbours=True, cues=False, neighbour_min_df=1),
                                    dict(position=False, cues=False, neighbours=False),
                                    dict(neighbours=True, threat_frames=True),
                                    dict(position=False, cues=False, threat_frames=True)])
def test_fast_discourse_features_equal_the_reference(params):
    reference = DiscourseFeatures(**params).fit(ARTICLES)
    fast = FastDiscourseFeatures(**params).fit(ARTICLES)
    assert list(fast.get_feature_names_out()) == list(reference.get_feature_names_out())
    shuffled = ARTICLES.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for frame in (ARTICLES, shuffled, ARTICLES.iloc[:5], ARTICLES.iloc[::-1]):
        assert_same_matrix(fast.transform(frame), reference.transform(frame))


documents = st.lists(
    st.tuples(st.lists(st.one_of(cue_text, st.sampled_from(TEXTS)), min_size=1, max_size=6),
              st.booleans(), st.booleans()),
    min_size=1, max_size=5,
)


@given(documents, st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_fast_discourse_features_equal_the_reference_on_random_articles(docs, rng):
    rows = []
    for number, (texts, known_index, paragraphs) in enumerate(docs):
        for index, text in enumerate(texts):
            rows.append((text, f"doc{number}", index if known_index else -1,
                         index // 2 if paragraphs else -1))
    rng.shuffle(rows)
    frame = frame_of(rows)
    reference = DiscourseFeatures(neighbours=True, neighbour_min_df=1, threat_frames=True).fit(ARTICLES)
    fast = FastDiscourseFeatures(neighbours=True, neighbour_min_df=1, threat_frames=True).fit(ARTICLES)
    assert_same_matrix(fast.transform(frame), reference.transform(frame))


# ---------------------------------------------------------------- whole models
def test_the_default_model_fitted_with_fast_classes_is_the_reference_model(tmp_path):
    """Fitting the default configuration with the fast classes gives the model the reference
    classes give, to the last bit: same features, same coefficients, same scores."""
    from conftest import compose
    from sklearn.base import clone

    from pipeline.training.setup import build_run

    run = build_run(compose("train", ["data=seed"]))  # the default features (seed data: a quick fit)
    fast = run.estimator
    reference = clone(fast)
    columns = reference.steps[0][1]
    union = columns.transformers[0][1]
    union.transformer_list = [(name, TfidfVectorizer(**part.get_params())) for name, part in union.transformer_list]
    columns.transformers[1] = ("context", DiscourseFeatures(**columns.transformers[1][1].get_params()),
                               columns.transformers[1][2])
    data = run.data.load_train()
    inputs = data.inputs("records")
    fast.fit(inputs, data.labels)
    reference.fit(inputs, data.labels)
    np.testing.assert_array_equal(fast.steps[-1][1].coef_, reference.steps[-1][1].coef_)
    np.testing.assert_array_equal(fast.predict_proba(ARTICLES), reference.predict_proba(ARTICLES))


def test_a_model_with_fast_classes_loads_from_skops_untrusted(trained_model, monkeypatch, tmp_path):
    from pipeline import load_model
    from pipeline.artifacts.loading import trusted_type

    assert trusted_type("pipeline.features.tfidf.FastTfidfVectorizer")
    assert trusted_type("pipeline.features.discourse.FastDiscourseFeatures")
    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "empty.json"))
    safe = load_model(trained_model)
    assert safe.loaded_with == "skops"
    assert "FastTfidfVectorizer" in repr(safe.estimator) and "FastDiscourseFeatures" in repr(safe.estimator)
    trusted = load_model(trained_model, trust=True)
    np.testing.assert_array_equal(safe.predict_proba(ARTICLES), trusted.predict_proba(ARTICLES))
