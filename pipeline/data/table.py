"""One labeled data file read through Hugging Face `datasets`, its columns checked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from pipeline.common.errors import PipelineError, quote
from pipeline.common.files import FORMATS, check_columns_once, is_saved_dataset
from pipeline.common.jsonl import check_json_lines, check_text_lines, mixed_kinds
from pipeline.common.textio import MAX_SENTENCE_CHARS
from pipeline.data.records import INDEX_LIMIT


def check_text(text, where: str, column: str) -> None:
    if text is None:
        raise PipelineError(f"{where}: missing text in column {quote(column)}")
    if not isinstance(text, str):
        raise PipelineError(
            f"{where}: text in column {quote(column)} is {type(text).__name__} {quote(text)}, not a string"
        )
    if not text.strip():
        raise PipelineError(f"{where}: empty text in column {quote(column)}")
    if len(text) > MAX_SENTENCE_CHARS:
        raise PipelineError(
            f"{where}: text of {len(text):,} characters in column {quote(column)}; a sentence has at most "
            f"{MAX_SENTENCE_CHARS:,} (is a whole document in one field?)"
        )


def check_group(group, where: str, column: str) -> None:
    """A sentence's document: without one, every such sentence would land in one document "None"."""
    if group is None or not str(group).strip():
        raise PipelineError(f"{where}: missing document id in column {quote(column)}")
    if isinstance(group, (list, dict, bool)):  # validate refuses them too; str() made "['a']" an article
        raise PipelineError(f"{where}: document id in column {quote(column)} is {type(group).__name__} "
                            f"{quote(group)}, not a string or number")


def column_values(table, name: str) -> list:
    """One column of a `datasets.Dataset` as a list, read in one go.

    Since datasets 4, `table[name]` is a lazy column that formats one row per step when
    iterated: about 0.9 s per pass over 100k sentences, against 0.02 s for the slice.
    """
    values = table[name][:]
    return values if isinstance(values, list) else list(values)  # a dataset saved with a format


def row_documents(file: Path, n: int) -> list[str]:
    """Document ids without a group column: every row its own document, named by its file as given and
    its row, so that files of one name in two folders (a training and a test file) share none."""
    return [f"{file}:{i}" for i in range(n)]


def read_index(table, column: str | None, places: list[str]) -> list[int | None]:
    """Each row's sentence index, or None where the file has no index column (row order);
    `places` says where each row is ("FILE: line N")."""
    if not column or column not in table.column_names:
        return [None] * table.num_rows
    values = column_values(table, column)
    index = []
    for where, value in zip(places, values):
        if is_digits(value):  # a CSV column read as text for one cell that is no number: name that cell
            where, value = next(((w, v) for w, v in zip(places, values) if not is_digits(v)), (where, value))
        index.append(index_value(value, where, column))
    return index


def index_value(given, where: str, column: str) -> int:
    """One row's sentence index, checked: a whole number >= 0 (1.0 reads as 1) below INDEX_LIMIT (the
    context features hold an index and an article's length as int64)."""
    value = given
    if isinstance(value, float) and value.is_integer():  # a CSV column with a blank cell reads as floats
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PipelineError(f"{where}: {quote(column)} must be a whole number >= 0, got {quote(value)}")
    if value >= INDEX_LIMIT:  # an OverflowError traceback in the context features
        raise PipelineError(f"{where}: {quote(column)} is out of range, got {quote(given)}")
    return value


def is_digits(value) -> bool:
    """A whole number written as text ("3"): a CSV column is read as text for one cell that is no number."""
    return isinstance(value, str) and value.strip().isdigit()


def check_csv_header(file: Path, columns: Sequence[str]) -> None:
    """A CSV file's header names each column read (`columns`) once: the reader kept the first of two 'text'
    columns and dropped the other's sentences in silence (score refuses such a file too). Other names may
    repeat, as the blank names of a spreadsheet's empty columns do: the reader numbers them."""
    import csv

    try:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            names = next((row for row in csv.reader(handle) if any(cell.strip() for cell in row)), [])
    except csv.Error:  # a header the reader cannot parse: the CSV reader's own error says it
        return
    check_columns_once(file, names, columns, " in the header line")


def read_table(file: Path, columns: Sequence[str] = ()):
    """One file as a `datasets.Dataset`, and the line of each row for JSON Lines (else None);
    `columns` are those the caller reads, which a CSV header must name once each.

    The file is checked line by line first, so a problem names its line; a UTF-8 byte order
    mark and Windows line ends are read as usual.
    """
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its read errors are logged, then raised: ours says it
    if is_saved_dataset(file):
        loaded = datasets.load_from_disk(str(file))
        return (loaded["train"] if isinstance(loaded, datasets.DatasetDict) else loaded), None
    builder = FORMATS.get(file.suffix.lower())
    if builder is None:
        raise PipelineError(f"{file}: unsupported file type {quote(file.suffix)} (use .jsonl, .csv or .parquet)")
    lines = None
    if builder == "json":
        lines = check_json_lines(file)
    elif builder == "csv":
        check_text_lines(file)
        check_csv_header(file, columns)
    try:
        table = datasets.load_dataset(builder, data_files=str(file), split="train")
    except Exception as exc:  # datasets wraps pyarrow and pandas errors in its own
        cause = exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if builder == "json" and (mixed := mixed_kinds(file)):  # datasets names no line (a blank line stops it)
            raise PipelineError(mixed) from None
        raise PipelineError(f"{file}: cannot read as {builder}: {first}") from None
    if len(table) == 0:
        raise PipelineError(f"{file}: no rows")
    if lines is not None and len(lines) != len(table):  # never seen; line numbers would lie
        lines = None
    return table, lines
