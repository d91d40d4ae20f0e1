"""Finding input files: one walker, one rule for every command (sorted, hidden files and folders skipped)."""

import json

import pytest
from conftest import SEED_DATA, run_cli, stop_after_writes, write_jsonl

from pipeline.common.errors import PipelineError
from pipeline.common.files import data_files, find_files


@pytest.fixture
def tree(tmp_path):
    """A folder of inputs with the kinds of clutter a real folder holds."""
    files = {
        "b.jsonl": "", "a.txt": "", "sub/c.CSV": "", "sub/d.md": "", "notes": "",
        ".hidden.jsonl": "", ".partial/data.jsonl": "", "sub/.cache/e.txt": "", "sub/.f.txt.swp": "",
        "image.png": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def names(found, root):
    return [str(p.relative_to(root)) for p in found]


def test_a_folder_gives_its_files_sorted_without_hidden_files_or_folders(tree):
    found = find_files([tree], {".jsonl", ".csv", ".txt", ".md", ""}, what="files")
    assert names(found, tree) == ["a.txt", "b.jsonl", "notes", "sub/c.CSV", "sub/d.md"]
    assert names(find_files(tree, {".jsonl"}, what=".jsonl files"), tree) == ["b.jsonl"]


def test_named_files_are_taken_as_given_in_order_and_stdin_only_when_asked(tree):
    found = find_files([tree / "sub" / "d.md", "-", tree / ".hidden.jsonl"], {".txt"}, what="files", stdin=True)
    assert [str(p) for p in found] == [str(tree / "sub" / "d.md"), "-", str(tree / ".hidden.jsonl")]
    with pytest.raises(PipelineError, match="^-: file not found$"):
        find_files(["-"], {".txt"}, what="files")


def test_missing_files_and_empty_folders_are_one_line_naming_them(tree):
    (tree / "empty").mkdir()
    with pytest.raises(PipelineError, match=r"empty: no \.parquet files in the folder$"):
        find_files([tree / "empty"], {".parquet"}, what=".parquet files")
    with pytest.raises(PipelineError, match=r"^data\.path: file not found: .*none\.jsonl$"):
        data_files(str(tree / "none.jsonl"), "data.path")
    with pytest.raises(PipelineError, match=r"^data\.path: no \.jsonl, \.csv or \.parquet files in folder .*\.cache$"):
        data_files(str(tree / "sub" / ".cache"), "data.path")  # named: walked, but it holds only a .txt


def test_every_command_reads_a_folder_by_the_same_rule(tree):
    """Data loading, validation, labeling templates and scoring all skip the hidden files."""
    from pipeline.annotation.templates import read_articles
    from pipeline.annotation.validation import jsonl_files
    from pipeline.scoring.inputs import resolve_inputs

    assert names(data_files(str(tree), "data.path"), tree) == ["b.jsonl", "sub/c.CSV"]
    assert names(jsonl_files([tree, tree / "b.jsonl"]), tree) == ["b.jsonl"]  # each file once
    assert [doc for doc, _ in read_articles([str(tree)])] == ["a", "notes", "d"]
    assert [p.replace(str(tree) + "/", "") for p in resolve_inputs([str(tree)])] == [
        "a.txt", "b.jsonl", "notes", "sub/c.CSV", "sub/d.md"]


def test_score_resume_never_reads_the_partial_folder_beside_its_output(tmp_path, trained_model, monkeypatch):
    """`score DIR -o DIR/out.jsonl`, interrupted, then --resume: the hidden `.out.jsonl.partial/`
    folder now inside DIR is not an input, so the resumed run finishes with the full output."""
    from pipeline.score import main

    texts = [json.loads(line)["text"] for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "sentences.jsonl", ({"doc_id": f"d{i // 10}", "text": f"{texts[i % len(texts)]} ({i})"}
                                           for i in range(200)))
    (inbox / "article.txt").write_text("We will find you. The talks ended on Monday.\n", encoding="utf-8")
    full = tmp_path / "full.jsonl"
    main(["--model", str(trained_model), str(inbox), "-o", str(full)])

    out = inbox / "out.jsonl"
    args = ["--model", str(trained_model), str(inbox), "-o", str(out), "--batch-size", "20"]
    write_again = stop_after_writes(monkeypatch, 4)
    with pytest.raises(SystemExit):
        main(args)
    partial = inbox / ".out.jsonl.partial"
    assert partial.is_dir() and any(partial.iterdir()) and not out.exists()

    write_again()
    resumed = run_cli("score", *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")
    assert sorted(p.name for p in inbox.iterdir()) == ["article.txt", "out.jsonl", "sentences.jsonl"]


# ---------------------------------------------------------------- the JSON Lines reader
def test_strict_reading_names_every_bad_line_of_labeled_data(tmp_path):
    from pipeline.common.jsonl import read_json_lines

    file = tmp_path / "d.jsonl"
    file.write_bytes(b'\xef\xbb\xbf{"text": "a"}\r\n\n{"text": "caf\xe9"}\n{"text": "a\x00b"}\n'
                     b'[1]\n{oops\n{"text": "z"}\n')
    problems: list[str] = []
    read = list(read_json_lines(file, problems=problems))
    assert read == [(1, {"text": "a"}), (7, {"text": "z"})]
    assert problems == [
        f"{file}: line 3: not UTF-8 (byte 0xe9 at column 14)",
        f"{file}: line 4: NUL byte at column 12",
        f"{file}: line 5: expected one JSON object per line, got list",
        f"{file}: line 6: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    ]
    with pytest.raises(PipelineError, match=r"d\.jsonl: line 3: not UTF-8"):
        list(read_json_lines(file))


def test_forgiving_reading_repairs_text_to_score_and_says_so_once(tmp_path, recwarn):
    from pipeline.common.jsonl import read_json_lines

    file = tmp_path / "s.jsonl"
    file.write_bytes(b'{"text": "caf\xe9"}\n{"text": "\xff\xfe"}\n{"text": "a\x00b"}\n{"text": "ok \xef\xbf\xbd"}\n')
    texts = [record["text"] for _, record in read_json_lines(file, forgiving=True)]
    assert texts == ["caf\ufffd", "\ufffd\ufffd", "a b", "ok \ufffd"]
    assert sorted(str(w.message) for w in recwarn) == [
        f"{file}: NUL bytes were read as spaces",
        f"{file}: bytes that are not UTF-8 were replaced with \ufffd",
    ]
    (tmp_path / "b.jsonl").write_bytes(bytes(range(256)) * 64)
    with pytest.raises(PipelineError, match="looks like a binary file"):
        list(read_json_lines(tmp_path / "b.jsonl", forgiving=True))


def test_a_partition_reads_its_own_lines(tmp_path):
    from pipeline.common.jsonl import read_json_lines

    file = write_jsonl(tmp_path / "p.jsonl", ({"i": i} for i in range(5)))
    start = len(file.read_bytes().split(b"\n", 2)[0]) + 1 + len(b'{"i": 1}\n')  # after two lines
    part = list(read_json_lines(file, start_byte=start, first_line=3, max_records=2))
    assert part == [(3, {"i": 2}), (4, {"i": 3})]


def test_scoring_a_folder_into_itself_does_not_read_its_own_earlier_output(tmp_path, trained_model, capsys):
    from pipeline.score import main

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "sentences.jsonl", [{"text": "We will find you."}, {"text": "It rained on Monday."}])
    out = inbox / "scores.jsonl"
    main(["--model", str(trained_model), str(inbox), "-o", str(out)])
    first = out.read_text(encoding="utf-8")
    capsys.readouterr()
    main(["--model", str(trained_model), str(inbox), "-o", str(out), "--force"])
    assert "scores.jsonl is in a folder being scored: left out of the inputs" in capsys.readouterr().err  # an input?
    assert out.read_text(encoding="utf-8") == first and len(first.splitlines()) == 2


# ---------------------------------------------------------------- sentence_index of sentence files
@pytest.mark.parametrize("value, expect", [
    ('"x"', "line 1: sentence_index is not a whole number: 'x'"), ("null", "not a whole number: None"),
    ("NaN", "not a whole number: nan"), ("1e400", "not a whole number: inf"), ("1.5", "not a whole number: 1.5"),
    ("true", "not a whole number: True"), ("[1]", "not a whole number: [1]"), ("9" * 26, "out of range: 999"),
])
def test_a_sentence_index_that_is_no_whole_number_is_one_error_naming_its_line(tmp_path, value, expect):
    """Each was a traceback (ValueError, TypeError, OverflowError) when the batch was scored."""
    from pipeline.scoring.inputs import read_file

    file = tmp_path / "s.jsonl"
    file.write_text('{"text": "We will come.", "sentence_index": %s}\n' % value, encoding="utf-8")
    with pytest.raises(PipelineError, match=expect.replace(".", r"\.").replace("[", r"\[")):
        list(read_file(file))


def test_a_sentence_index_in_csv_or_parquet_is_checked_as_in_json_lines(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.scoring.inputs import read_file

    (tmp_path / "s.csv").write_text("text,sentence_index\nWe will come.,99999999999999999999\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"s\.csv: row 1: sentence_index is out of range"):
        list(read_file(tmp_path / "s.csv"))
    for name, index in [("null", pa.array([0, None], pa.int64())), ("float", [0.0, 0.5]),
                        ("huge", pa.array([0, 2**64 - 1], pa.uint64()))]:
        pq.write_table(pa.table({"text": ["A.", "B."], "sentence_index": index}), tmp_path / f"{name}.parquet")
        with pytest.raises(PipelineError, match=rf"{name}\.parquet: row 2: sentence_index is"):
            list(read_file(tmp_path / f"{name}.parquet"))
    pq.write_table(pa.table({"text": ["A.", "B."], "sentence_index": [4.0, 2]}), tmp_path / "fine.parquet")
    assert [item[1] for item in read_file(tmp_path / "fine.parquet")] == [4, 2]


def test_a_null_doc_id_is_the_file_stem_in_json_lines_as_in_csv_and_parquet(tmp_path):
    """JSON Lines made it the article "None": null doc_ids of two files were read as one article."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.scoring.inputs import read_file

    write_jsonl(tmp_path / "j.jsonl", [{"text": "A.", "doc_id": None}, {"text": "B.", "doc_id": "x"}])
    (tmp_path / "c.csv").write_text("text,doc_id\nA.,\nB.,x\n", encoding="utf-8")
    pq.write_table(pa.table({"text": ["A.", "B."], "doc_id": pa.array([None, "x"])}), tmp_path / "p.parquet")
    for name in ("j.jsonl", "c.csv", "p.parquet"):
        assert [item[0] for item in read_file(tmp_path / name)] == [name.split(".")[0], "x"]


def test_a_parquet_text_column_must_hold_text(tmp_path):
    """A column of numbers was a TypeError traceback; strings stored as a dictionary or view still read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.scoring.inputs import read_file

    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "n.parquet")
    with pytest.raises(PipelineError, match=r"n\.parquet: the 'text' column holds int64, not text"):
        list(read_file(tmp_path / "n.parquet"))
    for kind in ["dictionary", "large_string", "string_view"]:
        texts = pa.array(["A.", "B."], pa.large_string() if kind == "large_string" else pa.string())
        texts = texts.dictionary_encode() if kind == "dictionary" else texts
        texts = texts.cast(pa.string_view()) if kind == "string_view" else texts
        pq.write_table(pa.table({"text": texts}), tmp_path / f"{kind}.parquet")
        assert [item[2] for item in read_file(tmp_path / f"{kind}.parquet")] == ["A.", "B."]


def test_a_column_named_twice_is_one_error(tmp_path):
    """Parquet's was a KeyError traceback; CSV kept the last 'text' column and lost the sentences of the first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.scoring.inputs import read_file

    (tmp_path / "s.csv").write_text("text,doc_id,text\nWe will come.,a,It rained.\n", encoding="utf-8")
    pq.write_table(pa.table([pa.array(["A."]), pa.array(["B."])], names=["text", "text"]), tmp_path / "s.parquet")
    for name in ["s.csv", "s.parquet"]:
        with pytest.raises(PipelineError, match=rf"{name}: 2 columns named 'text'"):
            list(read_file(tmp_path / name))


def test_a_utf16_data_file_is_one_error_saying_to_save_it_as_utf8(tmp_path):
    """Each line was read as stray bytes: JSON Lines said 'not valid JSON' of every line, CSV found no
    'text' column or scored mojibake. Articles (.txt) in UTF-16 are still decoded."""
    from pipeline.data.source import DataSource
    from pipeline.scoring.inputs import read_file

    files = {"s.jsonl": '{"text": "We will come.", "label": "threat", "doc_id": "a"}\n',
             "s.csv": "text,label,doc_id\nWe will come.,threat,a\n"}
    for name, text in files.items():
        (tmp_path / name).write_bytes(text.encode("utf-16"))
        expected = rf"^{tmp_path / name}: UTF-16 text, where data files are read as UTF-8: save the file as UTF-8$"
        with pytest.raises(PipelineError, match=expected):
            list(read_file(tmp_path / name))
        with pytest.raises(PipelineError, match=expected):
            DataSource(str(tmp_path / name)).load_train()
    (tmp_path / "a.txt").write_bytes("We will come. It rained.".encode("utf-16"))
    assert [item[2] for item in read_file(tmp_path / "a.txt")] == ["We will come.", "It rained."]
