"""Load labeled sentences through Hugging Face `datasets` and check them against a label set."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from pipeline.errors import PipelineError, warn
from pipeline.labels import LABELS
from pipeline.textio import MAX_SENTENCE_CHARS, check_not_binary

FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass
class Corpus:
    """Labeled sentences, each with the document it came from and its place in it."""

    texts: list[str]  # or, loaded lazily, an ArrowTexts (pipeline.lazy_corpus) reading them from disk
    labels: list[str]
    groups: list[str]
    files: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # sentence index within its document
    doc_lengths: list[int] = field(default_factory=list)  # sentences in its document

    def __len__(self) -> int:
        return len(self.texts)

    def inputs(self, kind: str = "text", index: Sequence[int] | None = None):
        """What a model of input `kind` takes: the texts, or sentence records with positions."""
        from pipeline.context import RECORDS, sentence_frame

        if kind != RECORDS and hasattr(self.texts, "take"):  # sentences on disk stay there (lazy_corpus)
            return self.texts if index is None else self.texts.take(index)
        rows = range(len(self.texts)) if index is None else index
        texts = [self.texts[i] for i in rows]
        if kind != RECORDS:
            return texts
        if len(self.positions) != len(self.texts):
            self.positions, self.doc_lengths = document_positions(self.groups)
        return sentence_frame(
            texts,
            doc_ids=[self.groups[i] for i in rows],
            indices=[self.positions[i] for i in rows],
            n_sentences=[self.doc_lengths[i] for i in rows],
        )

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
    index_column: str | None = None
    labels: Sequence[str] = LABELS
    label_map: dict[str, str] | None = None
    # "error": one sentence labeled twice in one document stops loading; "warn" reports it and
    # keeps both (for corpora you cannot fix, such as NewsDiscourse).
    conflicting_labels: str = "error"

    def __post_init__(self) -> None:
        self.labels = list(self.labels)
        if len(set(self.labels)) < 2:
            raise PipelineError(f"config data.labels: needs at least 2 labels, got {self.labels}")
        if self.conflicting_labels not in ("error", "warn"):
            raise PipelineError(
                f"config data.conflicting_labels: must be error or warn, got {self.conflicting_labels!r}"
            )

    def load_train(self, lazy: bool = False) -> Corpus:
        return self.load(self.path, "data.path", lazy=lazy)

    def load_test(self, lazy: bool = False) -> Corpus | None:
        return None if self.test_path is None else self.load(self.test_path, "data.test_path", lazy=lazy)

    def load(self, paths: str | list[str], key: str = "data.path", lazy: bool = False) -> Corpus:
        """The labeled sentences of `paths`; `lazy` leaves the texts on disk (pipeline.lazy_corpus)."""
        files = resolve_files(paths, key)
        if lazy:
            from pipeline.lazy_corpus import load_lazy

            return load_lazy(self, files, key)
        corpus = Corpus([], [], [], [str(f) for f in files])
        places: list[str] = []
        indices: list[int | None] = []
        for file in files:
            texts, labels, groups, where = self._read_file(file)
            corpus.texts += texts
            corpus.labels += labels
            corpus.groups += groups
            places += where
            indices += self._index
        if not corpus.texts:
            raise PipelineError(f"{key}: no sentences in {', '.join(corpus.files)}")
        check_conflicting_labels(corpus, places, fatal=self.conflicting_labels == "error")
        corpus.positions, corpus.doc_lengths = document_positions(corpus.groups, indices)
        return corpus

    def _read_file(self, file: Path) -> tuple[list[str], list[str], list[str], list[str]]:
        """Texts, labels, groups and where each row is ("FILE: line N" or "FILE: row N")."""
        table, lines = read_table(file)
        needed = [self.text_column, self.label_column] + ([self.group_column] if self.group_column else [])
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            raise PipelineError(
                f"{file}: missing column {missing[0]!r} (columns: {', '.join(table.column_names)})"
            )
        texts = column_values(table, self.text_column)
        raw_labels = column_values(table, self.label_column)
        places = [f"{file}: line {n}" for n in lines] if lines else [f"{file}: row {r}" for r in range(1, len(texts) + 1)]
        # Without a group column every sentence is its own document.
        groups = (
            [str(g) for g in column_values(table, self.group_column)]
            if self.group_column
            else [f"{file.stem}:{i}" for i in range(len(texts))]
        )
        labels = []
        normalised: list[tuple[str, object, str]] = []
        for where, text, raw in zip(places, texts, raw_labels):
            check_text(text, where, self.text_column)
            label = self._label(raw, where)
            if isinstance(raw, str) and label != raw and label != (self.label_map or {}).get(raw):
                normalised.append((where, raw, label))
            labels.append(label)
        if normalised:
            where, raw, label = normalised[0]
            more = f" (and {len(normalised) - 1} more in this file)" if len(normalised) > 1 else ""
            warn(f"{where}: label {raw!r} read as {label!r}{more}")
        self._index = read_index(table, self.index_column, file)  # positions, read by load() beside the 4 lists
        return texts, labels, groups, places

    def _label(self, label, where: str) -> str:
        """The label of one row; stray spaces and capitals are forgiven (the caller warns)."""
        if label is None:
            raise PipelineError(f"{where}: missing label in column {self.label_column!r}")
        if self.label_map and isinstance(label, (str, int, float, bool)) and label in self.label_map:
            label = self.label_map[label]
        if label in self.labels:
            return label
        if isinstance(label, str):
            key = label.strip().casefold()
            by_name = {name.casefold(): name for name in self.labels}
            by_map = {str(k).strip().casefold(): v for k, v in (self.label_map or {}).items()}
            found = by_name.get(key) or by_map.get(key)
            if found in self.labels:
                return found
        raise PipelineError(f"{where}: unknown label {label!r} (expected one of: {', '.join(self.labels)})")


def check_text(text, where: str, column: str) -> None:
    if text is None:
        raise PipelineError(f"{where}: missing text in column {column!r}")
    if not isinstance(text, str):
        raise PipelineError(f"{where}: text in column {column!r} is {type(text).__name__} {text!r}, not a string")
    if not text.strip():
        raise PipelineError(f"{where}: empty text in column {column!r}")
    if len(text) > MAX_SENTENCE_CHARS:
        raise PipelineError(
            f"{where}: text of {len(text):,} characters in column {column!r}; a sentence has at most "
            f"{MAX_SENTENCE_CHARS:,} (is a whole document in one field?)"
        )


def check_conflicting_labels(corpus: Corpus, places: list[str], fatal: bool = True) -> None:
    """One sentence with two labels in one document is an error (or, not fatal, a warning);
    across documents, a warning.

    A short sentence ("Snow said.") can fairly take different labels in different articles.
    """
    first: dict[tuple[str, str], int] = {}
    across: dict[str, tuple[int, int]] = {}
    seen_text: dict[str, int] = {}
    for i, (text, label, group) in enumerate(zip(corpus.texts, corpus.labels, corpus.groups)):
        key = text.strip()
        j = first.setdefault((key, group), i)
        if corpus.labels[j] != label:
            message = (
                f"{places[i]}: the same sentence is labeled {label!r} here and {corpus.labels[j]!r} at "
                f"{places[j]} in the same document"
            )
            if fatal:
                raise PipelineError(message)
            warn(message)
        k = seen_text.setdefault(key, i)
        if corpus.labels[k] != label and key not in across:
            across[key] = (k, i)
    if across:
        k, i = next(iter(across.values()))
        count = "1 sentence carries" if len(across) == 1 else f"{len(across)} sentences carry"
        warn(
            f"{count} different labels in different documents (first: {places[k]} "
            f"{corpus.labels[k]!r}, {places[i]} {corpus.labels[i]!r})"
        )


def column_values(table, name: str) -> list:
    """One column of a `datasets.Dataset` as a list, read in one go.

    Since datasets 4, `table[name]` is a lazy column that formats one row per step when
    iterated: about 0.9 s per pass over 100k sentences, against 0.02 s for the slice.
    """
    values = table[name][:]
    return values if isinstance(values, list) else list(values)  # a dataset saved with a format


def read_index(table, column: str | None, file: Path) -> list[int | None]:
    """Each row's sentence index, or None where the file has no index column (row order)."""
    if not column or column not in table.column_names:
        return [None] * table.num_rows
    index = []
    for row, value in enumerate(column_values(table, column), start=1):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PipelineError(
                f"{file}: row {row}: {column!r} must be a whole number >= 0, got {value!r}"
            )
        index.append(value)
    return index


def document_positions(
    groups: Sequence[str], indices: Sequence[int | None] | None = None
) -> tuple[list[int], list[int]]:
    """Each sentence's index in its document and the document's length.

    A given index is kept (a corpus may skip sentences: the length is then the largest
    index + 1); without one, sentences count in row order within their document.
    """
    indices = list(indices) if indices is not None else [None] * len(groups)
    seen: dict[str, int] = {}
    positions = []
    for group, index in zip(groups, indices):
        order = seen.get(group, 0)
        seen[group] = order + 1
        positions.append(order if index is None else int(index))
    length: dict[str, int] = {}
    for group, position in zip(groups, positions):
        length[group] = max(length.get(group, 0), position + 1)
    return positions, [length[g] for g in groups]


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
    """One file as a `datasets.Dataset`, and the line of each row for JSON Lines (else None).

    The file is checked line by line first, so a problem names its line; a UTF-8 byte order
    mark and Windows line ends are read as usual.
    """
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    if _is_saved_dataset(file):
        loaded = datasets.load_from_disk(str(file))
        return (loaded["train"] if isinstance(loaded, datasets.DatasetDict) else loaded), None
    builder = FORMATS.get(file.suffix.lower())
    if builder is None:
        raise PipelineError(f"{file}: unsupported file type {file.suffix!r} (use .jsonl, .csv or .parquet)")
    lines = None
    if builder == "json":
        lines = check_json_lines(file)
    elif builder == "csv":
        check_text_lines(file)
    try:
        table = datasets.load_dataset(builder, data_files=str(file), split="train")
    except Exception as exc:  # datasets wraps pyarrow and pandas errors in its own
        cause = exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise PipelineError(f"{file}: cannot read as {builder}: {first}") from None
    if len(table) == 0:
        raise PipelineError(f"{file}: no rows")
    if lines is not None and len(lines) != len(table):  # never seen; line numbers would lie
        lines = None
    return table, lines


def check_json_lines(file: Path) -> list[int]:
    """Every non-blank line must be one JSON object; name the first line that is not.

    Returns the line number of each object, in order.
    """
    lines = [number for number, _ in iter_json_lines(file)]
    if not lines:
        raise PipelineError(f"{file}: empty file, no JSON objects")
    return lines


def iter_json_lines(file: Path, problems: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file.

    A bad line raises PipelineError naming it; with a `problems` list, its message is
    appended there instead and reading goes on, so a checker can report every bad line.
    A UTF-8 byte order mark and Windows line ends are read as usual; a binary file is an error.
    """

    def bad(message: str) -> None:
        if problems is None:
            raise PipelineError(message)
        problems.append(message)

    for number, line in _text_lines(file, bad):
        if not line.strip():
            continue
        if "\x00" in line:
            bad(_nul_message(file, number, line))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = " (a JSON array? write one JSON object per line)" if number == 1 and line.lstrip().startswith("[") else ""
            bad(f"{file}: line {number}: not valid JSON ({exc.msg} at column {exc.colno}){hint}")
            continue
        if not isinstance(record, dict):
            hint = "; the file holds a JSON array, not JSON Lines" if isinstance(record, list) else ""
            bad(f"{file}: line {number}: expected one JSON object per line, got {type(record).__name__}{hint}")
            continue
        yield number, record


def check_text_lines(file: Path) -> None:
    """A CSV file must be UTF-8 text without NUL bytes, with at least one line."""

    def bad(message: str) -> None:
        raise PipelineError(message)

    filled = 0
    for number, line in _text_lines(file, bad):
        if "\x00" in line:
            bad(_nul_message(file, number, line))
        filled += bool(line.strip())
    if filled == 0:
        raise PipelineError(f"{file}: empty file")
    if filled == 1:
        raise PipelineError(f"{file}: no rows below the header line")


def _nul_message(file: Path, number: int, line: str) -> str:
    return f"{file}: line {number}: NUL byte at column {line.index(chr(0)) + 1}"


def _text_lines(file: Path, bad) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, the byte order mark dropped; an undecodable line goes to `bad`."""
    try:
        with open(file, "rb") as handle:
            check_not_binary(file, handle.read(8192), "a data file")
            handle.seek(0)
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad(f"{file}: line {number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
                    continue
                yield number, line
    except IsADirectoryError:
        raise PipelineError(f"{file}: is a folder, not a file") from None
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
