"""Every file the package writes goes through the atomic writer: an interrupted or failed write
leaves the old file (or nothing), never half of the new one, and no hidden temporary."""

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from pipeline.artifacts.predictions_file import read_predictions, write_predictions
from pipeline.artifacts.trust_store import record, store_path, trusted_models
from pipeline.common.atomic import publishing_folder
from pipeline.common.errors import DiskFull, PipelineError
from pipeline.common.files import atomic_output
from pipeline.evaluation.leaderboard import build_leaderboard, write_leaderboard
from pipeline.evaluation.metrics import Predictions, compute_metrics
from pipeline.reports.files import write_reports
from pipeline.scoring.processes import WorkTarget, write_work_file
from pipeline.scoring.resumable import FileOutput

LABELS = ["threat", "reporting"]


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


def predictions(n=3):
    return Predictions([f"Sentence {i}." for i in range(n)], [f"d{i}" for i in range(n)], ["threat"] * n,
                       ["reporting"] * n, np.full((n, 2), 0.5), LABELS, probabilistic=True)


def write_metrics(folder: Path) -> Path:
    metrics = compute_metrics(LABELS, ["threat", "reporting"], ["threat", "threat"], ["a", "b"])
    write_reports(metrics, folder, "Run")
    return folder / "metrics.json"


def write_predictions_file(folder: Path) -> Path:
    write_predictions(predictions(), folder / "predictions.jsonl")
    return folder / "predictions.jsonl"


def write_leaderboard_files(folder: Path) -> Path:
    run = folder / "run"
    if not run.exists():
        run.mkdir()
        write_metrics(run)
    write_leaderboard(build_leaderboard([run]), folder)
    return folder / "leaderboard.md"


def write_an_output(folder: Path) -> Path:
    with atomic_output(folder / "template.jsonl", force=True) as stream:
        stream.write('{"text": "new"}\n')
    return folder / "template.jsonl"


def write_trust_store(folder: Path) -> Path:
    record("f" * 64, folder, "vouched")
    return store_path()


def write_work(folder: Path) -> Path:
    target = WorkTarget(folder, "jsonl", LABELS, 10, False)
    write_work_file(folder / "work-000000.jsonl", target, [([("d", 0, "A sentence.")], np.array([[0.2, 0.8]]))])
    return folder / "work-000000.jsonl"


def write_progress(folder: Path) -> Path:
    out = FileOutput.__new__(FileOutput)
    out.progress = folder / "progress.json"
    out._write_state({"items": 7})
    return out.progress


WRITERS = {
    "metrics.json and the reports": write_metrics,
    "predictions.jsonl": write_predictions_file,
    "leaderboard.md and .csv": write_leaderboard_files,
    "-o of split, suggest, audit": write_an_output,
    "the trust store": write_trust_store,
    "score work files": write_work,
    "score progress.json": write_progress,
}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "store" / "trusted.json"))
    (tmp_path / "store").mkdir()


@pytest.mark.parametrize("site", WRITERS)
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, store, monkeypatch, site):
    folder = tmp_path / "out"
    folder.mkdir()
    target = WRITERS[site](folder)  # a first, complete write
    before = target.read_bytes()
    real_replace = os.replace

    def interrupted(src, dst, *args, **kwargs):  # Ctrl-C lands just before the file would be renamed
        if Path(dst).name == target.name:
            raise KeyboardInterrupt
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        WRITERS[site](folder)
    assert target.read_bytes() == before
    assert temporaries(target.parent) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("site", [s for s in WRITERS if "score" not in s])
def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, store, monkeypatch, site, code):
    folder = tmp_path / "out"
    folder.mkdir()
    target = WRITERS[site](folder)
    before = target.read_bytes()

    def full(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFull) as failed:
        WRITERS[site](folder)
    message = str(failed.value)
    assert message.startswith(f"{folder}/") or message.startswith(str(target))
    assert f"disk full ({os.strerror(code)})" in message
    assert target.read_bytes() == before
    assert temporaries(target.parent) == []


@pytest.mark.parametrize("site", [s for s in WRITERS if "score" not in s])
def test_a_read_only_folder_names_the_file_and_keeps_the_old_one(tmp_path, store, monkeypatch, site):
    from pipeline.common import atomic

    folder = tmp_path / "out"
    folder.mkdir()
    target = WRITERS[site](folder)
    before = target.read_bytes()
    real_open, real_unlink = open, os.unlink

    def read_only(call):  # the folder takes no new file (a read-only disk): EROFS, naming the temporary
        def refused(path, *args, **kwargs):
            if str(path).endswith(".tmp"):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return call(path, *args, **kwargs)
        return refused

    monkeypatch.setattr(atomic, "open", read_only(real_open), raising=False)
    monkeypatch.setattr(os, "unlink", read_only(real_unlink))
    refused = rf"^{re.escape(str(target.parent))}/\S+: cannot write: Read-only file system$"
    with pytest.raises(PipelineError, match=refused):
        WRITERS[site](folder)
    assert target.read_bytes() == before
    assert temporaries(target.parent) == []


def publish(folder: Path, text: str, replace: bool = True) -> None:
    with publishing_folder(folder, replace=replace) as tmp:
        (tmp / "a.jsonl").write_text(text)
        (tmp / "b.json").write_text(text)


@pytest.mark.parametrize("where", ["as its hidden folder is made", "while writing", "at the rename"])
def test_an_interrupted_folder_keeps_the_old_folder_whole_and_leaves_no_hidden_one(tmp_path, monkeypatch, where):
    folder = tmp_path / "silver"
    publish(folder, "old")
    real_rename, real_mkdir = os.rename, Path.mkdir

    def interrupted(src, dst, *args, **kwargs):
        if Path(src).name.startswith(".tmp-"):
            raise KeyboardInterrupt
        return real_rename(src, dst, *args, **kwargs)

    def made_then_interrupted(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if path.name.startswith(".tmp-"):  # the signal lands the moment the folder exists
            raise KeyboardInterrupt

    if where == "at the rename":
        monkeypatch.setattr(os, "rename", interrupted)
    elif where == "as its hidden folder is made":
        monkeypatch.setattr(Path, "mkdir", made_then_interrupted)
    with pytest.raises(KeyboardInterrupt), publishing_folder(folder, replace=True) as tmp:
        (tmp / "a.jsonl").write_text("new")
        if where == "while writing":
            raise KeyboardInterrupt
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.jsonl": "old", "b.json": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["silver"]


def test_a_published_folder_replaces_the_old_one_whole_only_when_asked(tmp_path):
    folder = tmp_path / "silver"
    publish(folder, "old")
    with pytest.raises(FileExistsError):
        publish(folder, "new", replace=False)
    publish(folder, "new")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.jsonl": "new", "b.json": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["silver"]


@pytest.mark.parametrize("where", ["beside it", "in a folder to make"])
def test_a_folder_published_on_a_read_only_disk_is_one_line_and_keeps_the_old_one(tmp_path, monkeypatch, where):
    folder = tmp_path / "silver" if where == "beside it" else tmp_path / "new" / "silver"
    if where == "beside it":
        publish(folder, "old")
    real_mkdir = Path.mkdir

    def read_only(path, *args, **kwargs):  # the disk takes no new folder (root ignores a folder's mode)
        if path == folder.parent and path.exists():
            return real_mkdir(path, *args, **kwargs)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(PipelineError, match=f"^{folder}: cannot write: Read-only file system$"):
        publish(folder, "new")
    monkeypatch.undo()
    if where == "beside it":
        assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.jsonl": "old", "b.json": "old"}
    assert not folder.parent.exists() or [p.name for p in folder.parent.iterdir()] == ["silver"]


def test_a_full_disk_while_publishing_a_folder_names_it_and_keeps_the_old_one(tmp_path, monkeypatch):
    folder = tmp_path / "silver"
    publish(folder, "old")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(DiskFull, match=f"^{folder}: disk full .*{folder} is unchanged"):
        publish(folder, "new")
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.jsonl": "old", "b.json": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["silver"]


def test_temporaries_a_killed_process_left_are_removed_and_no_other_file(tmp_path):
    """A sweep's launcher removes what a worker killed mid-write left (tests/test_termination.py
    stops real sweeps; this pins which names count as that worker's temporaries)."""
    from pipeline.common.atomic import remove_temporaries_of, temporary_name

    sweep = tmp_path / "sweep"
    (sweep / "1").mkdir(parents=True)
    (sweep / "2").mkdir()
    dead = 4242  # the pid of a worker killed mid-write
    left = [sweep / "1" / f".confusion_matrix.png.{dead}-0a1b2c.tmp", sweep / "2" / f".metrics.json.{dead}-ffee01.tmp"]
    for path in left:
        path.write_bytes(b"half")
    kept = [sweep / "1" / "metrics.json", temporary_name(sweep / "1" / "report.md"), sweep / "1" / f".notes.{dead}.tmp"]
    for path in kept:
        path.write_text("x")
    (sweep / ".hydra").mkdir()

    removed = remove_temporaries_of(sweep, {dead})

    assert sorted(removed) == sorted(left)
    assert not any(p.exists() for p in left) and all(p.exists() for p in kept) and (sweep / ".hydra").is_dir()
    assert remove_temporaries_of(sweep, set()) == []


def test_predictions_are_never_half_written_when_a_row_fails(tmp_path):
    path = tmp_path / "predictions.jsonl"
    write_predictions(predictions(3), path)

    class Exploding(np.ndarray):
        def tolist(self):
            raise KeyboardInterrupt

    broken = predictions(20_001)
    broken.scores = np.full((20_001, 2), 0.5).view(Exploding)
    with pytest.raises(KeyboardInterrupt):
        write_predictions(broken, path)
    assert len(read_predictions(path).texts) == 3
    assert temporaries(tmp_path) == []


def test_the_trust_store_stays_valid_json_when_its_write_fails(tmp_path, store, monkeypatch):
    record("a" * 64, tmp_path, "trained")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(DiskFull, match="trusted.json: disk full"):
        record("b" * 64, tmp_path, "trained")
    assert set(trusted_models()) == {"a" * 64}


# Every write in the package, and why it is safe; a new one must go through pipeline.common.atomic
# or be added here with its reason.
WRITE = re.compile(r"open\(.*[\"'](w|a|r\+|x)|write_text|write_bytes|\.dump\(|savefig|to_parquet|write_table|"
                   r"ParquetWriter\(|os\.(truncate|symlink)\(")
ALLOWED = {
    "pipeline/common/atomic.py": "the atomic writer itself",
    "pipeline/artifacts/folder.py": "model files inside the hidden temporary folder one rename publishes",
    "pipeline/artifacts/skops_writer.py": "model files under hidden scratch names save_model moves in",
    "pipeline/artifacts/trust_store.py": "the lock file (empty); the store goes through atomic.write_text",
    "pipeline/models/encoder_runtime.py": "network weights, into the hidden temporary model folder (save_weights)",
    "pipeline/models/finetune.py": "save_weights: network files into the hidden temporary model folder save_model "
                                   "publishes by one rename",
    "pipeline/reports/plots.py": "PNGs drawn into the handle atomic.replacing opened",
    "pipeline/scoring/resumable.py": "the hidden resumable partial folder, renamed into place when complete",
    "pipeline/models/pretrain.py": "the adapted encoder, into the hidden folder pipeline.pretrain renames into place",
    "pipeline/pretrain.py": "pretrain.json, into the hidden folder atomic.publishing_folder renames into place",
    "pipeline/silver.py": "the silver labels files, into the hidden folder atomic.publishing_folder renames into place",
    "pipeline/features/encoder_weights.py": "the encoder's files, into a hidden per-process folder renamed into the "
                                            "cache once every file is checked",
}
ALLOWED_LINES = {
    ("pipeline/reports/training_page.py", "savefig(buffer"): "an image drawn into memory for report.html",
    ("pipeline/scoring/processes.py", ", tmp, **PART_OPTIONS)"): "into the temporary atomic.replacing_path gave",
}


def test_no_module_writes_a_file_in_place():
    found = {}
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#")[0]
            allowed = name in ALLOWED or any(n == name and part in code for n, part in ALLOWED_LINES)
            if WRITE.search(code) and "atomic." not in code and not allowed:
                found.setdefault(name, []).append(f"{number}: {line.strip()}")
    assert found == {}, json.dumps(found, indent=1)
