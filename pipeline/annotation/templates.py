"""Labeling templates: articles split into sentences with empty labels.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

from pipeline.common.errors import PATH_CHARS, PipelineError, cut, quote

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


def article_files(inputs: Iterable[str]) -> list[Path]:
    """The articles named, found in a named folder, or Path("-") for stdin."""
    from pipeline.common.files import STDIN, find_files
    from pipeline.scoring.inputs import TEXT_FILES

    inputs = list(inputs)
    for name in inputs:
        if name != STDIN and Path(name).is_file() and Path(name).suffix.lower() in SENTENCE_SUFFIXES:
            raise PipelineError(f"{cut(name, PATH_CHARS)}: holds sentences already, not an article; label it directly")
    return find_files(inputs, TEXT_FILES, what="article files (.txt, .md, .text)", stdin=True)


def read_articles(inputs: Iterable[str]) -> list[tuple[str, str]]:
    """(doc_id, text) for each article named, found in a named folder, or read from stdin."""
    from pipeline.common.files import STDIN
    from pipeline.scoring.inputs import file_doc_id, read_stdin, read_text

    articles: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for path in article_files(inputs):
        from_stdin = str(path) == STDIN
        doc_id, where = ("stdin", "stdin") if from_stdin else (file_doc_id(path), str(path))
        if seen.get(doc_id) == where:
            raise PipelineError(f"{cut(where, PATH_CHARS)}: given more than once")
        if doc_id in seen:
            raise PipelineError(f"{cut(where, PATH_CHARS)}: doc_id {quote(doc_id)} is already taken by "
                                f"{cut(seen[doc_id], PATH_CHARS)}; rename one file")
        seen[doc_id] = where
        text = read_stdin() if from_stdin else read_text(path)  # read as score reads it
        if not text.strip():
            print(f"warning: {cut(where, PATH_CHARS)}: no text, so no sentences", file=sys.stderr)
        articles.append((doc_id, text))
    return articles
