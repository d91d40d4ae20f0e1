"""Scored sentences as JSONL, CSV, Arrow tables, a terminal table or the html report.
"""

from __future__ import annotations

import csv
from typing import Sequence

from pipeline.common.errors import PipelineError
from pipeline.common.jsonl import json_line
from pipeline.common.spreadsheet import to_cell

FORMATS = ("jsonl", "csv", "parquet", "table", "html")


class JsonlWriter:
    def __init__(self, stream, labels: Sequence[str]):
        self.stream, self.labels = stream, list(labels)

    def write(self, items, probabilities) -> None:
        from pipeline.artifacts.model import build_records

        records = build_records(items, probabilities, self.labels)
        self.stream.write("".join(map(json_line, records)))

    def close(self) -> None:
        pass


class CsvWriter:
    def __init__(self, stream, labels: Sequence[str], header: bool = True):
        self.labels = list(labels)
        self.csv = csv.writer(stream)
        if header:
            self.csv.writerow(["doc_id", "sentence_index", "text", "label"] + [f"score_{l}" for l in self.labels])

    def write(self, items, probabilities) -> None:
        import numpy as np

        probabilities = np.asarray(probabilities)
        best = probabilities.argmax(axis=1).tolist()
        rounded = probabilities.round(6).tolist()
        self.csv.writerows(
            [to_cell(doc_id), index, to_cell(text), self.labels[top], *row]
            for (doc_id, index, text), top, row in zip(items, best, rounded)
        )

    def close(self) -> None:
        pass


class TableWriter:
    """A rich table on the terminal; it needs every row, so it is for small inputs."""

    def __init__(self, stream, labels: Sequence[str]):
        self.stream, self.labels = stream, list(labels)
        self.rows: list[dict] = []

    def write(self, items, probabilities) -> None:
        from pipeline.artifacts.model import build_records

        self.rows += build_records(items, probabilities, self.labels)

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table()
        for column in ("doc", "#", "label", "score", "text"):
            table.add_column(column, overflow="fold")
        for r in self.rows:  # Text: a sentence's "[bold]" or ":fire:" is shown as written, not read as markup
            table.add_row(Text(str(r["doc_id"])), str(r["sentence_index"]), Text(r["label"]),
                          f"{r['scores'][r['label']]:.2f}", Text(r["text"]))
        Console(file=self.stream).print(table)


def arrow_table(items, probabilities, labels: Sequence[str]):
    """A batch as an Arrow table with the same columns as the CSV output."""
    import numpy as np
    import pyarrow as pa

    probabilities = np.asarray(probabilities)
    doc_ids, indices, texts = [i[0] for i in items], [i[1] for i in items], [i[2] for i in items]
    labels = list(labels)
    try:
        index_array = pa.array(indices, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise PipelineError("--format parquet: every sentence_index must be a whole number") from None
    try:
        doc_array = pa.array(doc_ids, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids that are not strings
        doc_array = pa.array([str(d) for d in doc_ids], pa.string())
    best = pa.array(probabilities.argmax(axis=1) if len(texts) else np.zeros(0, dtype=np.int64))
    columns = {
        "doc_id": doc_array,
        "sentence_index": index_array,
        "text": pa.array(texts, pa.string()),
        "label": pa.array(labels, pa.string()).take(best),
    }
    rounded = probabilities.round(6)
    for j, label in enumerate(labels):
        columns[f"score_{label}"] = pa.array(rounded[:, j] if len(texts) else [], pa.float64())
    return pa.table(columns)


class RecordsWriter:
    """Adapts a writer of score records (the html report) to (items, probabilities) batches."""

    def __init__(self, inner, labels: Sequence[str]):
        self.inner, self.labels = inner, list(labels)

    def write(self, items, probabilities) -> None:
        from pipeline.artifacts.model import build_records

        self.inner.write(build_records(items, probabilities, self.labels))

    def close(self) -> None:
        self.inner.close()


def make_text_writer(stream, fmt: str, labels: Sequence[str], header: bool, model=None):
    if fmt == "html":
        from pipeline.reports.articles_page import HtmlWriter

        return RecordsWriter(HtmlWriter(stream, model), labels)
    if fmt == "jsonl":
        return JsonlWriter(stream, labels)
    if fmt == "csv":
        return CsvWriter(stream, labels, header=header)
    return TableWriter(stream, labels)


def empty_scores(labels):
    import numpy as np

    return np.zeros((0, len(labels)))
