"""Find sentences that are probably mislabeled, for a second look.

    python -m pipeline.audit [group=option] [key=value] ... [-n 30] [--format table|jsonl] [-o FILE]
    python -m pipeline.audit data=default model=logreg -n 30

Composes configs/train.yaml with the overrides, like `pipeline.train`, then predicts every
sentence with a model that never saw its document (the config's cross-validation, grouped by
document). The sentences whose given label gets the lowest out-of-fold probability come first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from pipeline.errors import ArgumentParser, reports_errors

FORMATS = ("table", "jsonl")


def load_rows(data):
    """The training corpus of a DataSource, and (file, row) of each of its sentences."""
    from pipeline.data import Corpus, resolve_files

    corpus = Corpus([], [], [], [])
    places: list[tuple[str, int]] = []
    for file in resolve_files(data.path, "data.path"):
        part = data.load(str(file), "data.path")
        corpus.texts += part.texts
        corpus.labels += part.labels
        corpus.groups += part.groups
        corpus.files.append(str(file))
        places += [(str(file), row) for row in range(1, len(part) + 1)]
    return corpus, places


def audit(*, estimator, data, splitter, seed: int = 0) -> tuple[list[dict], dict]:
    """Every sentence with its out-of-fold score for the given label, most suspicious first.

    `seed` feeds the bootstrap and the baselines, as in the train stage."""
    from pipeline.config import check_params
    from pipeline.train import cross_validate

    check_params(estimator)
    corpus, places = load_rows(data)
    labels = list(data.labels)
    metrics, predictions = cross_validate(estimator, corpus, splitter, labels, seed)
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.audit",
        description="List the labeled sentences most likely mislabeled: lowest out-of-fold probability "
        "of their given label, with folds grouped by document as in training.",
    )
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                        help="Hydra overrides of configs/train.yaml, e.g. data=default model=logreg data.path=FILE")
    parser.add_argument("-n", "--top", type=int, default=30, help="how many sentences to list (default: 30)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: table on a terminal or -o *.txt, jsonl otherwise)")
    parser.add_argument("-o", "--output", default=None, help="write here instead of stdout")
    parser.add_argument("--force", action="store_true", help="replace an existing --output file")
    args = parser.parse_intermixed_args(argv)
    if args.top < 1:
        parser.error("-n/--top must be at least 1")
    return args


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from pipeline import config
    from pipeline.data import atomic_output, check_output

    if args.output:
        check_output(args.output, args.force)
    fmt = args.format or _format_for(args.output)
    cfg = config.compose_config("train", args.overrides)
    rows, summary = audit(
        estimator=config.build_estimator(cfg.features, cfg.model),
        data=config.instantiate(cfg.data, "data"),
        splitter=config.instantiate(cfg.split, "split"),
        seed=cfg.seed,
    )
    print(
        f"{summary['protocol']}: {summary['n_sentences']} sentences in {summary['n_documents']} documents; "
        f"out-of-fold prediction differs from the given label for {summary['n_disagreeing']} "
        f"(accuracy {summary['accuracy']:.3f})",
        file=sys.stderr,
    )
    top = rows[: args.top]
    if args.output:
        with atomic_output(args.output, args.force) as stream:
            _write(top, fmt, stream)
    else:
        _write(top, fmt, sys.stdout)


def _write(rows: list[dict], fmt: str, stream) -> None:
    if fmt == "jsonl":
        for rank, r in enumerate(rows, start=1):
            stream.write(json.dumps({"rank": rank, **r}, ensure_ascii=False) + "\n")
    else:
        render_table(rows, stream)


def _format_for(output: str | None) -> str:
    if output:
        return "table" if output.lower().endswith(".txt") else "jsonl"
    return "table" if sys.stdout.isatty() else "jsonl"


if __name__ == "__main__":
    main()
