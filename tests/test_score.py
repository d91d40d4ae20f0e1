import csv
import io
import json
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli, write_jsonl

from pipeline import load_model
from pipeline.score import main


def test_scoring_one_sentence_imports_neither_hydra_nor_datasets(trained_model):
    code = (
        "import sys; from pipeline.score import main; "
        f"main(['--model', {str(trained_model)!r}, '--text', 'We will come.']); "
        "heavy = [m for m in ('hydra', 'datasets', 'matplotlib', 'omegaconf') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stderr


def test_jsonl_sentences_keep_their_ids(tmp_path, trained_model, capsys):
    path = write_jsonl(tmp_path / "s.jsonl", [
        {"text": "We will burn it down.", "doc_id": "art7", "sentence_index": 4},
        {"text": "The minister resigned.", "doc_id": "art7", "sentence_index": 5},
    ])
    main(["--model", str(trained_model), str(path), "--format", "jsonl"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["doc_id"], r["sentence_index"], r["text"]) for r in records] == [
        ("art7", 4, "We will burn it down."), ("art7", 5, "The minister resigned."),
    ]


def test_folder_of_articles_gives_one_record_per_sentence(trained_model, capsys):
    main(["--model", str(trained_model), str(ROOT / "seeds"), "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 55
    assert {r["doc_id"] for r in rows} == {p.stem for p in (ROOT / "seeds").glob("*.txt")}
    assert set(rows[0]) == {"doc_id", "sentence_index", "text", "label", "score_background_fact",
                            "score_editorial_framing", "score_reporting", "score_threat"}


def test_a_csv_cell_that_starts_like_a_formula_is_text_to_a_spreadsheet_and_reads_back(tmp_path, trained_model):
    texts = ["=HYPERLINK(\"http://x\") They will pay.", "- The rebels vowed to fight on.", "@news said so.",
             "'=quoted' stays as written.", "The summit opened."]
    path = write_jsonl(tmp_path / "s.jsonl", [{"doc_id": "-7", "text": t} for t in texts])
    out = tmp_path / "scores.csv"
    main(["--model", str(trained_model), str(path), "-o", str(out)])
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["text"] for r in rows] == ["'" + t for t in texts[:4]] + [texts[4]]
    assert {r["doc_id"] for r in rows} == {"'-7"}
    again = tmp_path / "again.jsonl"
    main(["--model", str(trained_model), str(out), "-o", str(again)])  # the project reads it back as it was
    records = [json.loads(line) for line in again.read_text().splitlines()]
    assert [(r["doc_id"], r["text"]) for r in records] == [("-7", t) for t in texts]
    assert [r["label"] for r in records] == [r["label"] for r in rows]


def test_output_file_matches_python_api(tmp_path, trained_model):
    out = tmp_path / "scores.jsonl"
    text = "Our patience has limits. The summit opened on Monday."
    result = run_cli("score", "--model", trained_model, "--text", text, "-o", out)
    assert result.returncode == 0, result.stderr
    from_cli = [json.loads(line) for line in out.read_text().splitlines()]
    assert from_cli == load_model(trained_model).score_text(text)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.jsonl"]


@pytest.mark.parametrize("kind", ["context", "text"])
def test_the_python_api_refuses_what_is_not_a_list_of_sentences_and_scores_none(request, kind):
    model = load_model(request.getfixturevalue({"context": "trained_model", "text": "text_model"}[kind]))
    for call in (model.predict_sentences, model.predict_proba):
        with pytest.raises(TypeError, match="got one string"):  # not one sentence per character
            call("We will burn the bridge.")
        with pytest.raises(TypeError, match="expected sentences as str, got NoneType"):
            call(["We will burn the bridge.", None])
        with pytest.raises(TypeError, match="expected sentences as str, got int"):
            call([5])
    assert model.predict_sentences([]) == [] and model.score_text("") == []
    assert model.predict_proba([]).shape == (0, len(model.labels))
    for article in (None, 5, b"We will come.", ["We will come."]):
        with pytest.raises(TypeError, match=f"expected the article as str, got {type(article).__name__}"):
            model.score_text(article)


def test_invalid_utf8_is_replaced_and_reported(tmp_path, trained_model, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Le ministre a menacé la ville.".encode("latin-1"))
    main(["--model", str(trained_model), str(path), "--format", "jsonl"])
    captured = capsys.readouterr()
    assert "were replaced" in captured.err and str(path) in captured.err
    assert len(captured.out.splitlines()) == 1


def test_inputs_without_a_sentence_are_named_in_a_warning(tmp_path, trained_model, capsys):
    empty, blank, table = tmp_path / "empty.txt", tmp_path / "blank.txt", tmp_path / "table.csv"
    empty.write_text("")
    blank.write_text("\n  \n")
    table.write_text("\n \n")  # an empty table warns as an empty article does (it refused the run)
    out = tmp_path / "scores.jsonl"
    main(["--model", str(trained_model), str(empty), str(ROOT / "seeds"), str(blank), str(table), "-o", str(out)])
    err = capsys.readouterr().err
    for name in (empty, blank, table):
        assert f"{name}: no sentences (the file is empty or blank)" in err
    assert len(out.read_text().splitlines()) == 55  # the seed articles' sentences, scored as ever
    main(["--model", str(trained_model), "--text", "  ", "--format", "jsonl"])
    assert "no sentences to score in --text; the output is empty" in capsys.readouterr().err
    main(["--model", str(trained_model), str(ROOT / "seeds"), "--format", "jsonl"])
    assert "no sentences" not in capsys.readouterr().err


def test_an_output_suffix_that_names_no_format_is_said_to_get_jsonl(tmp_path, trained_model, capsys):
    out = tmp_path / "scores.xlsx"
    main(["--model", str(trained_model), "--text", "We will come.", "-o", str(out)])
    assert f"--output: {out}: its suffix names no format; writing JSONL" in capsys.readouterr().err
    assert json.loads(out.read_text())["text"] == "We will come."
    main(["--model", str(trained_model), "--text", "We will come.", "-o", str(tmp_path / "s.txt"), "--format", "csv"])
    assert "names no format" not in capsys.readouterr().err


def test_a_run_folder_given_as_the_model_names_the_model_it_saved(tmp_path, trained_model):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model_dir.txt").write_text(f"{trained_model}\n")
    result = run_cli("score", "--model", run, "--text", "We will come.")
    assert result.returncode == 2
    assert result.stderr == f"error: {run} is a run folder; the model it saved is {trained_model}\n"


def test_a_latest_here_whose_model_moved_is_named_not_passed_over_for_the_projects(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "latest").symlink_to("seed-model")  # the model moved elsewhere since
    result = run_cli("score", "--text", "We will come.", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: model folder not found: models/latest names seed-model, which is not there"], result.stderr


def test_articles_with_the_same_name_in_two_folders_stay_two_articles(tmp_path, trained_model, capsys):
    """Their doc_ids were both the stem, so a context model read them as one article."""
    articles = sorted((ROOT / "seeds").iterdir())
    for folder, article in zip("ab", articles):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "article.txt").write_text(article.read_text())
    alone = []
    for folder in "ab":
        main(["--model", str(trained_model), str(tmp_path / folder / "article.txt"), "--format", "jsonl"])
        alone += [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.jsonl"
        main(["--model", str(trained_model), str(tmp_path / "a"), str(tmp_path / "b"), "--jobs", jobs, "-o", str(out)])
        together = [json.loads(line) for line in out.read_text().splitlines()]
        assert {r["doc_id"] for r in together} == {"a/article", "b/article"}
        assert [r["scores"] for r in together] == [r["scores"] for r in alone]


def test_the_terminal_table_shows_brackets_and_colons_as_written(trained_model, capsys):
    texts = ["Closing tag [/] alone.", "He said [bold]we will[/bold] strike :fire:."]
    main(["--model", str(trained_model), "--format", "table", *(f"--text={text}" for text in texts)])
    shown = " ".join(capsys.readouterr().out.split())
    assert "[/] alone." in shown and "[bold]we will[/bold]" in shown and ":fire:." in shown  # markup: a traceback


def test_dash_as_output_means_stdout(tmp_path, trained_model, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["--model", str(trained_model), "--text", "We will burn your city.", "-o", "-", "--format", "jsonl"])
    assert json.loads(capsys.readouterr().out)["text"] == "We will burn your city."
    assert not (tmp_path / "-").exists()  # it wrote a file named '-'


def test_the_command_scores_a_naive_bayes_model_of_plain_sentences(tmp_path):
    # The command skips importing pandas for text models; scikit-learn's naive Bayes then checked
    # for a DataFrame through a pandas it found as None in sys.modules and failed with a traceback.
    from conftest import train_with

    train_with(tmp_path, ["data=seed", "features=word_tfidf", "model=complement_nb"], run_name="nb")
    result = run_cli("score", "--model", tmp_path / "models" / "nb", "--text", "We will burn your village.")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"] in {"threat", "reporting", "editorial_framing", "background_fact"}
