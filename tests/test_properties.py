"""Properties that hold for any text: the splitter keeps every character, the scorer every sentence."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.data.sentences import split_article

# Pieces of news prose that stress a splitter: titles, initials, quotes, numbers, line breaks.
PIECES = ["Gov.", "Lt.", "Dr.", "U.S.", "Mr.", "e.g.", "No.", "3.5", "1,200", "“We", "will", "come,”",
          "they", "said.", "?", "!", "...", "…", "’", "(AP)", "—", "-", ";", ":", "Via", "the", "Mail:",
          "\n", "\n\n", "\r\n", "\t", " ", "  ", "\u00a0", "\u2028", "\u200b", "\ufeff", "ﬁ", "Σ", "ß", "İ"]
news_like = st.lists(st.sampled_from(PIECES), max_size=60).map(" ".join)
any_text = st.one_of(st.text(max_size=400), news_like)


def without_space(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


@given(any_text)
@settings(max_examples=400, deadline=None)
def test_splitter_loses_and_reorders_no_character(text):
    sentences = split_article(text)
    assert without_space("".join(s.text for s in sentences)) == without_space(text)
    for sentence in sentences:
        assert sentence.text == text[sentence.start:sentence.end]
        assert sentence.text and sentence.text == sentence.text.strip()
    assert all(a.end <= b.start for a, b in zip(sentences, sentences[1:]))
    assert [s.index for s in sentences] == list(range(len(sentences)))


@pytest.fixture(scope="module")
def model(trained_model):
    from pipeline import load_model

    return load_model(trained_model)


@given(any_text)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_scorer_gives_one_record_per_sentence_with_scores_summing_to_one(model, text):
    records = model.score_text(text, doc_id="d")
    assert [r["text"] for r in records] == [s.text for s in split_article(text)]
    for record in records:
        assert record["label"] in model.labels
        assert set(record["scores"]) == set(model.labels)
        assert abs(sum(record["scores"].values()) - 1) < 1e-5
        assert record["scores"][record["label"]] == max(record["scores"].values())


@given(st.lists(st.text(max_size=200), max_size=20))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_scorer_scores_any_list_of_sentences(model, sentences):
    records = model.predict_sentences(sentences)
    assert [(r["sentence_index"], r["text"]) for r in records] == list(enumerate(sentences))
    for record in records:
        assert abs(sum(record["scores"].values()) - 1) < 1e-5


@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(["'", "=", "+", "-", "@", "\t", "a"]),
                                                  max_size=6).map("".join)))
@settings(max_examples=400, deadline=None)
def test_a_csv_cell_never_starts_a_formula_and_reads_back_as_it_was(text):
    from pipeline.common.spreadsheet import FORMULA_STARTS, from_cell, to_cell

    assert not to_cell(text).startswith(FORMULA_STARTS)
    assert from_cell(to_cell(text)) == text
