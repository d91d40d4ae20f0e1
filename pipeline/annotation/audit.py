"""Labels most likely wrong: the sentences whose label gets the lowest out-of-fold probability.
"""

from __future__ import annotations

import os
import sys

from pipeline.common.jsonl import json_line

FORMATS = ("table", "jsonl")


def load_rows(data):
    """The training corpus of a DataSource (standoff labels included), and (file, line or row) of
    each of its sentences."""
    corpus = data.load_train()
    places = []
    for place in corpus.places:
        file, _, where = place.rpartition(": ")
        places.append((file, int(where.split()[-1])))
    return corpus, places


def audit(*, estimator, data, splitter, seed: int = 0) -> tuple[list[dict], dict]:
    """Every sentence with its out-of-fold score for the given label, most suspicious first.

    `seed` feeds the bootstrap and the baselines, as in the train stage."""
    from pipeline.training.crossval import cross_validate
    from pipeline.training.setup import check_params

    check_params(estimator)
    corpus, places = load_rows(data)
    labels = list(data.labels)
    metrics, predictions = cross_validate(estimator, corpus, splitter, labels, seed, final_fit=False)
    scores = predictions.scores  # out of fold; a label missing from a fold's training part scores 0
    rows = []
    for i, (text, label, doc_id, (file, row)) in enumerate(zip(corpus.texts, corpus.labels, corpus.groups, places)):
        best = int(scores[i].argmax())
        rows.append(
            {
                "file": file,
                "row": row,
                "doc_id": doc_id,
                "text": text,
                "label": label,
                "p_label": round(float(scores[i, labels.index(label)]), 6),
                "predicted": labels[best],
                "p_predicted": round(float(scores[i, best]), 6),
            }
        )
    rows.sort(key=lambda r: r["p_label"])  # stable: ties keep file order
    agree = sum(r["label"] == r["predicted"] for r in rows)
    summary = {
        "protocol": metrics["protocol"],
        "n_sentences": len(rows),
        "n_documents": corpus.n_documents,
        "accuracy": agree / len(rows),
        "n_disagreeing": len(rows) - agree,
    }
    return rows, summary


def render_table(rows: list[dict], stream) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ("#", "p(label)", "label", "predicted", "doc", "file:row", "text"):
        table.add_column(column, overflow="fold")
    for rank, r in enumerate(rows, start=1):
        table.add_row(str(rank), f"{r['p_label']:.3f}", r["label"], f"{r['predicted']} {r['p_predicted']:.2f}",
                      r["doc_id"], f"{_short(r['file'])}:{r['row']}", r["text"])
    Console(file=stream, width=None if stream.isatty() else 160).print(table)


def _short(path: str) -> str:
    """A path relative to the working folder when it lies inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _write(rows: list[dict], fmt: str, stream) -> None:
    if fmt == "jsonl":
        for rank, r in enumerate(rows, start=1):
            stream.write(json_line({"rank": rank, **r}))
    else:
        render_table(rows, stream)


def _format_for(output: str | None) -> str:
    if output:
        return "table" if output.lower().endswith(".txt") else "jsonl"
    return "table" if sys.stdout.isatty() else "jsonl"
