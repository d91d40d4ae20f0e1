"""Finding input files in folders (one rule for every command), and output files that may be written.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator, TextIO

from pipeline.common.errors import PATH_CHARS, PipelineError, cut, quote

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
STDIN = "-"


def find_files(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    suffixes: Collection[str],
    *,
    what: str,
    key: str | None = None,
    stdin: bool = False,
    whole_folder: Callable[[Path], bool] | None = None,
) -> list[Path]:
    """The input files, in order: each named file as given, then the files inside each named folder.

    The one rule for every command: a folder is walked to any depth, its files whose suffix
    (case aside) is in `suffixes` are taken in sorted order, and hidden files and folders
    (a name starting with ".") inside it are skipped, so no command reads a `.FILE.partial/`
    folder or an editor's swap file. `what` names the wanted files in errors ("article
    files (.txt, .md, .text)"); `key` (a config key or option) starts them. With `stdin`, `-`
    stays in the list as Path("-"); a folder for which `whole_folder` holds is one input.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise PipelineError(f"{key or 'inputs'}: no files given")
    if stdin and [str(item) for item in items].count(STDIN) > 1:
        raise PipelineError("stdin (-) can be read only once")
    wanted = {suffix.lower() for suffix in suffixes}
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if problem := name_problem(path):
            shown = cut(path, PATH_CHARS)
            raise PipelineError(f"{key}: {problem}: {shown}" if key else f"{shown}: {problem}")
        if stdin and str(item) == STDIN:
            files.append(path)
        elif path.is_dir() and not (whole_folder and whole_folder(path)):
            found = sorted(_walk(path, wanted))
            if not found:
                shown = cut(path, PATH_CHARS)
                raise PipelineError(f"{key}: no {what} in folder {shown}" if key
                                    else f"{shown}: no {what} in the folder")
            files += found
        elif path.exists():
            files.append(path)
        else:
            shown = cut(path, PATH_CHARS)
            raise PipelineError(f"{key}: file not found: {shown}" if key else f"{shown}: file not found")
    return files


def _walk(folder: Path, suffixes: set[str]) -> Iterator[Path]:
    for top, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]  # not walked into
        for name in names:
            path = Path(top, name)
            if not name.startswith(".") and path.suffix.lower() in suffixes and path.is_file():
                yield path


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `datasets.Dataset.save_to_disk`: one input, not a folder of files."""
    return path.is_dir() and any((path / name).exists() for name in ("dataset_info.json", "dataset_dict.json"))


def check_output(path: str | Path, force: bool = False, inputs: Iterable[str] = ()) -> Path:
    """An output file we may write: its folder exists, it exists only if `force`, and it is none of
    the `inputs` the command reads (--force would replace what it reads)."""
    out = Path(path)
    if out.is_dir():
        raise PipelineError(f"--output: {out} is a folder, not a file")
    if not out.parent.is_dir():
        raise PipelineError(f"--output: folder does not exist: {out.parent}")
    if out.exists() and not force:
        raise PipelineError(f"--output: {out} already exists (pass --force to replace it)")
    if out.exists() and any(name != STDIN and Path(name).resolve() == out.resolve() for name in inputs):
        raise PipelineError(f"--output: {out} is also an input, which it would replace; write elsewhere")
    return out


class Output:
    """Where a command writes: its -o file (replaced only with --force), or stdout without one.

    Made before any work, so an -o file that may not be written stops the command at once.
    """

    def __init__(self, path: str | Path | None, force: bool = False, inputs: Iterable[str] = ()):
        self.path = check_output(path, force, inputs) if path else None
        self.force = force

    @contextlib.contextmanager
    def open(self) -> Iterator[TextIO]:
        """A text stream: the -o file appears whole once the block ends (see `atomic_output`)."""
        if self.path is None:
            yield sys.stdout
            return
        with atomic_output(self.path, self.force) as stream:
            yield stream


@contextlib.contextmanager
def atomic_output(path: str | Path, force: bool = False) -> Iterator[TextIO]:
    """A text stream whose content replaces `path` only once fully written."""
    from pipeline.common import atomic

    out = check_output(path, force)
    with atomic.replacing(out, "w", newline="") as stream:
        yield stream


def check_paths(paths, key: str) -> list:
    """The paths config `key` names (one, or a list of them), else one error line naming the key."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else paths
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, (str, os.PathLike)) for item in items):
        raise PipelineError(f"{key}: expected a path or a list of paths, got {quote(paths)}")
    return list(items)


def data_files(paths: str | list[str], key: str) -> list[Path]:
    """Labeled data files for config `key`: JSON Lines, CSV, Parquet, or a saved `datasets` folder."""
    check_paths(paths, key)
    return find_files(paths, FORMATS, what=".jsonl, .csv or .parquet files", key=key, whole_folder=is_saved_dataset)


def check_columns_once(file, names: list[str], columns: Iterable[str], where: str = "") -> None:
    """Each of `columns` (those a reader uses) named at most once among a file's column `names`: readers
    keep one of two columns of one name and lose the other's values (or fail on them)."""
    repeated = next((name for name in names if name in columns and names.count(name) > 1), None)
    if repeated is not None:
        raise PipelineError(f"{file}: {names.count(repeated)} columns named {quote(repeated)}{where}")


def name_problem(path) -> str | None:
    """Why the file system cannot look `path` up at all (a name longer than it takes: 'File name too
    long'), or None; such a name is one error line, where checking it raised OSError."""
    try:
        Path(path).exists()
    except OSError as exc:
        return exc.strerror
    return None
