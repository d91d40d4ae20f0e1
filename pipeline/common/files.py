"""Finding input files in folders, and output files that may be written.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, TextIO

from pipeline.common.errors import PipelineError

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def resolve_files(paths: str | list[str], key: str) -> list[Path]:
    """Files named directly, plus the data files inside named folders (sorted)."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise PipelineError(f"{key}: no files given")
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir() and not _is_saved_dataset(path):
            found = sorted(p for p in path.rglob("*") if p.suffix in FORMATS and p.is_file())
            if not found:
                raise PipelineError(f"{key}: no .jsonl, .csv or .parquet files in folder {path}")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise PipelineError(f"{key}: file not found: {path}")
    return files


def _is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in ("dataset_info.json", "dataset_dict.json"))


def check_output(path: str | Path, force: bool = False) -> Path:
    """An output file we may write: its folder exists, and it exists only if `force`."""
    out = Path(path)
    if out.is_dir():
        raise PipelineError(f"--output: {out} is a folder, not a file")
    if not out.parent.is_dir():
        raise PipelineError(f"--output: folder does not exist: {out.parent}")
    if out.exists() and not force:
        raise PipelineError(f"--output: {out} already exists (pass --force to replace it)")
    return out


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[TextIO]:
    """A text stream whose content replaces `path` only once fully written."""
    from pipeline.common import atomic

    out = check_output(path, force)
    with atomic.replacing(out, "w", newline="") as stream:
        yield stream
