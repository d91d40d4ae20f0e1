"""Labeling templates: articles split into sentences with empty labels.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

from pipeline.common.errors import PipelineError

SENTENCE_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet"}


def template_records(articles: Iterable[tuple[str, str]], extra: dict[str, str] | None = None) -> list[dict]:
    """One unlabeled record per sentence of each (doc_id, article text)."""
    from pipeline.data.sentences import split_article

    records = []
    for doc_id, text in articles:
        for sentence in split_article(text):
            record = {"doc_id": doc_id, "sentence_index": sentence.index, "text": sentence.text, "label": ""}
            records.append({**record, **(extra or {})})
    return records


def read_articles(inputs: Iterable[str]) -> list[tuple[str, str]]:
    """(doc_id, text) for each article named, found in a named folder, or read from stdin."""
    from pipeline.scoring.inputs import TEXT_FILES, read_text

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
