import json
from collections import defaultdict

from conftest import ROOT, SEED_DATA

from pipeline.data.sentences import split_article, split_sentences


def test_splitter_reproduces_seed_sentence_boundaries():
    expected = defaultdict(list)
    for line in SEED_DATA.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        expected[record["doc_id"]].append((record["sentence_index"], record["text"]))
    assert set(expected) == {p.stem for p in (ROOT / "seeds").glob("*.txt")}
    for doc_id, rows in expected.items():
        text = (ROOT / "seeds" / f"{doc_id}.txt").read_text(encoding="utf-8")
        assert split_sentences(text) == [t for _, t in sorted(rows)]


def test_sentences_are_cut_from_the_original_text():
    text = "He said it won’t stop.  “We will come,” they wrote.\nVia the Daily Mail:\nNext line."
    sentences = split_article(text)
    assert [s.text for s in sentences] == [
        "He said it won’t stop.", "“We will come,” they wrote.", "Via the Daily Mail:", "Next line."
    ]
    assert all(text[s.start:s.end] == s.text for s in sentences)
    assert [s.paragraph for s in sentences] == [0, 0, 1, 2]


def test_titles_do_not_end_a_sentence():
    assert split_sentences("Lt. Gov. Ana Ruiz spoke. Then Gen. Moto left.") == [
        "Lt. Gov. Ana Ruiz spoke.", "Then Gen. Moto left."
    ]


def test_blank_text_has_no_sentences():
    assert split_sentences("") == []
    assert split_sentences(" \n\n \t") == []


def test_the_one_character_ellipsis_ends_a_sentence_as_three_dots_do():
    for ellipsis in ("…", "..."):
        text = (f"“We’ll stop it,” he replied{ellipsis} The report came out. "
                f"It is over{ellipsis} “Leave now,” she said.")
        sentences = split_article(text)
        assert [s.text for s in sentences] == [
            f"“We’ll stop it,” he replied{ellipsis}", "The report came out.", f"It is over{ellipsis}",
            "“Leave now,” she said."]
        assert all(text[s.start:s.end] == s.text for s in sentences)
        assert split_sentences(f"He paused{ellipsis} and then he left.") == [f"He paused{ellipsis} and then he left."]


def test_a_line_of_many_titles_splits_in_linear_time():
    import time

    text = "Gov. Smith " * 10_000  # syntok ends a sentence at each title, which is joined to the next
    started = time.monotonic()
    sentences = split_article(text)
    assert time.monotonic() - started < 10  # was over 40 s: each join searched the whole sentence so far
    assert [s.text for s in sentences] == [text.strip()]
