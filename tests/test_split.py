import json
from collections import defaultdict

from conftest import ROOT, SEED_DATA, run_cli

from pipeline.split import main

SEEDS = ROOT / "seeds"


def read_jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_template_of_the_seed_articles_matches_their_labeled_sentences(capsys):
    main([str(SEEDS)])
    records = read_jsonl(capsys.readouterr().out)
    expected = defaultdict(list)
    for line in SEED_DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        expected[row["doc_id"]].append((row["sentence_index"], row["text"]))
    got = defaultdict(list)
    for r in records:
        assert list(r) == ["doc_id", "sentence_index", "text", "label"] and r["label"] == ""
        got[r["doc_id"]].append((r["sentence_index"], r["text"]))
    assert got == expected


def test_stdin_is_doc_id_stdin_and_fields_can_be_added():
    result = run_cli("split", "-", "--origin", "real", "--genre", "wire_report",
                     input="Rebels vowed to take the city. The talks ended on Monday.\n")
    assert result.returncode == 0, result.stderr
    assert read_jsonl(result.stdout) == [
        {"doc_id": "stdin", "sentence_index": 0, "text": "Rebels vowed to take the city.", "label": "",
         "origin": "real", "genre": "wire_report"},
        {"doc_id": "stdin", "sentence_index": 1, "text": "The talks ended on Monday.", "label": "",
         "origin": "real", "genre": "wire_report"},
    ]


def test_output_file_is_written_whole_and_never_overwritten(tmp_path, capsys):
    article = tmp_path / "art1.txt"
    article.write_text("One sentence here. Another one there.", encoding="utf-8")
    out = tmp_path / "out" / "template.jsonl"
    out.parent.mkdir()
    main([str(article), "-o", str(out)])
    assert [r["text"] for r in read_jsonl(out.read_text())] == ["One sentence here.", "Another one there."]
    assert [p.name for p in out.parent.iterdir()] == ["template.jsonl"]

    out.write_text("labels I typed\n", encoding="utf-8")
    try:
        main([str(article), "-o", str(out)])
    except SystemExit as exc:
        assert exc.code == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "labels I typed\n"
    main([str(article), "-o", str(out), "--force"])
    assert len(read_jsonl(out.read_text())) == 2


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.txt").write_text("A.", encoding="utf-8")
    (tmp_path / "b" / "same.txt").write_text("B.", encoding="utf-8")
    out = tmp_path / "t.jsonl"
    cases = [
        ([tmp_path / "missing.txt"], "missing.txt: file not found"),
        ([SEED_DATA], "holds sentences already"),
        ([empty, "-o", out], "no sentences in the input"),
        ([tmp_path / "a", tmp_path / "b"], "doc_id 'same' is already taken"),
        ([SEEDS, "-o", tmp_path / "nofolder" / "t.jsonl"], "folder does not exist"),
    ]
    for args, message in cases:
        result = run_cli("split", *args)
        lines = result.stderr.splitlines()
        assert result.returncode == 2, args
        assert lines[-1].startswith("error: ") and message in lines[-1], result.stderr
        assert all(line.startswith(("error: ", "warning: ")) for line in lines), result.stderr
        assert result.stdout == ""
    assert not out.exists()


def test_help_describes_the_command():
    result = run_cli("split", "--help")
    assert result.returncode == 0
    assert "labeling template" in result.stdout and "--output" in result.stdout


def test_a_file_name_that_is_not_utf8_reads_with_a_replacement_character(tmp_path):
    """Its stem held a lone surrogate, which the -o writer could not encode (a traceback)."""
    (tmp_path / "caf\udce9.txt").write_bytes(b"We will come. They left.")
    main([str(tmp_path / "caf\udce9.txt"), "-o", str(tmp_path / "t.jsonl")])
    records = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [r["doc_id"] for r in records] == ["caf\ufffd", "caf\ufffd"]
