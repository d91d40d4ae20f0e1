"""A full disk (ENOSPC, or EDQUOT over a quota) while saving a model, writing run files and scoring
to -o: one `error:` line naming the path and saying the disk is full, exit code 2, nothing
half-written where a reader looks (hidden temporaries removed), the previous models/latest still
loadable, and --resume continuing once space is freed.

Real full disks are small tmpfs mounts (root only, skipped elsewhere); EDQUOT is injected.
"""

import errno
import json
import os
import re
import shlex

import pytest
from conftest import run_cli, sentence_file, train_with
from faults import SmallDisks, fill, hidden_leftovers, stderr_lines, visible_models

from pipeline import load_model
from pipeline.artifacts.folder import save_model
from pipeline.artifacts.names import LATEST
from pipeline.common.errors import DiskFull
from pipeline.score import main as score_main
from pipeline.scoring import resumable
from pipeline.scoring.writers import JsonlWriter

FAST = ["data=seed", "features=word_tfidf"]
NO_SPACE = "disk full (No space left on device)"


@pytest.fixture
def small_disk(tmp_path):
    disks = SmallDisks(tmp_path)
    yield disks
    disks.unmount_all()


# ---------------------------------------------------------------- training
@pytest.mark.slow
def test_saving_a_model_on_a_full_disk_keeps_latest_and_saves_once_space_is_freed(tmp_path, small_disk):
    disk = small_disk(4096)
    models = disk / "models"
    train_with(disk, FAST, run_name="first", run_dir=tmp_path / "run-first")
    filler = fill(disk, leave_bytes=16 * 1024)
    args = ["train", *FAST, f"paths.models_dir={models}", f"hydra.run.dir={tmp_path / 'run'}", "run_name=second"]

    run = run_cli(*args)
    assert run.returncode == 2, run.stderr
    assert stderr_lines(run.stderr) == [
        f"error: {models / 'second'}: {NO_SPACE}; no model was saved ({models / LATEST} is unchanged); "
        f"the files already in {tmp_path / 'run'} are complete; free some space and train again"
    ]
    assert visible_models(models) == [models / "first"] and hidden_leftovers(models) == []
    assert load_model(models / LATEST).card["name"] == "first"

    filler.unlink()
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert load_model(models / LATEST).card["name"] == "second"
    assert hidden_leftovers(models) == []


@pytest.mark.slow
def test_run_files_on_a_full_disk_save_no_model(tmp_path, small_disk):
    disk = small_disk(64)  # room for Hydra's .hydra/ files, not for the reports
    models = tmp_path / "models"
    train_with(tmp_path, FAST, run_name="first", run_dir=tmp_path / "run-first")
    run = run_cli("train", *FAST, f"paths.models_dir={models}", f"hydra.run.dir={disk / 'run'}", "run_name=second")
    assert run.returncode == 2, run.stderr
    [line] = stderr_lines(run.stderr)
    assert re.fullmatch(rf"error: {disk / 'run'}/[a-z_]+\.[a-z]+: {re.escape(NO_SPACE)}; no model was saved "
                        rf"\({models / LATEST} is unchanged\); .*; free some space and train again", line), line
    assert hidden_leftovers(disk) == []
    assert visible_models(models) == [models / "first"]
    assert load_model(models / LATEST).card["name"] == "first"


def test_a_disk_full_before_hydra_has_written_its_files_is_one_line(tmp_path, small_disk):
    disk = small_disk(64)
    fill(disk)
    run = run_cli("train", *FAST, f"paths.models_dir={tmp_path / 'models'}", f"hydra.run.dir={disk / 'run'}")
    assert run.returncode == 2, run.stderr
    [line] = stderr_lines(run.stderr)
    assert line.startswith(f"error: {disk / 'run'}") and NO_SPACE in line


def test_a_trust_store_on_a_full_disk_leaves_no_model_behind(tmp_path, small_disk, trained_model, monkeypatch):
    disk = small_disk(64)
    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(disk / "trusted.json"))
    fill(disk)
    model = load_model(trained_model, trust=True)
    models = tmp_path / "models"
    with pytest.raises(DiskFull, match=rf"^{disk / 'trusted.json'}: {re.escape(NO_SPACE)}"):
        save_model(model.estimator, model.card, models, "unsaved", skops=False)
    assert visible_models(models) == [] and hidden_leftovers(models) == [] and not (models / LATEST).exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_model_write_over_quota_names_the_folder_and_keeps_latest(tmp_path, trained_model, monkeypatch, code):
    import joblib

    model = load_model(trained_model)
    models = tmp_path / "models"
    save_model(model.estimator, model.card, models, "first", skops=False)

    def over_quota(value, target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"half a model")
        raise OSError(code, "the library's own words")

    monkeypatch.setattr(joblib, "dump", over_quota)
    with pytest.raises(DiskFull) as failed:
        save_model(model.estimator, model.card, models, "second", skops=False)
    assert str(failed.value).startswith(f"{models / 'second'}: disk full ({os.strerror(code)}); "
                                        f"the model was not saved and {models / LATEST} is unchanged")
    assert visible_models(models) == [models / "first"] and hidden_leftovers(models) == []
    assert load_model(models / LATEST).card["name"] == "first"


# ---------------------------------------------------------------- scoring to -o
@pytest.fixture(scope="module")
def sentences(tmp_path_factory):
    return sentence_file(tmp_path_factory.mktemp("disk-full-input") / "sentences.jsonl", 20_000, 25, "article-")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, text_model, sentences):
    """Each format scored in one uninterrupted run."""
    folder = tmp_path_factory.mktemp("disk-full-reference")
    outputs = {}
    for fmt in ("jsonl", "csv", "parquet"):
        outputs[fmt] = folder / f"full.{fmt}"
        score_main(["--model", str(text_model), str(sentences), "-o", str(outputs[fmt])])
    return outputs


def read_rows(path):
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return path.read_bytes()


def stopped_scoring(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        score_main(args)
    return stopped.value.code, stderr_lines(capsys.readouterr().err)


def resume_from(line: str, out, capsys) -> None:
    """Run the command the error line printed, in this process."""
    command = line.rsplit("continue with: ", 1)[1]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "pipeline.score"] and argv[-1] == "--resume"
    score_main(argv[3:])
    capsys.readouterr()


@pytest.mark.parametrize("fmt, options, size_mb", [("jsonl", [], 8), ("csv", ["--jobs", "2"], 8), ("parquet", [], 12)])
def test_scoring_onto_a_full_disk_then_resuming_gives_the_whole_output(small_disk, text_model, sentences, reference,
                                                                       capsys, monkeypatch, fmt, options, size_mb):
    monkeypatch.setattr(resumable, "PARQUET_PART_ROWS", 2000)  # parts commit often, as on big inputs
    disk = small_disk(size_mb * 1024)
    filler = fill(disk, leave_bytes=1 << 20)
    out = disk / f"scores.{fmt}"
    partial = disk / f".{out.name}.partial"
    args = ["--model", str(text_model), str(sentences), "-o", str(out), "--batch-size", "500", *options]

    code, lines = stopped_scoring(args, capsys)
    assert code == 2
    [line] = lines
    found = re.fullmatch(rf"error: {out}: {re.escape(NO_SPACE)}; ([\d,]+) sentences are committed in {partial}; "
                         rf"free some space, then continue with: python -m pipeline\.score .* --resume", line)
    assert found, line
    committed = int(found.group(1).replace(",", ""))
    assert not out.exists() and hidden_leftovers(disk) == []
    progress = json.loads((partial / "progress.json").read_text())
    assert progress["items"] == committed < 20_000
    assert not list(partial.glob("work-*")) and not (partial / "merged.parquet").exists()
    if fmt != "parquet":  # rows written after the last commit were dropped, freeing their space
        assert (partial / "data").stat().st_size == progress["bytes"]

    filler.unlink()
    resume_from(line, out, capsys)
    assert read_rows(out) == read_rows(reference[fmt])
    assert sorted(p.name for p in disk.iterdir()) == [out.name]


def test_scoring_over_quota_is_resumable_too(tmp_path, text_model, sentences, reference, capsys, monkeypatch):
    out = tmp_path / "scores.jsonl"
    real_write, calls = JsonlWriter.write, []

    def over_quota(self, items, probabilities):
        calls.append(len(items))
        if len(calls) == 4:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        real_write(self, items, probabilities)

    monkeypatch.setattr(JsonlWriter, "write", over_quota)
    code, [line] = stopped_scoring(["--model", str(text_model), str(sentences), "-o", str(out),
                                    "--batch-size", "1000"], capsys)
    assert code == 2
    assert line.startswith(f"error: {out}: disk full (Disk quota exceeded); 3,000 sentences are committed in ")
    assert not out.exists()
    monkeypatch.setattr(JsonlWriter, "write", real_write)
    resume_from(line, out, capsys)
    assert out.read_bytes() == reference["jsonl"].read_bytes()


def test_scoring_to_stdout_on_a_full_disk_is_one_line(text_model, sentences, capsys, monkeypatch):
    def full(self, items, probabilities):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(JsonlWriter, "write", full)
    code, lines = stopped_scoring(["--model", str(text_model), str(sentences), "--format", "jsonl"], capsys)
    assert code == 2
    assert lines == [f"error: stdout: {NO_SPACE}; nothing was kept; free some space and run it again"]
