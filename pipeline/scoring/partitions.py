"""Input files cut into partitions that workers read themselves, in input order.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.scoring.inputs import Item


def plan_partitions(files: list[str], rows: int, whole_documents: bool = False) -> list[tuple]:
    """(kind, path, ...) descriptions of partitions of about `rows` sentences, in input order.

    Parquet splits at row groups, JSONL at line offsets (found by one pass over the bytes); a
    CSV file is one partition, and consecutive articles are grouped up to about `rows`
    sentences' worth of bytes. With `whole_documents` (context models) a partition never ends
    inside a document: a Parquet cut moves on to the next document after reading the doc_id
    column, and JSONL reads each line's doc_id (the rule of local batches,
    pipeline.score.cut_before). Only a document longer than DOCUMENT_BATCH_CAP batches is cut.
    Each partition carries its files' default doc_ids (inputs.default_doc_ids of all the inputs).
    """
    from pipeline.scoring.inputs import default_doc_ids

    doc_ids = default_doc_ids(files)
    parts: list[tuple] = []
    articles: list[str] = []
    article_bytes = 0
    for name in files:
        path = Path(name)
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".jsonl", ".csv") and articles:
            parts.append(_files_part(articles, doc_ids))
            articles, article_bytes = [], 0
        if suffix == ".parquet":
            parts += [(*part, doc_ids[name]) for part in _parquet_partitions(path, rows, whole_documents)]
        elif suffix == ".jsonl":
            parts += [(*part, doc_ids[name]) for part in _jsonl_partitions(path, rows, whole_documents)]
        elif suffix == ".csv":
            parts.append(_files_part([name], doc_ids))
        else:
            articles.append(name)
            article_bytes += path.stat().st_size
            if article_bytes >= rows * ARTICLE_BYTES_PER_SENTENCE:
                parts.append(_files_part(articles, doc_ids))
                articles, article_bytes = [], 0
    if articles:
        parts.append(_files_part(articles, doc_ids))
    return parts


def _files_part(names: list[str], doc_ids: dict[str, str]) -> tuple:
    return "files", tuple(names), tuple(doc_ids[name] for name in names)


ARTICLE_BYTES_PER_SENTENCE = 150  # to group articles into partitions of about `rows` sentences


def _parquet_partitions(path: Path, rows: int, whole_documents: bool) -> list[tuple]:
    """Row ranges made of whole row groups (so each is read once), cut where documents change."""
    from pipeline.scoring.batching import DOCUMENT_BATCH_CAP
    from pipeline.scoring.inputs import open_parquet

    parquet = open_parquet(path)
    metadata = parquet.metadata
    total = metadata.num_rows
    cuts, size, row = [], 0, 0
    for group in range(metadata.num_row_groups):
        size += metadata.row_group(group).num_rows
        row += metadata.row_group(group).num_rows
        if size >= rows and row < total:
            cuts.append(row)
            size = 0
    if whole_documents and cuts:
        doc_ids = (parquet.read(columns=["doc_id"]).column(0).to_pylist()
                   if "doc_id" in parquet.schema_arrow.names else [None] * total)
        moved = []
        for cut in cuts:
            limit = min(total, cut + DOCUMENT_BATCH_CAP * rows)
            while cut < limit and doc_ids[cut] == doc_ids[cut - 1]:
                cut += 1
            if cut < total and (not moved or cut > moved[-1]):
                moved.append(cut)
        cuts = moved
    bounds = [0, *cuts, total]
    return [("parquet", str(path), start, stop - start) for start, stop in zip(bounds, bounds[1:]) if stop > start]


def _jsonl_partitions(path: Path, rows: int, whole_documents: bool = False) -> list[tuple]:
    import json

    from pipeline.scoring.batching import cut_before

    parts, offset, start, first_line, count, last_doc = [], 0, 0, 1, 0, None
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                doc = _doc_id_of(json, line) if whole_documents else None
                if count and (cut_before(count, doc, last_doc, rows) if whole_documents else count >= rows):
                    parts.append(("jsonl", str(path), start, first_line, count))
                    count = 0
                if count == 0:
                    start, first_line = offset, number
                count, last_doc = count + 1, doc
            elif count == 0:
                start, first_line = offset + len(line), number + 1
            offset += len(line)
    if count:
        parts.append(("jsonl", str(path), start, first_line, count))
    return parts


def _doc_id_of(json, line: bytes):
    """A JSONL line's doc_id for planning; a line that does not parse is reported when it is read."""
    try:
        record = json.loads(line)
        return str(record["doc_id"]) if isinstance(record, dict) and record.get("doc_id") is not None else None
    except (ValueError, RecursionError):  # json's limits: too deep, or an integer of over 4,300 digits
        return None


def partition_size(part: tuple) -> int:
    """How many sentences a partition holds (articles and CSV files are read to know)."""
    if part[0] in ("parquet", "jsonl"):
        return part[3] if part[0] == "parquet" else part[4]
    return len(partition_items(part))


def partition_items(part: tuple, skip: int = 0) -> list[Item]:
    """The sentences of one partition, the first `skip` left out (run on a worker)."""
    from itertools import islice

    from pipeline.scoring import inputs

    kind, name = part[0], part[1]
    if kind == "parquet":
        items = _parquet_rows(Path(name), start=part[2], count=part[3], doc_id=part[4])
        source = name
    elif kind == "jsonl":
        items = inputs.read_jsonl(Path(name), start_byte=part[2], first_line=part[3], max_items=part[4],
                                  doc_id=part[5])
        source = name
    else:
        return list(islice(inputs.iter_items(list(name), doc_ids=dict(zip(name, part[2]))), skip, None))
    return inputs.check_lengths(list(islice(items, skip, None)), source)


def _parquet_rows(path: Path, start: int, count: int, doc_id: str):
    """Rows start..start+count of a Parquet file, reading only the row groups that hold them."""
    from itertools import islice

    from pipeline.scoring import inputs

    metadata = inputs.open_parquet(path).metadata
    groups, first_row, row = [], None, 0
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        if row + size > start and row < start + count:
            groups.append(group)
            first_row = row if first_row is None else first_row
        row += size
    if not groups:
        return iter(())
    items = inputs.read_parquet(path, 65_536, row_groups=groups, first_row=first_row, doc_id=doc_id)
    return islice(items, start - first_row, start - first_row + count)
