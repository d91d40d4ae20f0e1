"""Scoring stage: label every sentence of new articles with a saved model.

    python -m pipeline.score [--model DIR] [FILE|DIR|-]... [--text "..."] [--format jsonl|csv|table|html]

Plain-text files are articles, split into sentences here; `.jsonl` files hold one sentence
per line in a `text` field (with optional `doc_id` and `sentence_index`); `.csv` files hold
sentences in a `text` column. Imports neither Hydra nor `datasets`, so one sentence scores fast.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.errors import PipelineError, reports_errors

FORMATS = ("jsonl", "csv", "table", "html")
SENTENCE_FILES = {".jsonl", ".csv"}
TEXT_FILES = {".txt", ".text", ".md", ""}
DEFAULT_MODEL = Path("models") / "latest"

Item = tuple[str, int, str]  # doc_id, sentence_index, text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.score",
        description="Label each sentence of new text with a saved model: doc_id, sentence_index, "
        "text, label and a score per label.",
    )
    parser.add_argument("inputs", nargs="*", metavar="FILE|DIR|-",
                        help="articles (.txt), sentences (.jsonl/.csv), folders of them, or - for stdin")
    parser.add_argument("--text", action="append", default=[], help="score this text (repeatable)")
    parser.add_argument("--model", default=None,
                        help="model folder (default: models/latest)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="output format (default: from the -o suffix, else table on a terminal, "
                        "jsonl otherwise); html is one self-contained page of highlighted articles")
    parser.add_argument("-o", "--output", default=None, help="write here instead of stdout")
    parser.add_argument("--batch-size", type=int, default=2000, help="sentences scored at once")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    return args


def iter_items(inputs: Iterable[str], texts: Iterable[str]) -> Iterator[Item]:
    """Sentences to score, in input order, read lazily file by file."""
    from pipeline.sentences import split_sentences

    for number, text in enumerate(texts):
        doc_id = "text" if number == 0 else f"text{number}"
        for index, sentence in enumerate(split_sentences(text)):
            yield doc_id, index, sentence
    for name in inputs:
        if name == "-":
            for index, sentence in enumerate(split_sentences(sys.stdin.read())):
                yield "stdin", index, sentence
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _readable_kind(p))
            if not files:
                raise PipelineError(f"{path}: no .txt, .jsonl or .csv files in the folder")
        elif path.is_file():
            files = [path]
        else:
            raise PipelineError(f"{path}: file not found")
        for file in files:
            yield from read_file(file)


def read_file(path: Path) -> Iterator[Item]:
    from pipeline.sentences import split_sentences

    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _read_jsonl(path)
    elif suffix == ".csv":
        yield from _read_csv(path)
    else:
        for index, sentence in enumerate(split_sentences(read_text(path))):
            yield path.stem, index, sentence


def read_text(path: Path) -> str:
    """A text file as str; undecodable bytes are replaced and reported, not fatal."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    text = raw.decode("utf-8-sig", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in raw:
        print(f"warning: {path}: bytes that are not UTF-8 were replaced with \ufffd", file=sys.stderr)
    return text.replace("\x00", " ")


def _read_jsonl(path: Path) -> Iterator[Item]:
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PipelineError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise PipelineError(f"{path}: line {number}: expected an object with a 'text' string")
        index = record.get("sentence_index", number - 1)
        yield str(record.get("doc_id", path.stem)), index, record["text"]


def _read_csv(path: Path) -> Iterator[Item]:
    rows = csv.DictReader(read_text(path).splitlines())
    if not rows.fieldnames or "text" not in rows.fieldnames:
        raise PipelineError(f"{path}: no 'text' column")
    for number, row in enumerate(rows):
        yield row.get("doc_id") or path.stem, int(row.get("sentence_index") or number), row["text"] or ""


def _readable_kind(path: Path) -> bool:
    return path.suffix.lower() in SENTENCE_FILES | TEXT_FILES and not path.name.startswith(".")


def batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Writer:
    """Writes records as JSONL, CSV or a terminal table."""

    def __init__(self, stream, fmt: str, labels: list[str]):
        self.stream, self.fmt, self.labels = stream, fmt, labels
        self.rows: list[dict] = []
        if fmt == "csv":
            self.csv = csv.writer(stream)
            self.csv.writerow(["doc_id", "sentence_index", "text", "label"] + [f"score_{l}" for l in labels])

    def write(self, records: list[dict]) -> None:
        if self.fmt == "jsonl":
            for record in records:
                self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            for r in records:
                self.csv.writerow([r["doc_id"], r["sentence_index"], r["text"], r["label"]]
                                  + [r["scores"][l] for l in self.labels])
        else:
            self.rows += records

    def close(self) -> None:
        if self.fmt == "table":
            from rich.console import Console
            from rich.table import Table

            table = Table()
            for column in ("doc", "#", "label", "score", "text"):
                table.add_column(column, overflow="fold")
            for r in self.rows:
                table.add_row(str(r["doc_id"]), str(r["sentence_index"]), r["label"],
                              f"{r['scores'][r['label']]:.2f}", r["text"])
            Console(file=self.stream).print(table)


def default_model_dir() -> Path:
    if DEFAULT_MODEL.exists():
        return DEFAULT_MODEL
    return Path(__file__).resolve().parents[1] / DEFAULT_MODEL


@reports_errors
def main(argv: list[str] | None = None) -> None:
    from pipeline.model import load_model

    args = parse_args(argv)
    inputs = list(args.inputs)
    if not inputs and not args.text:
        if sys.stdin.isatty():
            raise PipelineError("nothing to score: give files, folders, - for stdin, or --text")
        inputs = ["-"]
    fmt = args.format or _format_for(args.output)
    if args.output:
        out = Path(args.output)
        if not out.parent.is_dir():
            raise PipelineError(f"--output: folder does not exist: {out.parent}")
        if out.is_dir():
            raise PipelineError(f"--output: {out} is a folder, not a file")
    model = load_model(args.model or default_model_dir())
    if args.output:
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as stream:
                _score_into(stream, fmt, model, inputs, args)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        _score_into(sys.stdout, fmt, model, inputs, args)


def _score_into(stream, fmt: str, model, inputs: list[str], args) -> None:
    if fmt == "html":
        from pipeline.html_report import HtmlWriter

        writer = HtmlWriter(stream, model)
    else:
        writer = Writer(stream, fmt, model.labels)
    for batch in batches(iter_items(inputs, args.text), args.batch_size):
        writer.write(model.records(batch))
    writer.close()


def _format_for(output: str | None) -> str:
    if output:
        suffix = Path(output).suffix.lower()
        return {".csv": "csv", ".html": "html", ".htm": "html"}.get(suffix, "jsonl")
    return "table" if sys.stdout.isatty() else "jsonl"


if __name__ == "__main__":
    main()
