"""Write files so a reader, or a run killed at any moment, never sees one half-written.

Each file is written to a hidden temporary name in its own folder, flushed to disk and
renamed over the target: the target holds either its old content or the complete new one.
A folder of files is written the same way (`publishing_folder`): whole, or not at all.
A full disk (ENOSPC, EDQUOT) while writing removes the temporary and raises `DiskFull`
naming the target, which commands print as one `error:` line.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import IO, Iterator

from pipeline.common.errors import DiskFull, PipelineError, is_disk_full


def temporary_name(target: Path) -> Path:
    """A hidden sibling of `target` that no other process picks (pid and random part)."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")


# What `temporary_name` makes, with the pid of the process that made it.
_TEMPORARY = re.compile(r"\..+\.(?P<pid>\d+)-[0-9a-f]{6}\.tmp")


def remove_temporaries_of(folder: str | Path, pids: set[int]) -> list[Path]:
    """Remove the hidden temporaries (`temporary_name`) that the processes `pids` left anywhere in
    `folder`: a process killed outright (SIGKILL, or a pool ending a worker mid-cleanup) cannot
    remove its own. Call it only once those processes have ended. Returns what was removed."""
    folder = Path(folder)
    if not pids or not folder.is_dir():
        return []
    removed = []
    for path in list(folder.rglob(".*.tmp")):
        match = _TEMPORARY.fullmatch(path.name)
        if match and int(match["pid"]) in pids and not path.is_dir():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def replacing(target: str | Path, mode: str = "w", *, durable: bool = True, **open_kwargs) -> Iterator[IO]:
    """Open a temporary file; on a clean exit it replaces `target`, on an error it is removed.

    `durable` flushes the file to disk before the rename, so a power cut cannot leave an empty
    target either; small bookkeeping files rewritten many times a second may skip it (a killed
    process loses nothing written before it died either way).
    """
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with replacing_path(target, durable=durable) as tmp, open(tmp, mode, **open_kwargs) as handle:
        yield handle


@contextlib.contextmanager
def replacing_path(target: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """Like `replacing`, for writers that open a path themselves (pyarrow writes a path natively,
    without taking Python's lock for each write as it would through a Python file object)."""
    target = Path(target)
    tmp = temporary_name(target)
    try:
        yield tmp
        if durable:
            flush_file(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(target, exc) from None
        if exc.filename is not None and Path(exc.filename) in (tmp, target):  # a read-only or forbidden folder
            raise PipelineError(f"{target}: cannot write: {exc.strerror}") from None
        raise
    finally:
        with contextlib.suppress(OSError):  # absent, or in a folder that took no file (read-only)
            os.unlink(tmp)
    if durable:
        sync_folder(target.parent)


def write_text(target: str | Path, text: str, *, durable: bool = True) -> None:
    with replacing(target, "w", newline="", durable=durable) as handle:
        handle.write(text)


def write_bytes(target: str | Path, data: bytes) -> None:
    with replacing(target, "wb") as handle:
        handle.write(data)


def flush_file(path: str | Path) -> None:
    """Flush a written file's data to disk (errors, a full disk among them, are raised)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush_folder(folder: str | Path) -> None:
    """Flush every file of `folder` to disk, then the folder itself, before it is renamed into place."""
    for file in Path(folder).iterdir():
        if file.is_file():
            flush_file(file)
    sync_folder(folder)


def sync_folder(folder: str | Path) -> None:
    """Make a rename inside `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def publishing_folder(target: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a hidden empty sibling folder of `target`; on a clean exit it becomes `target`.

    The files written into it are flushed to disk and one rename publishes them all, so a reader
    sees the old folder or the whole new one. An existing `target` is an error unless `replace`;
    then it is swapped out and, should the rename fail, put back. On any error the temporary
    folder is removed; a full disk raises `DiskFull` naming `target` and what it still holds.
    """
    target = Path(target)
    if target.exists() and not replace:
        raise FileExistsError(target)
    tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
    try:  # made in here: a signal landing just after the mkdir still removes the folder
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        yield tmp
        flush_folder(tmp)
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        swapped = replace and target.exists()
        if swapped:
            target.rename(old)
        try:
            tmp.rename(target)
        except BaseException:  # a failed rename or Ctrl-C
            if swapped:
                old.rename(target)  # the earlier folder stays where it was
            raise
        shutil.rmtree(old, ignore_errors=True)
        sync_folder(target.parent)
    except OSError as exc:
        if not is_disk_full(exc):
            failed = Path(exc.filename) if exc.filename is not None else None
            if failed in (target, *target.parents) or failed and failed.parent == target.parent:  # a read-only disk
                raise PipelineError(f"{target}: cannot write: {exc.strerror}") from None
            raise
        kept = f"{target} is unchanged" if target.exists() else "nothing was written"
        raise DiskFull(target, exc, f"{kept}; free some space and run the command again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
