"""Labeling template: split articles into sentences, one JSONL record each with an empty label.

    python -m pipeline.split ARTICLE.txt|DIR|- [-o FILE] [--origin O --genre G --topic T]

Each record is {"doc_id", "sentence_index", "text", "label": ""}; doc_id is the file's stem
("stdin" for -). Fill in the labels, then check the file with `python -m pipeline.validate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable

from pipeline.errors import ArgumentParser, PipelineError, reports_errors

SENTENCE_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet"}


def template_records(articles: Iterable[tuple[str, str]], extra: dict[str, str] | None = None) -> list[dict]:
    """One unlabeled record per sentence of each (doc_id, article text)."""
    from pipeline.sentences import split_article

    records = []
    for doc_id, text in articles:
        for sentence in split_article(text):
            record = {"doc_id": doc_id, "sentence_index": sentence.index, "text": sentence.text, "label": ""}
            records.append({**record, **(extra or {})})
    return records


def read_articles(inputs: Iterable[str]) -> list[tuple[str, str]]:
    """(doc_id, text) for each article named, found in a named folder, or read from stdin."""
    from pipeline.inputs import TEXT_FILES, read_text

    articles: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for name in inputs:
        if name == "-":
            found = [("stdin", "stdin", None)]
        else:
            path = Path(name)
            if path.is_dir():
                files = sorted(
                    p for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in TEXT_FILES and not p.name.startswith(".")
                )
                if not files:
                    raise PipelineError(f"{path}: no article files (.txt, .md, .text) in the folder")
            elif path.is_file():
                if path.suffix.lower() in SENTENCE_SUFFIXES:
                    raise PipelineError(
                        f"{path}: holds sentences already, not an article; label it directly"
                    )
                files = [path]
            else:
                raise PipelineError(f"{path}: file not found")
            found = [(p.stem, str(p), p) for p in files]
        for doc_id, where, path in found:
            if seen.get(doc_id) == where:
                raise PipelineError(f"{where}: given more than once")
            if doc_id in seen:
                raise PipelineError(f"{where}: doc_id {doc_id!r} is already taken by {seen[doc_id]}; rename one file")
            seen[doc_id] = where
            text = sys.stdin.read() if path is None else read_text(path)
            if not text.strip():
                print(f"warning: {where}: no text, so no sentences", file=sys.stderr)
            articles.append((doc_id, text))
    return articles


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.split",
        description="Split articles into sentences and write a JSONL labeling template "
        "(doc_id, sentence_index, text, empty label).",
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE|DIR|-",
                        help="article text files, folders of them, or - for stdin (doc_id: the file stem)")
    parser.add_argument("-o", "--output", default=None, help="write the template here instead of stdout")
    parser.add_argument("--force", action="store_true", help="replace an existing --output file")
    for field in ("origin", "genre", "topic"):
        parser.add_argument(f"--{field}", default=None, help=f"add this {field} to every record")
    return parser.parse_args(argv)


@reports_errors
def main(argv: list[str] | None = None) -> None:
    from pipeline.data import atomic_output, check_output

    args = parse_args(argv)
    if args.inputs.count("-") > 1:
        raise PipelineError("stdin (-) can be read only once")
    if args.output:
        check_output(args.output, args.force)
    extra = {f: getattr(args, f) for f in ("origin", "genre", "topic") if getattr(args, f) is not None}
    articles = read_articles(args.inputs)
    records = template_records(articles, extra)
    if not records:
        raise PipelineError("no sentences in the input; nothing written")
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.output:
        with atomic_output(args.output, args.force) as stream:
            stream.write(lines)
        print(f"wrote {len(records)} sentences from {len(articles)} articles to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(lines)


if __name__ == "__main__":
    main()
