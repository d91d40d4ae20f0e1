"""Options shared by the commands: one spelling, and one overwrite rule for -o on every command."""

import importlib
import json

import pytest
from conftest import SEED_DATA, run_cli

ARTICLE = "We will find you wherever you hide. The talks ended on Monday without a deal.\n"


def refused_then_forced(capsys, tmp_path, command: str, args: list[str]):
    """Run `command args -o FILE` on an existing FILE: refused without --force, replaced with it."""
    main = importlib.import_module(f"pipeline.{command}").main
    out = tmp_path / "out.jsonl"
    out.write_text("kept\n")
    with pytest.raises(SystemExit) as refused:
        main([*args, "-o", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert refused.value.code == 2
    assert err == [f"error: --output: {out} already exists (pass --force to replace it)"]
    assert out.read_text() == "kept\n"
    main([*args, "-o", str(out), "--force"])
    assert out.read_text() != "kept\n"
    return out


@pytest.fixture
def article(tmp_path):
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


def test_score_replaces_an_existing_output_only_with_force(capsys, tmp_path, trained_model, article):
    out = refused_then_forced(capsys, tmp_path, "score", ["--model", str(trained_model), str(article)])
    assert [json.loads(line)["sentence_index"] for line in out.read_text().splitlines()] == [0, 1]


def test_split_replaces_an_existing_output_only_with_force(capsys, tmp_path, article):
    out = refused_then_forced(capsys, tmp_path, "split", [str(article)])
    assert json.loads(out.read_text().splitlines()[0])["label"] == ""


def test_suggest_replaces_an_existing_output_only_with_force(capsys, tmp_path, trained_model, article):
    out = refused_then_forced(capsys, tmp_path, "suggest", ["--model", str(trained_model), str(article), "-n", "1"])
    assert len(out.read_text().splitlines()) == 1


def test_audit_replaces_an_existing_output_only_with_force(capsys, tmp_path):
    out = refused_then_forced(capsys, tmp_path, "audit", ["data=seed", "features=word_tfidf", "-n", "3",
                                                          "--format", "jsonl"])
    assert len(out.read_text().splitlines()) == 3


def test_score_resume_with_nothing_to_resume_says_it_starts_over(tmp_path, trained_model):
    # A mistyped -o with --resume scored everything again in silence.
    out = tmp_path / "scores.jsonl"
    result = run_cli("score", "--model", trained_model, SEED_DATA, "-o", out, "--resume")
    assert result.returncode == 0, result.stderr
    assert f"warning: --resume: no interrupted run of {out} to continue" in result.stderr
    assert len(out.read_text().splitlines()) == 55


def test_score_resume_continues_into_its_output_and_needs_force_only_to_replace_a_file(
        capsys, tmp_path, trained_model, monkeypatch):
    """--resume goes with -o; the output file appears at the end, so a resumed run needs no --force,
    unless a complete file of that name is there to be replaced."""
    from pipeline.score import main
    from pipeline.scoring.resumable import FileOutput

    out = tmp_path / "scores.jsonl"
    args = ["--model", str(trained_model), str(SEED_DATA), "-o", str(out), "--batch-size", "10"]

    def die(self, items_done, final=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(FileOutput, "commit", die)
    with pytest.raises(SystemExit):
        main(args)
    monkeypatch.undo()
    main([*args, "--resume"])
    assert len(out.read_text().splitlines()) == 55
    with pytest.raises(SystemExit):
        main([*args, "--resume"])
    assert "already exists (pass --force to replace it)" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["score", "suggest", "serve"])
def test_model_options_read_the_same_everywhere(capsys, command):
    parse_args = importlib.import_module(f"pipeline.{command}").parse_args
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--model DIR model folder (default: models/latest)" in text
    assert "--trust load the model's model.joblib even if this machine does not trust it" in text


@pytest.mark.parametrize("command", ["score", "split", "suggest", "audit"])
def test_output_options_read_the_same_everywhere(capsys, command):
    parse_args = importlib.import_module(f"pipeline.{command}").parse_args
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "-o FILE, --output FILE" in text and "--force replace the -o file if it exists" in text

