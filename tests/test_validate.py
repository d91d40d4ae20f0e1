import json

import pytest
from conftest import run_cli, write_jsonl

from pipeline.annotation.validation import sentence_key, validate
from pipeline.validate import main


def rec(text, label="threat", doc_id="d1", index=0, **extra):
    return {"text": text, "label": label, "doc_id": doc_id, "sentence_index": index, **extra}


GOOD = [
    rec("We will burn the city.", "threat", "d1", 0, origin="written"),
    rec("The talks ended on Monday.", "reporting", "d1", 1, origin="written"),
    rec("This is a shameful betrayal.", "editorial_framing", "d2", 0, origin="real"),
]


def run_main(capsys, *args):
    """Run the command in-process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_repository_data_passes():
    result = run_cli("validate", "data/")
    assert result.returncode == 0, result.stderr
    assert "OK: no problems found" in result.stdout
    assert all(line.startswith("note: ") for line in result.stderr.splitlines()), result.stderr


def test_summary_counts_per_label_and_origin(tmp_path, capsys):
    path = write_jsonl(tmp_path / "a.jsonl", GOOD)
    code, out, err = run_main(capsys, path)
    assert code == 0, err
    assert "1 file, 3 sentences, 2 documents" in out
    lines = out.splitlines()
    assert any(line.split() == ["threat", "1", "33.3%"] for line in lines)
    assert any(line.split() == ["background_fact", "0", "0.0%"] for line in lines)
    # origin, sentences, documents, then one column per label
    assert any(line.split() == ["written", "2", "1", "1", "1", "0", "0"] for line in lines)
    assert any(line.split() == ["real", "1", "1", "0", "0", "1", "0"] for line in lines)


BAD_LINES = [
    ('{"text": "x", "label"', "line 2: not valid JSON"),
    ("[1, 2]", "line 2: expected one JSON object per line, got list"),
    ('{"label": "threat", "doc_id": "d9", "sentence_index": 0}', "line 2: missing field 'text'"),
    ('{"text": "New one.", "doc_id": "d9", "sentence_index": 0}', "line 2: missing field 'label'"),
    ('{"text": "New one.", "label": "threat", "sentence_index": 0}', "line 2: missing field 'doc_id'"),
    ('{"text": "New one.", "label": "threat", "doc_id": "d9"}', "line 2: missing field 'sentence_index'"),
    (json.dumps(rec("New one.", "rumour", "d9")), "line 2: unknown label 'rumour'"),
    (json.dumps(rec("New one.", "", "d9")), "line 2: missing label"),
    (json.dumps(rec("   ", "threat", "d9")), "line 2: empty sentence"),
    (json.dumps(rec("New one.", "threat", "d9", "3")), "line 2: 'sentence_index' must be a whole number"),
    (json.dumps(rec("New one.", "threat", "d1", 0)), "line 2: doc_id 'd1' sentence_index 0 repeats"),
    (json.dumps(rec("we  WILL burn the city.", "threat", "d9")), "line 2: duplicate sentence (first at line 1)"),
    (json.dumps(rec("We will burn the city.", "reporting", "d9")), "line 2: conflicting labels: 'reporting' here"),
]


@pytest.mark.parametrize("line, message", BAD_LINES, ids=[m.split(": ", 1)[1][:30] for _, m in BAD_LINES])
def test_each_problem_is_named_with_file_and_line(tmp_path, capsys, line, message):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(GOOD[0]) + "\n" + line + "\n", encoding="utf-8")
    code, out, err = run_main(capsys, path)
    assert code == 2
    assert f"{path}: {message}" in err, err
    assert err.splitlines()[-1].startswith("error: validation failed: 1 problem in 1 file")
    assert "Traceback" not in err


def test_a_whole_number_written_as_a_float_is_an_index_as_training_reads_it(tmp_path, capsys):
    """sentence_index 1.0 trains as 1; validate refused the file training took. 1.5 stays refused."""
    from pipeline.data.source import DataSource

    path = write_jsonl(tmp_path / "a.jsonl", [{**GOOD[0], "sentence_index": 0.0}, *GOOD[1:]])
    code, out, err = run_main(capsys, path)
    assert code == 0, err
    DataSource(str(path), index_column="sentence_index").load_train()
    write_jsonl(path, [{**GOOD[0], "sentence_index": 0.5}, *GOOD[1:]])
    code, out, err = run_main(capsys, path)
    assert code == 2 and f"{path}: line 1: 'sentence_index' must be a whole number >= 0, got 0.5" in err


def test_sentences_and_documents_shared_between_files_are_leakage(tmp_path, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", GOOD)
    b = write_jsonl(tmp_path / "b.jsonl", [
        rec("The talks ended on Monday.", "reporting", "d7", 0),  # same sentence as a.jsonl line 2
        rec("Prices rose by a third in 2019.", "background_fact", "d2", 5),  # doc d2 lives in a.jsonl
    ])
    code, out, err = run_main(capsys, tmp_path)
    assert code == 2
    assert f"{b}: line 1: sentence also in {a}: line 2 (leakage between files)" in err
    assert f"{b}: line 2: doc_id 'd2' is also in {a}: line 3" in err


def test_short_formulaic_repeats_are_notes_unless_asked(tmp_path, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", [rec("Via the Daily Mail:", "reporting", "d1")])
    b = write_jsonl(tmp_path / "b.jsonl", [rec("Via the Daily Mail:", "reporting", "d2")])
    code, out, err = run_main(capsys, tmp_path)
    assert code == 0, err
    assert f"note: {b}: line 1: short sentence also at {a}: line 1" in err
    assert "2 files, 2 sentences, 2 documents" in out and "1 repeated sentence allowed (short lines" in out
    code, out, err = run_main(capsys, tmp_path, "--min-words", "1")
    assert code == 2 and f"{b}: line 1: sentence also in {a}: line 1 (leakage between files)" in err


def test_conflicting_labels_across_files_are_reported_as_conflicts(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", GOOD)
    write_jsonl(tmp_path / "b.jsonl", [rec("THE talks ended on Monday.", "background_fact", "d7")])
    report = validate([tmp_path])
    assert len(report.errors) == 1 and "conflicting labels: 'background_fact' here, 'reporting'" in report.errors[0]


def test_every_bad_line_is_reported_not_just_the_first(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("nope\n" + json.dumps(GOOD[0]) + "\n{}\n" + json.dumps(rec("Other.", "rant", "d3")) + "\n")
    errors = validate([path]).errors
    assert [e.split(": ")[1] for e in errors] == ["line 1", "line 3", "line 3", "line 3", "line 3", "line 4"]


def test_unlabeled_templates_pass_only_when_allowed(tmp_path, capsys):
    path = write_jsonl(tmp_path / "t.jsonl", [rec("One.", ""), rec("Two.", "threat", index=1)])
    assert run_main(capsys, path)[0] == 2
    code, out, _ = run_main(capsys, path, "--allow-unlabeled")
    assert code == 0
    assert any(line.split() == ["(unlabeled)", "1", "50.0%"] for line in out.splitlines())


def test_other_label_sets_and_count_fields(tmp_path, capsys):
    path = write_jsonl(tmp_path / "t.jsonl", [rec("One.", "pos", genre="blog"), rec("Two.", "neg", index=1)])
    code, out, err = run_main(capsys, path, "--labels", "pos,neg", "--by", "genre")
    assert code == 0, err
    assert any(line.split() == ["blog", "1", "1", "1", "0"] for line in out.splitlines())
    assert any(line.split() == ["(none)", "1", "1", "0", "1"] for line in out.splitlines())
    assert "--by genre" not in err
    code, out, err = run_main(capsys, path, "--labels", "pos,neg", "--by", "genra")  # a typo: a table of (none)
    assert code == 0 and "note: --by genra: no sentence has a field 'genra'" in err
    assert "allowed (short lines" not in out  # the note is about --by, not about repeats


@pytest.mark.parametrize("target, message", [
    ("missing.jsonl", "missing.jsonl: file not found"),
    ("labels.csv", "labels.csv: not a .jsonl file"),
    ("empty_dir", "empty_dir: no .jsonl files in the folder"),
])
def test_bad_arguments_are_one_line(tmp_path, target, message):
    (tmp_path / "labels.csv").write_text("text,label\n")
    (tmp_path / "empty_dir").mkdir()
    result = run_cli("validate", tmp_path / target)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and message in result.stderr


def test_a_negative_min_words_is_refused(tmp_path):
    # It was taken as 0 in silence.
    path = write_jsonl(tmp_path / "t.jsonl", [rec("One.", "threat")])
    result = run_cli("validate", path, "--min-words", "-1")
    assert result.returncode == 2 and "argument --min-words: must be at least 0, got -1" in result.stderr


def test_same_sentence_key_ignores_case_spacing_and_quote_style():
    assert sentence_key("“We  will come,” he SAID.") == sentence_key('"we will come," he said.')
    assert sentence_key("We will come.") != sentence_key("We will come!")



@pytest.mark.parametrize("labels", ["threat,reporting,threat", "threat,threat"])
def test_a_label_named_twice_in_labels_is_a_usage_error(tmp_path, capsys, labels):
    """Not a count table listing it twice, nor 'threat,threat' passing as a set of two labels."""
    path = write_jsonl(tmp_path / "a.jsonl", GOOD)
    code, out, err = run_main(capsys, path, "--labels", labels)
    assert code == 2 and out == ""
    assert err.startswith("error: argument --labels: 'threat' is listed twice") and err.count("\n") == 1, err


def test_a_gap_in_sentence_index_is_a_note_naming_document_and_first_missing_index(tmp_path, capsys):
    rows = [rec("We will burn the city.", "threat", "d1", 0), rec("The talks ended on Monday.", "reporting", "d1", 1),
            rec("Police said the road was closed.", "reporting", "d1", 3),
            rec("This is a shameful betrayal.", "editorial_framing", "d2", 1),
            rec("The dam was built in 1964.", "background_fact", "d2", 2)]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    code, out, err = run_main(capsys, path)
    assert code == 0 and "OK: no problems found" in out
    assert err.splitlines() == [
        f"note: {path}: line 3: doc_id 'd1' has no sentence_index 2 (next: 3); context features read sentence_index "
        "as the position in the article",
        f"note: {path}: line 4: doc_id 'd2' has no sentence_index 0 (next: 1); context features read sentence_index "
        "as the position in the article",
    ]
    assert "2 documents with a gap in sentence_index" in out and "allowed (short lines" not in out


def test_a_label_with_stray_spaces_or_capitals_is_read_as_training_reads_it_with_a_note(tmp_path, capsys):
    rows = [rec("We will burn the city.", " Threat ", "d1", 0), rec("The talks ended on Monday.", "REPORTING", "d1", 1),
            rec("This is a shameful betrayal.", "editorial_framing", "d2", 0)]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    code, out, err = run_main(capsys, path)
    assert code == 0 and "OK: no problems found" in out
    assert err.splitlines() == [f"note: {path}: line 1: label ' Threat ' read as 'threat' (and 1 more in this file)"]
    assert any(line.split() == ["threat", "1", "33.3%"] for line in out.splitlines())
    assert "allowed (short lines" not in out
