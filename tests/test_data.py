import json
import re

import pytest
from conftest import SEED_DATA, write_jsonl

from pipeline.common.errors import PipelineError
from pipeline.data.source import DataSource

ROWS = [
    {"sentence": "They vowed to burn the city.", "tag": "T", "article": "a", "extra": 1},
    {"sentence": "The meeting was held on Monday.", "tag": "R", "article": "b", "extra": 2},
]


def test_seed_corpus_loads_with_every_label():
    corpus = DataSource(str(SEED_DATA)).load_train()
    assert len(corpus) == 55
    assert corpus.n_documents == 2
    assert set(corpus.labels) == {"threat", "reporting", "editorial_framing", "background_fact"}


def test_columns_and_label_map_are_configurable(tmp_path):
    path = write_jsonl(tmp_path / "other.jsonl", ROWS)
    source = DataSource(str(path), text_column="sentence", label_column="tag",
                        group_column="article", label_map={"T": "threat", "R": "reporting"})
    corpus = source.load_train()
    assert corpus.texts == [r["sentence"] for r in ROWS]
    assert corpus.labels == ["threat", "reporting"]
    assert corpus.groups == ["a", "b"]


def test_csv_and_parquet_load_the_same_sentences(tmp_path):
    import pandas as pd

    frame = pd.read_json(SEED_DATA, lines=True)
    frame.to_csv(tmp_path / "seed.csv", index=False)
    frame.to_parquet(tmp_path / "seed.parquet")
    expected = DataSource(str(SEED_DATA)).load_train()
    for name in ("seed.csv", "seed.parquet"):
        corpus = DataSource(str(tmp_path / name)).load_train()
        assert corpus.fingerprint() == expected.fingerprint()


def test_a_folder_loads_all_its_files(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "One.", "label": "threat", "doc_id": "a"}])
    write_jsonl(tmp_path / "b.jsonl", [{"text": "Two.", "label": "reporting", "doc_id": "b"}])
    assert DataSource(str(tmp_path)).load_train().texts == ["One.", "Two."]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "a", "label": "threat", "doc_id": "x"}\n{"text": "b", "label"\n', "line 2: not valid JSON"),
        ('{"text": "a", "label": "threat", "doc_id": "x"}\n[1, 2]\n', "line 2: expected one JSON object"),
        ('{"text": "a", "doc_id": "x"}\n', "missing column 'label'"),
        ('{"text": "  ", "label": "threat", "doc_id": "x"}\n', "line 1: empty text"),
        ('{"text": null, "label": "threat", "doc_id": "x"}\n', "line 1: missing text"),
        ('{"text": "a", "label": "threat", "doc_id": "x"}\n{"text": "b", "label": "rant", "doc_id": "x"}\n',
         "line 2: unknown label 'rant'"),
    ],
)
def test_bad_files_name_file_and_place(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PipelineError, match=message) as caught:
        DataSource(str(path)).load_train()
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("doc_id", ['"doc_id": null, ', "", '"doc_id": " ", '])
def test_a_sentence_without_its_document_names_the_line(tmp_path, lazy, doc_id):
    """Not one document "None" (or " ") holding every such sentence, which would skew grouped splits."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "threat", "doc_id": "x"}\n'
                    f'{{"text": "b", {doc_id}"label": "reporting"}}\n', encoding="utf-8")
    with pytest.raises(PipelineError, match="line 2: missing document id in column 'doc_id'") as caught:
        DataSource(str(path)).load_train(lazy=lazy)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("doc_id, kind", [('["a"]', "list"), ('{"a": 1}', "dict"), ("true", "bool")])
def test_a_document_id_that_is_no_name_is_refused_as_validate_refuses_it(tmp_path, lazy, doc_id, kind):
    """A list became the article "['a']" in silence."""
    path = tmp_path / "bad.jsonl"
    path.write_text(f'{{"text": "a", "label": "threat", "doc_id": {doc_id}}}\n'
                    f'{{"text": "b", "label": "reporting", "doc_id": {doc_id}}}\n', encoding="utf-8")
    with pytest.raises(PipelineError, match=rf"bad.jsonl: line 1: document id in column 'doc_id' is {kind} .*, "
                                            "not a string or number$"):
        DataSource(str(path)).load_train(lazy=lazy)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PipelineError, match="data.path: file not found: .*nope.jsonl"):
        DataSource(str(tmp_path / "nope.jsonl")).load_train()


@pytest.mark.parametrize("path", [None, 5, [str(SEED_DATA), None], {"a": 1}])
def test_a_data_path_that_is_no_path_is_named(path):
    """data.path=null or data.path=5 on the command line: one line, not a TypeError."""
    with pytest.raises(PipelineError, match=r"^data.path: expected a path or a list of paths, got "):
        DataSource(path).load_train()
    with pytest.raises(PipelineError, match=r"^data.test_path: expected a path or a list of paths, got "):
        DataSource(str(SEED_DATA), test_path=path if path is not None else 5).load_test()
    if path is not None:
        with pytest.raises(PipelineError, match=r"^config data.dev_path: expected the path of one file, got "):
            DataSource(str(SEED_DATA), dev_path=path)


def test_a_label_set_needs_two_labels():
    with pytest.raises(PipelineError, match="data.labels: needs at least 2 labels"):
        DataSource(str(SEED_DATA), labels=["threat"])


@pytest.mark.parametrize("settings, message", [
    ({"labels": "threat"}, "config data.labels: expected a list of labels, got 'threat'"),
    ({"labels": ["threat", "threat", "reporting"]}, "config data.labels: 'threat' is listed twice"),
    ({"labels": ["threat", "threat"]}, "config data.labels: 'threat' is listed twice"),  # as --labels threat,threat
    ({"label_map": ["menace"]}, r"config data.label_map: expected \{their_name: our_label\}, got \['menace'\]"),
    ({"label_map": {"menace": "rumour"}},
     "config data.label_map: 'menace' maps to 'rumour', which is not in data.labels"),
])
def test_a_label_set_or_map_that_cannot_be_meant_is_named(settings, message):
    """data.labels=threat was read letter by letter, a repeated label crashed the metrics, and a
    label_map that was no mapping, or mapped to no label, was taken without a word."""
    with pytest.raises(PipelineError, match=message):
        DataSource(str(SEED_DATA), **settings)


def test_a_bad_sentence_index_names_its_line_past_blank_lines(tmp_path):
    """Row 2 of the table is line 4 of the file; an editor shows the line."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "threat", "doc_id": "x", "sentence_index": 0}\n\n\n'
                    '{"text": "b", "label": "threat", "doc_id": "x", "sentence_index": -1}\n', encoding="utf-8")
    with pytest.raises(PipelineError, match=r"bad.jsonl: line 4: 'sentence_index' must be a whole number >= 0"):
        DataSource(str(path), index_column="sentence_index").load_train()


def test_a_blank_sentence_index_cell_in_a_csv_names_its_row(tmp_path):
    """One blank cell makes the CSV column float (0.0, 1.0, ...): the blank row is the one named."""
    path = tmp_path / "d.csv"
    path.write_text("text,label,doc_id,sentence_index\nOne.,threat,x,0\nTwo.,reporting,x,\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"d.csv: row 2: 'sentence_index' must be a whole number >= 0, got None"):
        DataSource(str(path), index_column="sentence_index").load_train()
    path.write_text("text,label,doc_id,sentence_index\nOne.,threat,x,0\nTwo.,reporting,x,1\n", encoding="utf-8")
    assert DataSource(str(path), index_column="sentence_index").load_train().positions == [0, 1]


def sentence(text, label, doc_id, index):
    return {"text": text, "label": label, "doc_id": doc_id, "sentence_index": index}


def test_two_sentences_at_one_place_of_a_document_name_both_lines(tmp_path):
    """Context features would read them as one position; validate calls it a repeated key too."""
    path = write_jsonl(tmp_path / "d.jsonl", [sentence("One.", "threat", "x", 0), sentence("Two.", "reporting", "x", 1),
                                             sentence("Three.", "threat", "x", 1)])
    with pytest.raises(PipelineError, match=r"d.jsonl: line 3: doc_id 'x' sentence_index 1 repeats \S*d.jsonl: line 2 "
                                            "with a different sentence"):
        DataSource(str(path), index_column="sentence_index").load_train()


def test_a_place_repeated_across_files_names_both_files(tmp_path):
    (tmp_path / "a").mkdir()
    write_jsonl(tmp_path / "a" / "d.jsonl", [sentence("One.", "threat", "x", 0)])
    write_jsonl(tmp_path / "b.jsonl", [sentence("Other.", "threat", "x", 0)])
    message = r"b.jsonl: line 1: doc_id 'x' sentence_index 0 repeats \S*a/d.jsonl: line 1"
    with pytest.raises(PipelineError, match=message):
        DataSource([str(tmp_path / "a"), str(tmp_path / "b.jsonl")], index_column="sentence_index").load_train()


def test_the_same_sentence_twice_at_one_place_is_left_to_the_label_check(tmp_path):
    rows = [sentence("One.", "threat", "x", 0), sentence(" One.", "threat", "x", 0)]
    source = DataSource(str(tmp_path / "d.jsonl"), index_column="sentence_index")
    write_jsonl(tmp_path / "d.jsonl", rows)
    assert len(source.load_train()) == 2
    rows[1]["label"] = "reporting"
    write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(PipelineError, match="the same sentence is labeled 'reporting' here and 'threat'"):
        source.load_train()


def test_without_a_group_column_files_of_one_name_in_two_folders_share_no_place(tmp_path):
    """Each sentence is then its own document, named by its file and row."""
    for folder, text in (("a", "One."), ("b", "Two.")):
        (tmp_path / folder).mkdir()
        write_jsonl(tmp_path / folder / "d.jsonl", [sentence(text, "threat", "x", 0)])
    corpus = DataSource(str(tmp_path), group_column=None, index_column="sentence_index").load_train()
    assert corpus.texts == ["One.", "Two."]


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("text", 5, "line 5: field 'text' holds a number here (5) and a string on line 1"),
        ("label", 3, "line 5: field 'label' holds a number here (3) and a string on line 1"),
        ("sentence_index", "3", "line 5: field 'sentence_index' holds a string here ('3') and a number on line 1"),
    ],
)
def test_a_field_of_mixed_kinds_in_a_file_with_a_blank_line_names_the_line(tmp_path, lazy, field, value, message):
    """datasets reads such a field as JSON text, but a blank line stops it: its error named no line."""
    rows = [sentence(text, "threat", "x", n) for n, text in enumerate(["One.", "Two.", "Three.", "Four."])]
    rows[3][field] = value
    lines = [json.dumps(row) for row in rows]
    lines.insert(1, "")  # the fourth sentence is on line 5
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"d\.jsonl: " + re.escape(message)):
        DataSource(str(path), index_column="sentence_index").load_train(lazy=lazy)


def test_a_sentence_index_cell_that_is_no_number_in_a_csv_names_its_row(tmp_path):
    """One such cell makes the CSV column text ('0', '1', ...): row 1 and its '0' were named instead."""
    path = tmp_path / "d.csv"
    path.write_text("text,label,doc_id,sentence_index\nOne.,threat,x,0\nTwo.,reporting,x,abc\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"d.csv: row 2: 'sentence_index' must be a whole number >= 0, got 'abc'"):
        DataSource(str(path), index_column="sentence_index").load_train()


@pytest.mark.parametrize("lazy", [False, True])
def test_a_csv_with_two_columns_of_one_name_is_refused(tmp_path, lazy):
    """The second 'text' column's sentences were dropped in silence (score refuses such a file too)."""
    path = tmp_path / "d.csv"
    path.write_text("text,label,doc_id,text\nOne.,threat,x,Two.\nThree.,reporting,x,Four.\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"d.csv: 2 columns named 'text' in the header line"):
        DataSource(str(path)).load_train(lazy=lazy)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_csv_may_repeat_the_name_of_a_column_it_does_not_read(tmp_path, lazy):
    """A spreadsheet's empty columns export as blank names (text,label,doc_id,,): training refused such a file."""
    path = tmp_path / "d.csv"
    path.write_text("text,label,doc_id,note,note,,\nOne.,threat,x,a,b,,\nTwo.,reporting,y,,,,\n", encoding="utf-8")
    corpus = DataSource(str(path)).load_train(lazy=lazy)
    assert list(corpus.labels) == ["threat", "reporting"]
