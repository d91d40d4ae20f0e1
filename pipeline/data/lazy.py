"""A corpus whose sentences stay in the Arrow files `datasets` memory-maps, for out-of-core training.

`DataSource.load(..., lazy=True)` returns a `Corpus` whose `texts` is an `ArrowTexts`: a
read-only sequence that reads sentences from disk only when asked, one batch at a time.
Labels and document ids are still Python lists (one shared string per distinct value, so
8 bytes per sentence), since cross-validation by document needs all of them.

Loading checks the same things, in the same order and with the same messages, as the
in-memory loader (pipeline.data.source): bad text, labels and sentence indices by file and line,
a sentence labeled twice in one document and two sentences at one place of a document; the text
is scanned once in batches, and repeated sentences are found by a 128-bit hash of each stripped
sentence rather than by keeping every sentence. The `index_column` is checked but not kept as
positions, which only context models read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator, Sequence

from pipeline.common.errors import PATH_CHARS, PipelineError, cut, quote, warn
from pipeline.common.textio import MAX_SENTENCE_CHARS

SCAN_BATCH = 10_000  # sentences read at a time by the loader's checks and by iteration


class ArrowTexts(Sequence):
    """Sentences in a (memory-mapped) Arrow string column, optionally a subset of its rows.

    `texts[i]` is one str; `texts.take(rows)` or `texts[a:b]` another ArrowTexts (no text is
    read); `texts.rows(rows)` a list of those sentences; iteration reads `SCAN_BATCH` at a time.
    """

    def __init__(self, column, indices=None):
        self.column = column  # pyarrow.ChunkedArray of strings
        self.indices = indices  # numpy int64 positions in `column`, or None for every row in order

    def __len__(self) -> int:
        return len(self.column) if self.indices is None else len(self.indices)

    def __getitem__(self, key):
        import numpy as np

        if isinstance(key, slice):
            part = range(len(self))[key]
            return self.take(np.arange(part.start, part.stop, part.step, dtype=np.int64))
        if isinstance(key, (int, np.integer)):
            i = range(len(self))[key]  # IndexError past the end, negative from the end
            return self.column[int(i if self.indices is None else self.indices[i])].as_py()
        return self.take(key)

    def take(self, rows) -> ArrowTexts:
        import numpy as np

        rows = np.asarray(rows, dtype=np.int64)
        return ArrowTexts(self.column, rows if self.indices is None else self.indices[rows])

    def rows(self, rows) -> list[str]:
        """The sentences at positions `rows` (of this sequence), in that order."""
        import numpy as np
        import pyarrow as pa

        rows = np.asarray(rows, dtype=np.int64)
        positions = rows if self.indices is None else self.indices[rows]
        return self.column.take(pa.array(positions)).to_pylist()

    def iter_batches(self, size: int | None = None) -> Iterator[list[str]]:
        import numpy as np

        size = size or SCAN_BATCH
        n = len(self)
        for start in range(0, n, size):
            if self.indices is None:
                yield self.column.slice(start, size).to_pylist()
            else:
                yield self.rows(np.arange(start, min(n, start + size)))

    def __iter__(self) -> Iterator[str]:
        for batch in self.iter_batches():
            yield from batch

    def __repr__(self) -> str:
        return f"ArrowTexts({len(self)} sentences)"


def load_lazy(source, files: list[Path], key: str):
    """A Corpus of `files` (already resolved) read as `source` says, with texts left on disk."""
    import numpy as np
    import pyarrow as pa

    from pipeline.data.corpus import Corpus
    from pipeline.data.table import read_table

    chunks, labels, groups, hashes, group_codes, indices = [], [], [], [], [], []
    places = _Places()
    group_index: dict[str, int] = {}
    for file in files:
        table, lines = read_table(file, source.columns)
        text, file_labels, file_groups, digests, file_indices = _read_file(source, file, table, lines)
        places.add(file, len(file_labels), lines)
        chunks.append(text)
        labels += file_labels
        groups += file_groups
        hashes.append(digests)
        group_codes.append(np.fromiter((group_index.setdefault(g, len(group_index)) for g in file_groups),
                                       dtype=np.int64, count=len(file_groups)))
        # -1: no index, or no group column (every row its own document): no place to share
        indices.append(file_indices if file_indices is not None and source.group_column
                       else np.full(len(file_groups), -1, dtype=np.int64))
    if len({c.type for c in chunks}) > 1:  # string and large_string files mixed: one type (copies)
        chunks = [c.cast(pa.large_string()) for c in chunks]
    texts = ArrowTexts(pa.chunked_array([piece for c in chunks for piece in c.chunks], type=chunks[0].type))
    corpus = Corpus(texts, labels, groups, [str(f) for f in files])
    if not len(texts):
        raise PipelineError(f"{key}: no sentences in {', '.join(corpus.files)}")
    label_index = {label: k for k, label in enumerate(source.labels)}
    label_codes = np.fromiter((label_index[label] for label in labels), dtype=np.int64, count=len(labels))
    check_conflicting_labels(np.concatenate(hashes), np.concatenate(group_codes), label_codes, labels, places,
                             fatal=source.conflicting_labels == "error")
    check_repeated_positions(np.concatenate(hashes), np.concatenate(group_codes), np.concatenate(indices), groups,
                             places, source.group_column, source.index_column)
    return corpus


def _read_file(source, file: Path, table, lines):
    """The text column (Arrow), labels, groups, sentence hashes and sentence indices (None without
    an index column) of one file, checked as pipeline.data.DataSource._read_file checks them: the
    first bad row (text before label) is the error, then groups, then indices."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.data.table import check_group, check_text, row_documents

    needed = [source.text_column, source.label_column] + ([source.group_column] if source.group_column else [])
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        columns = cut(", ".join(table.column_names), PATH_CHARS)
        raise PipelineError(f"{file}: missing column {quote(missing[0])} (columns: {columns})")
    arrow = table.with_format("arrow")
    text, text_json = _json_text(arrow[source.text_column])
    n = len(text)

    def where(row: int) -> str:
        return f"{file}: line {lines[row]}" if lines else f"{file}: row {row + 1}"

    # Labels: each distinct value is read once; codes say which one each row holds.
    raw_column, label_json = _json_text(arrow[source.label_column])
    raw_values = raw_column.unique()
    codes = pc.index_in(raw_column, value_set=raw_values, skip_nulls=False).to_numpy().astype(np.int64)
    _, first_rows = np.unique(codes, return_index=True)
    raw_values = _decoded(raw_values.to_pylist(), label_json)
    read_as: list[str | None] = []
    bad_label_row, bad_label = n, None
    for raw, first in zip(raw_values, first_rows):
        try:
            read_as.append(source._label(raw, where(first)))
        except PipelineError as exc:
            read_as.append(None)
            if first < bad_label_row:
                bad_label_row, bad_label = first, exc

    # Text: scanned in batches up to the first bad label; each sentence's hash kept (16 bytes).
    digests = bytearray()
    stop = min(n, bad_label_row + 1)
    for start in range(0, stop, SCAN_BATCH):
        batch = _decoded(text.slice(start, min(SCAN_BATCH, stop - start)).to_pylist(), text_json)
        for offset, value in enumerate(batch):
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_SENTENCE_CHARS:
                check_text(value, where(start + offset), source.text_column)  # raises
            digests += hashlib.blake2b(value.strip().encode("utf-8"), digest_size=16).digest()
    if bad_label is not None:
        raise bad_label
    if text_json:  # never left at this point: a JSON column holds a value that is not a string
        raise PipelineError(f"{file}: column {quote(source.text_column)} holds values that are not strings")
    if pa.types.is_dictionary(text.type):  # a categorical text column: plain strings for take()
        text = text.cast(text.type.value_type)

    counts = np.bincount(codes, minlength=len(raw_values))
    normalised = [
        (first, raw, label) for raw, first, label in zip(raw_values, first_rows, read_as)
        if isinstance(raw, str) and label != raw and label != (source.label_map or {}).get(raw)
    ]
    if normalised:
        first, raw, label = min(normalised, key=lambda item: item[0])
        more_rows = sum(int(counts[raw_values.index(r)]) for _, r, _ in normalised) - 1
        more = f" (and {more_rows} more in this file)" if more_rows else ""
        warn(f"{where(first)}: label {quote(raw)} read as {quote(label)}{more}")
    labels = [read_as[c] for c in codes.tolist()]

    if source.group_column:
        raw_groups, group_json = _json_text(arrow[source.group_column])
        if pa.types.is_nested(raw_groups.type):  # lists or objects: Arrow finds no distinct values of them
            first = next((i for i, value in enumerate(raw_groups.to_pylist()) if value is not None), 0)
            check_group(raw_groups[first].as_py(), where(first), source.group_column)
        distinct = raw_groups.unique()
        group_codes = pc.index_in(raw_groups, value_set=distinct, skip_nulls=False).to_numpy().astype(np.int64)
        _, first_group_rows = np.unique(group_codes, return_index=True)
        distinct = _decoded(distinct.to_pylist(), group_json)
        for group, first in sorted(zip(distinct, first_group_rows), key=lambda item: item[1]):
            check_group(group, where(first), source.group_column)
        names = [str(g) for g in distinct]
        groups = [names[c] for c in group_codes.tolist()]
    else:  # every sentence its own document
        groups = row_documents(file, n)
    digests = np.frombuffer(bytes(digests), dtype=np.uint64).reshape(n, 2)
    return text, labels, groups, digests, _read_index(arrow, source.index_column, n, where)


def _read_index(arrow, column: str | None, n: int, where):
    """Each row's sentence index (int64), or None without an index column; checked as
    pipeline.data.table.read_index checks it, a batch at a time unless plainly whole numbers >= 0."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.data.records import INDEX_LIMIT
    from pipeline.data.table import index_value, is_digits

    if not column or column not in arrow.column_names:
        return None
    values, is_json = _json_text(arrow[column])
    if pa.types.is_integer(values.type) and not values.null_count:
        low, high = pc.min_max(values).values()
        if not n or low.as_py() >= 0 and high.as_py() < INDEX_LIMIT:
            return values.to_numpy().astype(np.int64)
    indices = np.empty(n, dtype=np.int64)
    for start in range(0, n, SCAN_BATCH):
        batch = _decoded(values.slice(start, SCAN_BATCH).to_pylist(), is_json)
        for offset, value in enumerate(batch):
            row = start + offset
            if is_digits(value):  # as read_index: name the cell that made a CSV column text, not this '0'
                cells = _decoded(values.to_pylist(), is_json)
                row = next((r for r, cell in enumerate(cells) if not is_digits(cell)), row)
                value = cells[row]
            indices[row] = index_value(value, where(row), column)
    return indices


def _json_text(column):
    """A column as Arrow values, and whether they are JSON text: `datasets` types a JSON Lines field
    whose lines hold different types (7 beside "seven") as JSON, each value kept as its JSON text."""
    import pyarrow as pa

    if getattr(column.type, "extension_name", None) != "arrow.json":
        return column, False
    return pa.chunked_array([chunk.storage for chunk in column.chunks], type=column.type.storage_type), True


def _decoded(values: list, is_json: bool) -> list:
    """Python values of a column read by `_json_text`."""
    return [None if v is None else json.loads(v) for v in values] if is_json else values


class _Places:
    """Where a row of the whole corpus is: "FILE: line N" (JSON Lines) or "FILE: row N"."""

    def __init__(self):
        self.files: list[Path] = []
        self.starts: list[int] = []
        self.lines: list = []
        self.total = 0

    def add(self, file: Path, n: int, lines) -> None:
        import numpy as np

        self.files.append(file)
        self.starts.append(self.total)
        self.lines.append(None if lines is None else np.asarray(lines, dtype=np.int64))
        self.total += n

    def __getitem__(self, row: int) -> str:
        import bisect

        k = bisect.bisect_right(self.starts, row) - 1
        local = row - self.starts[k]
        lines = self.lines[k]
        return f"{self.files[k]}: line {lines[local]}" if lines is not None else f"{self.files[k]}: row {local + 1}"


def check_repeated_positions(hashes, group_codes, indices, groups: Sequence[str], places, group_column: str,
                             index_column: str) -> None:
    """pipeline.data.corpus.check_repeated_positions on sentence hashes (rows of index -1 have no
    place), found by sorting: the first row whose sentence differs from the first at its place."""
    import numpy as np

    from pipeline.data.corpus import repeated_position

    rows = np.flatnonzero(indices >= 0)
    if not len(rows):
        return
    order = rows[np.lexsort((rows, indices[rows], group_codes[rows]))]
    in_group, index = group_codes[order], indices[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (in_group[1:] != in_group[:-1]) | (index[1:] != index[:-1])
    first = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
    differ = (hashes[order] != hashes[first]).any(axis=1)
    if differ.any():
        k = int(np.argmin(np.where(differ, order, len(indices))))
        i, j = int(order[k]), int(first[k])
        raise PipelineError(repeated_position(places[i], places[j], groups[i], int(indices[i]), group_column,
                                              index_column))


def check_conflicting_labels(hashes, group_codes, label_codes, labels: Sequence[str], places, fatal: bool = True):
    """pipeline.data.check_conflicting_labels on sentence hashes: the same errors and warnings,
    found by sorting instead of a dictionary of every sentence."""
    import numpy as np

    n = len(label_codes)
    rows = np.arange(n)

    def conflicts(keys):
        """(row, first row with the same keys) for each row whose label differs from that first row's."""
        order = np.lexsort((rows, *reversed(keys)))
        starts = np.zeros(n, dtype=bool)
        starts[:1] = True
        for column in keys:
            sorted_column = column[order]
            starts[1:] |= sorted_column[1:] != sorted_column[:-1]
        first = order[np.maximum.accumulate(np.where(starts, rows, 0))]
        differ = label_codes[order] != label_codes[first]
        found, their_first = order[differ], first[differ]
        by_row = np.argsort(found, kind="stable")
        return found[by_row], their_first[by_row]

    found, first = conflicts([hashes[:, 0], hashes[:, 1], group_codes])
    for i, j in zip(found.tolist(), first.tolist()):
        message = (
            f"{places[i]}: the same sentence is labeled {quote(labels[i])} here and {quote(labels[j])} at "
            f"{places[j]} in the same document"
        )
        if fatal:
            raise PipelineError(message)
        warn(message)
    found, first = conflicts([hashes[:, 0], hashes[:, 1]])
    if len(found):
        # One count per distinct sentence; the first reported is the one whose conflict comes first.
        n_sentences = len(np.unique(first))
        k, i = int(first[0]), int(found[0])
        count = "1 sentence carries" if n_sentences == 1 else f"{n_sentences} sentences carry"
        warn(
            f"{count} different labels in different documents (first: {places[k]} "
            f"{quote(labels[k])}, {places[i]} {quote(labels[i])})"
        )
