"""The unlabeled sentences a model is least sure of, to label next.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.common.errors import PipelineError
from pipeline.common.jsonl import json_line

FORMATS = ("jsonl", "table")
# The keys suggest writes itself; a record's other fields (origin, genre, topic, ...) are kept.
TEMPLATE_KEYS = ("doc_id", "sentence_index", "text", "label", "rank", "margin", "predicted", "scores")


def iter_unlabeled(inputs: Iterable[str]) -> Iterator[tuple[str, int, str]]:
    """(doc_id, sentence_index, text) of every sentence that has no label yet."""
    from pipeline.scoring.inputs import STDIN, default_doc_ids, iter_items, read_file, resolve_inputs

    files = resolve_inputs(inputs)  # every input checked before any is read
    doc_ids = default_doc_ids(files)
    for name in files:
        if name == STDIN:
            yield from iter_items([STDIN])
        elif name.lower().endswith(".jsonl"):
            yield from _unlabeled_jsonl(Path(name), doc_ids[name])
        else:
            yield from read_file(Path(name), doc_id=doc_ids[name])


def _unlabeled_jsonl(file: Path, doc_id: str) -> Iterator[tuple[str, int, str]]:
    """The records without a label, read forgivingly like any text to score."""
    from pipeline.common.jsonl import read_json_lines
    from pipeline.scoring.inputs import jsonl_item

    for number, record in read_json_lines(file, forgiving=True):
        item = jsonl_item(file, number, record, doc_id)
        if not record.get("label"):
            fields = {k: v for k, v in record.items() if k not in TEMPLATE_KEYS}
            yield (*item, {"fields": fields}) if fields else item  # origin, topic ...: kept in the output


def labeled_keys(inputs: Iterable[str]) -> set[str]:
    """Sentence keys of already labeled files, to leave out of the suggestions."""
    from pipeline.annotation.validation import jsonl_files, read_records, sentence_key, standoff_format

    keys: set[str] = set()
    for file in jsonl_files(inputs):
        if standoff_format(file):  # labels of a corpus never committed (data/ptc/): its sentences
            keys.update(sentence_key(text) for text in standoff_texts(file))
            continue
        errors: list[str] = []
        for record in read_records(file, None, errors, allow_unlabeled=True, required=("text",)):
            keys.add(sentence_key(record.text))
        if errors:
            raise PipelineError(f"--exclude: {errors[0]}")
    return keys


def standoff_texts(file: Path) -> list[str]:
    """The sentences of a standoff labels file, rebuilt from its corpus; none, with a warning, without it."""
    from pipeline.annotation.validation import default_corpus_dir, standoff_format
    from pipeline.common.errors import warn
    from pipeline.data.standoff import StandoffSet

    fmt = standoff_format(file)
    corpus = default_corpus_dir(fmt)
    if not corpus.is_dir():
        warn(f"--exclude: {file}: its sentences are not left out (no {fmt} corpus at {corpus}; "
             "set PIPELINE_SHARED_DIR)")
        return []
    try:
        return [record.text for record in StandoffSet(str(file), str(corpus), fmt).read()]
    except PipelineError as exc:
        raise PipelineError(f"--exclude: {exc}") from None


def suggest(model, items: Iterable[tuple[str, int, str]], n: int, exclude: set[str] = frozenset(),
            batch_size: int = 2000) -> tuple[list[dict], dict]:
    """The `n` sentences with the smallest margin between the model's two highest scores.

    Repeated sentences (same text up to case and spacing) and those in `exclude` are skipped.
    """
    import numpy as np

    from pipeline.annotation.validation import sentence_key
    from pipeline.scoring.batching import batches

    seen = set(exclude)
    best: list[tuple[float, int, tuple, list[float]]] = []  # max-heap of the n smallest, by -margin
    counts = {"n_sentences": 0, "n_scored": 0, "n_skipped_known": 0, "n_skipped_repeats": 0, "n_skipped_blank": 0}
    order = 0

    def fresh(items):
        for item in items:
            text = item[2]
            counts["n_sentences"] += 1
            if not text.strip():
                counts["n_skipped_blank"] += 1
                continue
            key = sentence_key(text)
            if key in seen:
                counts["n_skipped_known" if key in exclude else "n_skipped_repeats"] += 1
                continue
            seen.add(key)
            yield item

    whole_documents = getattr(model, "input_kind", "text") == "records"  # context models: as score does
    for batch in batches(fresh(items), batch_size, whole_documents):
        scores = np.asarray(model.predict_items(batch))
        top2 = np.sort(scores, axis=1)[:, -2:]  # a model has at least two labels
        margins = top2[:, 1] - top2[:, 0]
        counts["n_scored"] += len(batch)
        for item, margin, row in zip(batch, margins, scores):
            entry = (-float(margin), -order, item, row.tolist())
            order += 1
            if len(best) < n:
                heapq.heappush(best, entry)
            elif entry > best[0]:
                heapq.heappushpop(best, entry)
    chosen = sorted(best, key=lambda e: (-e[0], -e[1]))
    records = []
    for rank, (neg_margin, _, (doc_id, index, text, *extra), row) in enumerate(chosen, start=1):
        top = max(range(len(row)), key=row.__getitem__)
        records.append(
            {
                "doc_id": doc_id,
                "sentence_index": index,
                "text": text,
                "label": "",
                **(extra[0].get("fields", {}) if extra else {}),
                "rank": rank,
                "margin": round(-neg_margin, 6),
                "predicted": model.labels[top],
                "scores": {label: round(float(p), 6) for label, p in zip(model.labels, row)},
            }
        )
    return records, counts


def render_table(records: list[dict], stream) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ("#", "margin", "predicted", "doc", "i", "text"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(str(r["rank"]), f"{r['margin']:.3f}", r["predicted"], str(r["doc_id"]),
                      str(r["sentence_index"]), r["text"])
    Console(file=stream, width=None if stream.isatty() else 160).print(table)


def _write(records: list[dict], fmt: str, stream) -> None:
    if fmt == "table":
        render_table(records, stream)
    else:
        for r in records:
            stream.write(json_line(r))
