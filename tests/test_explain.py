"""Explanations: coefficient × feature value of the terms that pushed a sentence to its label."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from pipeline.reports.explain import LinearExplainer

TEXTS = [
    "We will burn your city.", "We will find you and punish you.", "You will pay for this, we warn you.",
    "The minister said the talks ended.", "Police said two men were arrested.", "The agency said it had no comment.",
    "The dam was built in 1964.", "The country has nine provinces.", "The river was dammed in 1970.",
]
LABELS = ["threat"] * 3 + ["reporting"] * 3 + ["background_fact"] * 3


def fitted(clf, features=None):
    return Pipeline([("features", features or TfidfVectorizer()), ("clf", clf)]).fit(TEXTS, LABELS)


def test_weights_are_coefficient_times_feature_value():
    model = fitted(LogisticRegression(C=10))
    explainer = LinearExplainer.of(model)
    text = "We will burn the dam."
    [why] = explainer.explain([text], ["threat"])
    vectorizer, clf = model.named_steps["features"], model.named_steps["clf"]
    row = vectorizer.transform([text]).toarray()[0]
    k = list(clf.classes_).index("threat")
    expected = {term: clf.coef_[k, j] * row[j] for term, j in vectorizer.vocabulary_.items() if row[j]}
    best = sorted((v for v in expected.values() if v > 0), reverse=True)[:5]
    assert [entry["weight"] for entry in why] == pytest.approx(best, abs=1e-6)
    assert all(abs(expected[entry["term"]] - entry["weight"]) < 1e-6 for entry in why)
    assert why[0]["term"] in {"will", "we", "burn"} and why[0]["source"] is None


def test_at_most_five_terms_all_pushing_towards_the_label():
    model = fitted(LogisticRegression(C=10))
    texts = ["We will find you, burn your city and punish you; we warn you.", "The dam was built."]
    for why in LinearExplainer.of(model).explain(texts, ["threat", "threat"]):
        assert len(why) <= 5
        assert all(entry["weight"] > 0 for entry in why)
        assert [e["weight"] for e in why] == sorted((e["weight"] for e in why), reverse=True)
    # Nothing in "The dam was built." argues for a threat except perhaps nothing at all.
    assert "dam" not in {e["term"] for e in LinearExplainer.of(model).explain(["The dam was built."], ["threat"])[0]}


def test_feature_union_terms_name_their_part_and_show_spaces():
    union = FeatureUnion([("word", TfidfVectorizer()), ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4)))])
    model = fitted(LinearSVC(), union)
    explainer = LinearExplainer.of(model)
    [why] = explainer.explain(["We will burn your city."], ["threat"], top=40)
    sources = {entry["source"] for entry in why}
    assert sources == {"word", "char"}
    assert any("\u2423" in entry["term"] for entry in why if entry["source"] == "char")
    assert all(" " not in entry["term"] for entry in why if entry["source"] == "char")
    assert len(explainer.feature_names()) == model.named_steps["clf"].coef_.shape[1]


def test_binary_model_explains_both_labels():
    texts, labels = TEXTS[:6], LABELS[:6]
    model = Pipeline([("features", TfidfVectorizer()), ("clf", LogisticRegression(C=10))]).fit(texts, labels)
    explainer = LinearExplainer.of(model)
    assert explainer.weights.shape[0] == 2
    assert np.allclose(explainer.weights[0], -explainer.weights[1])
    threat, reporting = explainer.explain(["We will punish you.", "Police said it."], ["threat", "reporting"])
    assert {"will", "punish", "you"} & {e["term"] for e in threat}
    assert "said" in {e["term"] for e in reporting}


def test_naive_bayes_is_explained_and_trees_are_not():
    explainer = LinearExplainer.of(fitted(ComplementNB()))
    [why] = explainer.explain(["Police said two men were arrested."], ["reporting"])
    assert "said" in {e["term"] for e in why}
    assert LinearExplainer.of(fitted(DecisionTreeClassifier(random_state=0))) is None
    assert LinearExplainer.of(LogisticRegression()) is None  # not a Pipeline


def test_top_features_per_label_are_that_labels_strongest():
    explainer = LinearExplainer.of(fitted(LogisticRegression(C=10)))
    top = explainer.top_features(3)
    assert set(top) == {"threat", "reporting", "background_fact"}
    assert "said" in {e["term"] for e in top["reporting"]}
    for entries in top.values():
        weights = [e["weight"] for e in entries]
        assert weights == sorted(weights, reverse=True) and len(weights) <= 3


def test_explain_records_keeps_the_score_fields(trained_model):
    from pipeline import load_model

    model = load_model(trained_model)
    records = model.score_text("We will burn your city. The talks ended on Monday.")
    explained = LinearExplainer.of(model.estimator).explain_records(records)
    for before, after in zip(records, explained):
        assert {k: v for k, v in after.items() if k != "explanation"} == before
        assert {"term", "source", "weight"} == set(after["explanation"][0])


def test_the_default_context_model_names_word_char_and_context_parts(trained_model):
    """Its features are a ColumnTransformer (text, context) holding a FeatureUnion: terms came out as
    'text__char__ord ' with no source and spaces unseen."""
    from pipeline import load_model

    explainer = LinearExplainer.of(load_model(trained_model).estimator)
    [why] = explainer.explain(["We will burn your city unless you leave."], ["threat"], top=60)
    assert {entry["source"] for entry in why} == {"word", "char", "context"}
    assert not any("__" in entry["term"] for entry in why)
    assert any("\u2423" in entry["term"] for entry in why if entry["source"] == "char")
    top = explainer.top_features(50)
    assert {entry["source"] for entries in top.values() for entry in entries} == {"word", "char", "context"}
