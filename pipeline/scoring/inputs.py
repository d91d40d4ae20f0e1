"""Sentences to score, read lazily and in input order: one (doc_id, sentence_index, text) at a time.

Plain-text files are articles, split into sentences here; `.jsonl` files hold one sentence per
line in a `text` field, `.csv` files a `text` column, `.parquet` files a `text` column (each with
optional `doc_id` and `sentence_index`; by default the file's stem (default_doc_ids) and the row number). Only
Parquet needs pyarrow, imported when such a file is given.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.common.errors import PATH_CHARS, PipelineError, cut, quote
from pipeline.common.files import check_columns_once
from pipeline.common.spreadsheet import from_cell
from pipeline.common.textio import check_not_utf16
from pipeline.data.records import INDEX_LIMIT

Item = tuple[str, int, str]  # doc_id, sentence_index, text
INPUT_FIELDS = ("text", "doc_id", "sentence_index")  # the columns of a sentence file that scoring reads

SENTENCE_FILES = {".jsonl", ".csv", ".parquet"}
TEXT_FILES = {".txt", ".text", ".md", ""}
STDIN = "-"


def resolve_inputs(inputs: Iterable[str]) -> list[str]:
    """Files to read, in order: named files, the articles and sentence files of named folders
    (pipeline.common.files.find_files: sorted, hidden ones skipped), `-` for stdin.

    Checked before anything is scored, so a missing file fails before any output is written.
    """
    from pipeline.common.files import find_files

    inputs = list(inputs)
    if not inputs:  # --text alone
        return []
    found = find_files(inputs, SENTENCE_FILES | TEXT_FILES, stdin=True,
                       what="articles (.txt, .md) or .jsonl, .csv or .parquet files")
    return [str(path) for path in found]


def iter_items(files: Iterable[str], texts: Iterable[str] = (), batch_size: int = 2000,
               doc_ids: dict[str, str] | None = None) -> Iterator[Item]:
    """Sentences of the --text values, then of each file (or folder), read lazily file by file.

    A sentence over MAX_SENTENCE_CHARS is scored on its start, with a warning naming it. `doc_ids`:
    the files' default doc_ids (default_doc_ids of these files; a partition gets those of all inputs).
    """
    from itertools import chain

    files = resolve_inputs(files)
    return chain.from_iterable(_item_chunks(files, texts, batch_size, doc_ids or default_doc_ids(files)))


def default_doc_ids(files: list[str]) -> dict[str, str]:
    """Each input file's doc_id where its records give none: its stem, or where inputs share a stem
    (a/article.txt, b/article.txt), the end of their paths that tells them apart (a/article, b/article),
    so that two articles are never read, nor written, as one."""
    by_stem: dict[str, list[str]] = {}
    for name in files:
        if name != STDIN:
            by_stem.setdefault(file_doc_id(Path(name)), []).append(name)
    ids = {}
    for stem, names in by_stem.items():
        ends = [stem] * len(names)
        for depth in range(1, max(len(Path(name).parts) for name in names)):
            if len(set(ends)) == len(ends):
                break
            ends = [_readable("/".join([*Path(name).parent.parts[-depth:], stem])) for name in names]
        if len(set(ends)) < len(ends):  # the same path with other suffixes (a.txt, a.md)
            ends = [_readable(name) for name in names]
        ids.update(zip(names, ends))
    return ids


def _readable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (lone surrogates in Python, which no output can
    encode) read as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _item_chunks(files: list[str], texts: Iterable[str], batch_size: int,
                 doc_ids: dict[str, str]) -> Iterator[list[Item]]:
    """The sentences in lists (a Parquet record batch, a few thousand lines, an article), each
    checked for length: per chunk, not per sentence, which at a million sentences shows."""
    from itertools import islice

    from pipeline.data.sentences import split_sentences

    for number, text in enumerate(texts):
        doc_id = "text" if number == 0 else f"text{number}"
        text = _decode_argument(text, "--text")
        yield check_lengths([(doc_id, index, s) for index, s in enumerate(split_sentences(text))], "--text")
    for name in files:
        if name == STDIN:
            sentences = split_sentences(read_stdin())
            yield check_lengths([("stdin", index, s) for index, s in enumerate(sentences)], "stdin")
        elif name.lower().endswith(".parquet"):
            for chunk in read_parquet_chunks(Path(name), batch_size, doc_id=doc_ids.get(name)):
                yield check_lengths(chunk, name)
        else:
            items = read_file(Path(name), batch_size, doc_ids.get(name))
            while chunk := list(islice(items, batch_size)):
                yield check_lengths(chunk, name)


def check_lengths(chunk: list[Item], source: str) -> list[Item]:
    """Warn about each sentence of `chunk` over MAX_SENTENCE_CHARS (scored on its start), and once per
    source about blank ones (a JSON Lines "text": "" or an empty CSV cell; articles have none)."""
    from pipeline.common.textio import MAX_SENTENCE_CHARS, check_sentence_length

    if chunk and max(len(item[2]) for item in chunk) > MAX_SENTENCE_CHARS:
        for item in chunk:
            check_sentence_length(item[2], f"{source}: sentence {item[1]}")
    if chunk and not all(item[2].strip() for item in chunk):
        from pipeline.common.errors import warn

        blank = next(item for item in chunk if not item[2].strip())
        warn(f"{cut(source, PATH_CHARS)}: sentence {blank[1]} of {quote(blank[0])} is blank; it and any other "
             "blank sentence keep their row but their labels mean nothing (there is no text to read)",
             once=f"blank sentences in {source}")  # one line per file, not per chunk
    return chunk


def _decode_argument(text: str, source: str) -> str:
    """A command-line value as text: bytes that are not UTF-8 (which Python keeps as lone surrogates,
    that no output can encode) are replaced and reported, as in a file or stdin."""
    from pipeline.common.textio import decode_forgiving

    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return decode_forgiving(text.encode("utf-8", "surrogateescape"), source)


def read_stdin() -> str:
    from pipeline.common.textio import decode_forgiving

    raw = getattr(sys.stdin, "buffer", None)
    return sys.stdin.read() if raw is None else decode_forgiving(raw.read(), "stdin")


def read_file(path: Path, batch_size: int = 2000, doc_id: str | None = None) -> Iterator[Item]:
    """A file's sentences; `doc_id` where its records give none (default: the file's stem)."""
    from pipeline.data.sentences import split_sentences

    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from read_jsonl(path, doc_id=doc_id)
    elif suffix == ".csv":
        yield from read_csv(path, doc_id)
    elif suffix == ".parquet":
        yield from read_parquet(path, batch_size, doc_id=doc_id)
    else:
        doc_id = doc_id or file_doc_id(path)
        for index, sentence in enumerate(split_sentences(read_text(path))):
            yield doc_id, index, sentence


def file_doc_id(path: Path) -> str:
    """A file's stem, its doc_id by default (default_doc_ids tells apart stems that repeat), as text."""
    return _readable(path.stem)


def read_text(path: Path) -> str:
    """A text file as str; undecodable bytes and NUL bytes are repaired and reported, not fatal."""
    from pipeline.common.textio import read_forgiving

    return read_forgiving(path)


def read_jsonl(path: Path, start_byte: int = 0, first_line: int = 1, max_items: int | None = None,
               doc_id: str | None = None) -> Iterator[Item]:
    """One sentence per non-blank line, streamed and read forgivingly (pipeline.common.jsonl);
    a partition may start at a byte offset."""
    from pipeline.common.jsonl import read_json_lines

    for number, record in read_json_lines(path, forgiving=True, start_byte=start_byte, first_line=first_line,
                                          max_records=max_items):
        yield jsonl_item(path, number, record, doc_id)


def jsonl_item(path: Path, number: int, record: dict, doc_id: str | None = None) -> Item:
    """A JSON Lines record as an item: its `text`, and `doc_id` and `sentence_index` (default:
    the file's stem and the line's place)."""
    if not isinstance(record.get("text"), str):
        raise PipelineError(f"{cut(path, PATH_CHARS)}: line {number}: expected an object with a 'text' string")
    # a null doc_id is none given, as an empty CSV cell or a null Parquet value is (it was the article "None")
    doc_id = str(record["doc_id"]) if record.get("doc_id") is not None else doc_id or file_doc_id(path)
    index = sentence_index(record["sentence_index"], f"{cut(path, PATH_CHARS)}: line {number}") \
        if "sentence_index" in record else number - 1
    return doc_id, index, record["text"]


def sentence_index(value, where: str) -> int:
    """A given sentence_index as an int: a whole number (3, 3.0, or "3" as CSV holds it), else an error."""
    try:
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise ValueError
        index = int(value)
    except (TypeError, ValueError, OverflowError):  # null, "one", NaN, Infinity, a list
        raise PipelineError(f"{where}: sentence_index is not a whole number: {quote(value)}") from None
    if not -INDEX_LIMIT < index < INDEX_LIMIT:
        raise PipelineError(f"{where}: sentence_index is out of range: {quote(value)}")
    return index


def read_csv(path: Path, doc_id: str | None = None) -> Iterator[Item]:
    if is_blank(str(path)):  # said in a warning, like an empty article or JSONL file
        return
    try:
        with open(path, "rb") as raw:
            check_not_utf16(path, raw.read(2))
        handle = open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    doc_id = doc_id or file_doc_id(path)
    csv.field_size_limit(2**31 - 1)  # csv's own limit (131,072 characters) ended a long sentence in a traceback
    with handle:
        rows = csv.DictReader(_repaired_lines(handle, path))
        if not rows.fieldnames or "text" not in rows.fieldnames:
            raise PipelineError(f"{path}: no 'text' column")
        check_columns_once(path, rows.fieldnames, INPUT_FIELDS)  # DictReader keeps the last, losing the others
        for number, row in enumerate(rows):
            index = sentence_index(row.get("sentence_index") or number, f"{path}: row {number + 1}")
            yield from_cell(row.get("doc_id")) or doc_id, index, from_cell(row["text"] or "")


def _repaired_lines(lines: Iterable[str], path: Path) -> Iterator[str]:
    """A CSV file's lines repaired as any text to score: undecodable bytes (read as surrogates) as U+FFFD
    and NUL bytes as spaces, each kind of repair warned about once."""
    from pipeline.common.errors import warn
    from pipeline.common.textio import without_surrogates

    repaired: set[str] = set()

    def repair(what: str) -> None:
        if what not in repaired:
            repaired.add(what)
            warn(f"{cut(path, PATH_CHARS)}: {what}")

    for line in lines:
        if not line.isascii() and (fixed := without_surrogates(line)) != line:
            repair("bytes that are not UTF-8 were replaced with \ufffd")
            line = fixed
        if "\x00" in line:
            repair("NUL bytes were read as spaces")
            line = line.replace("\x00", " ")
        yield line


def read_parquet(path: Path, batch_size: int = 2000, row_groups: list[int] | None = None,
                 first_row: int = 0, doc_id: str | None = None) -> Iterator[Item]:
    """Rows of a Parquet file in record batches (only the columns needed)."""
    for chunk in read_parquet_chunks(path, batch_size, row_groups, first_row, doc_id):
        yield from chunk


def read_parquet_chunks(path: Path, batch_size: int = 2000, row_groups: list[int] | None = None,
                        first_row: int = 0, doc_id: str | None = None) -> Iterator[list[Item]]:
    """`read_parquet` a record batch at a time, as lists of items."""
    parquet = open_parquet(path)
    names = parquet.schema_arrow.names
    columns = ["text"] + [c for c in ("doc_id", "sentence_index") if c in names]
    row, stem = first_row, doc_id or file_doc_id(path)
    for batch in parquet.iter_batches(batch_size=batch_size, columns=columns, row_groups=row_groups):
        texts = batch.column("text").to_pylist()
        n = len(texts)
        if None in texts:
            raise PipelineError(f"{path}: row {row + texts.index(None) + 1}: 'text' is empty (null)")
        doc_ids = ([str(d) if d is not None else stem for d in batch.column("doc_id").to_pylist()]
                   if "doc_id" in columns else [stem] * n)
        indices = (_parquet_indices(path, batch.column("sentence_index"), row)
                   if "sentence_index" in columns else range(row, row + n))
        yield list(zip(doc_ids, indices, texts))
        row += n


def _parquet_indices(path: Path, column, first_row: int) -> list[int]:
    """A batch's sentence_index column as ints, each value checked only where its type lets it be wrong."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_signed_integer(column.type) and not column.null_count:
        low, high = pc.min_max(column).values()
        if len(column) == 0 or -INDEX_LIMIT < low.as_py() and high.as_py() < INDEX_LIMIT:
            return column.to_pylist()
    return [sentence_index(value, f"{path}: row {first_row + i + 1}") for i, value in enumerate(column.to_pylist())]


def open_parquet(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise PipelineError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from None
    names = parquet.schema_arrow.names
    if "text" not in names:
        raise PipelineError(f"{path}: no 'text' column")
    check_columns_once(path, names, INPUT_FIELDS)  # pyarrow's KeyError; which one holds the sentences?
    kind = parquet.schema_arrow.field("text").type
    kind = kind.value_type if pa.types.is_dictionary(kind) else kind
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)
            or getattr(pa.types, "is_string_view", lambda _: False)(kind)):  # pyarrow 16 and later
        raise PipelineError(f"{path}: the 'text' column holds {kind}, not text")
    return parquet


def count_items(files: Iterable[str], texts: Iterable[str] = ()) -> int | None:
    """How many sentences the inputs hold, when that is cheap to know (for a progress ETA).

    None when an article or stdin has to be split first.
    """
    if list(texts):
        return None
    total = 0
    for name in files:
        suffix = Path(name).suffix.lower()
        if name == STDIN or suffix not in SENTENCE_FILES:
            return None
        if suffix == ".parquet":
            total += open_parquet(Path(name)).metadata.num_rows
        else:
            total += max(0, _count_lines(Path(name), non_blank=suffix == ".jsonl") - (suffix == ".csv"))
    return total


def _count_lines(path: Path, non_blank: bool) -> int:
    lines, last = 0, b"\n"
    with _open_binary(path) as handle:
        if non_blank:
            return sum(1 for line in handle if line.strip())
        for block in iter(lambda: handle.read(1 << 22), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def is_blank(name: str) -> bool:
    """Whether an article, JSONL or CSV file holds nothing but whitespace (read up to its first other byte)."""
    if name == STDIN or Path(name).suffix.lower() not in TEXT_FILES | {".jsonl", ".csv"}:
        return False
    with _open_binary(Path(name)) as handle:
        return not any(block.strip() for block in iter(lambda: handle.read(1 << 16), b""))


def _open_binary(path: Path):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
