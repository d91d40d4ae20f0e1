"""Load labeled sentences through Hugging Face `datasets` and check them against a label set."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from pipeline.errors import PipelineError
from pipeline.labels import LABELS

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass
class Corpus:
    """Labeled sentences, each with the document it came from."""

    texts: list[str]
    labels: list[str]
    groups: list[str]
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_documents(self) -> int:
        return len(set(self.groups))

    def fingerprint(self) -> str:
        """sha256 of the sentences and their labels, in order."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels):
            digest.update(f"{label}\t{text}\n".encode("utf-8"))
        return digest.hexdigest()


@dataclass
class DataSource:
    """Where labeled sentences live and how to read them (configs/data/*.yaml)."""

    path: str | list[str]
    test_path: str | list[str] | None = None
    text_column: str = "text"
    label_column: str = "label"
    group_column: str | None = "doc_id"
    labels: Sequence[str] = LABELS
    label_map: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.labels = list(self.labels)
        if len(set(self.labels)) < 2:
            raise PipelineError(f"config data.labels: needs at least 2 labels, got {self.labels}")

    def load_train(self) -> Corpus:
        return self.load(self.path, "data.path")

    def load_test(self) -> Corpus | None:
        return None if self.test_path is None else self.load(self.test_path, "data.test_path")

    def load(self, paths: str | list[str], key: str = "data.path") -> Corpus:
        files = resolve_files(paths, key)
        corpus = Corpus([], [], [], [str(f) for f in files])
        for file in files:
            texts, labels, groups = self._read_file(file)
            corpus.texts += texts
            corpus.labels += labels
            corpus.groups += groups
        if not corpus.texts:
            raise PipelineError(f"{key}: no sentences in {', '.join(corpus.files)}")
        return corpus

    def _read_file(self, file: Path) -> tuple[list[str], list[str], list[str]]:
        table = read_table(file)
        needed = [self.text_column, self.label_column] + ([self.group_column] if self.group_column else [])
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            raise PipelineError(
                f"{file}: missing column {missing[0]!r} (columns: {', '.join(table.column_names)})"
            )
        texts = table[self.text_column]
        raw_labels = table[self.label_column]
        # Without a group column every sentence is its own document.
        groups = (
            [str(g) for g in table[self.group_column]]
            if self.group_column
            else [f"{file.stem}:{i}" for i in range(len(texts))]
        )
        known = set(self.labels)
        labels = []
        for row, (text, label) in enumerate(zip(texts, raw_labels), start=1):
            where = f"{file}: row {row}"
            if not isinstance(text, str) or not text.strip():
                raise PipelineError(f"{where}: empty text in column {self.text_column!r}")
            if self.label_map and label in self.label_map:
                label = self.label_map[label]
            if label not in known:
                raise PipelineError(
                    f"{where}: unknown label {label!r} (expected one of: {', '.join(self.labels)})"
                )
            labels.append(label)
        return list(texts), labels, groups


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


def read_table(file: Path):
    """One file as a `datasets.Dataset`; malformed JSON Lines name their line."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    if _is_saved_dataset(file):
        loaded = datasets.load_from_disk(str(file))
        return loaded["train"] if isinstance(loaded, datasets.DatasetDict) else loaded
    builder = FORMATS.get(file.suffix.lower())
    if builder is None:
        raise PipelineError(f"{file}: unsupported file type {file.suffix!r} (use .jsonl, .csv or .parquet)")
    if builder == "json":
        check_json_lines(file)
    try:
        return datasets.load_dataset(builder, data_files=str(file), split="train")
    except Exception as exc:  # datasets wraps pyarrow and pandas errors in its own
        cause = exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise PipelineError(f"{file}: cannot read as {builder}: {first}") from None


def check_json_lines(file: Path) -> None:
    """Every non-blank line must be one JSON object; name the first line that is not."""
    for _ in iter_json_lines(file):
        pass


def iter_json_lines(file: Path, problems: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file.

    A bad line raises PipelineError naming it; with a `problems` list, its message is
    appended there instead and reading goes on, so a checker can report every bad line.
    """

    def bad(message: str) -> None:
        if problems is None:
            raise PipelineError(message)
        problems.append(message)

    try:
        with open(file, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad(f"{file}: line {number}: not UTF-8 text (byte {exc.start})")
                    continue
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    bad(f"{file}: line {number}: not valid JSON ({exc.msg})")
                    continue
                if not isinstance(record, dict):
                    bad(f"{file}: line {number}: expected one JSON object per line, got {type(record).__name__}")
                    continue
                yield number, record
    except OSError as exc:
        raise PipelineError(f"{file}: cannot read: {exc.strerror}") from None


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
    out = check_output(path, force)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
