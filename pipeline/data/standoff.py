"""Labels kept apart from the text they label (standoff), for corpora that are never committed.

The repo holds only where each labeled sentence is and a hash of its text; the sentences are
rebuilt at run time from the corpus folder, and every hash must match, so a different copy of
the corpus stops training instead of silently mislabeling it. Two formats:

- `ptc`: articles of the Propaganda Techniques Corpus, one file per article
  (`<corpus>/<folder>/<doc_id>.txt`); a record is {"doc_id", "folder", "sentence_index",
  "start", "end", "sha256", "label"}, `start:end` the sentence's character offsets in the file
  (the project's splitter, pipeline.data.sentences, cut the sentences).
- `newsdiscourse`: NewsDiscourse, already split into sentences (`<corpus>/train.jsonl` and
  `validation.jsonl`); a record is {"doc_id", "sentence_index", "sha256", "label"}, the sentence
  named by the corpus's own (doc_id, sentence_index).

`sha256` is the first 16 hex digits of the sha256 of the sentence's UTF-8 text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.common.errors import PipelineError, warn
from pipeline.data.records import INDEX_LIMIT

FORMATS = ("ptc", "newsdiscourse")
FIELDS = {
    "ptc": ("doc_id", "folder", "sentence_index", "start", "end", "sha256", "label"),
    "newsdiscourse": ("doc_id", "sentence_index", "sha256", "label"),
}
WHERE_TO_GET = {
    "ptc": "the Propaganda Techniques Corpus (SemEval-2020 Task 11 data release, from its authors)",
    "newsdiscourse": "the NewsDiscourse corpus (Choubey et al., 2020), as sentences in train.jsonl and validation.jsonl",
}
CONFIG_KEY = {"ptc": "paths.ptc_dir", "newsdiscourse": "paths.newsdiscourse_dir"}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class StandoffRecord:
    text: str
    label: str
    doc_id: str
    sentence_index: int
    line: int  # in the labels file


@dataclass
class StandoffSet:
    """One labels file and the corpus folder its sentences come from (configs/data/real.yaml)."""

    labels: str
    corpus: str
    format: str

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise PipelineError(f"config data.standoff: format must be one of {', '.join(FORMATS)}, got {self.format!r}")

    def read(self) -> list[StandoffRecord]:
        """The labeled sentences, rebuilt from the corpus and checked against their hashes."""
        labels_file, corpus = Path(self.labels), Path(self.corpus)
        rows = read_labels(labels_file, self.format)
        if not rows:
            return []
        if not corpus.is_dir():
            raise PipelineError(
                f"{labels_file}: its sentences come from {WHERE_TO_GET[self.format]}, not found at {corpus} "
                f"(set {CONFIG_KEY[self.format]} to the folder holding it)"
            )
        texts = _ptc_texts(rows, corpus) if self.format == "ptc" else _newsdiscourse_texts(rows, corpus)
        records = []
        for (line, row), text in zip(rows, texts):
            if text is None or text_hash(text) != row["sha256"]:
                where = (f"{row['folder']}/{row['doc_id']}.txt characters {row['start']}-{row['end']}"
                         if self.format == "ptc" else f"{row['doc_id']} sentence {row['sentence_index']}")
                found = "is missing" if text is None else "does not match the labeled sentence's hash"
                raise PipelineError(
                    f"{labels_file}: line {line}: {where} {found}: the corpus at {corpus} differs from the copy "
                    f"that was labeled ({WHERE_TO_GET[self.format]})"
                )
            records.append(StandoffRecord(text, row["label"], str(row["doc_id"]), int(row["sentence_index"]), line))
        return records


def read_labels(labels_file: Path, fmt: str) -> list[tuple[int, dict]]:
    """(line, record) of a standoff labels file, each record's fields checked."""
    from pipeline.common.jsonl import read_json_lines

    if not labels_file.is_file():
        raise PipelineError(f"{labels_file}: standoff labels file not found")
    rows = []
    for line, row in read_json_lines(labels_file):
        missing = [f for f in FIELDS[fmt] if f not in row]
        if missing:
            raise PipelineError(f"{labels_file}: line {line}: missing field {missing[0]!r} of a {fmt} standoff label")
        for name in ("sentence_index", "start", "end"):
            value = row.get(name, 0)
            if name in FIELDS[fmt] and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise PipelineError(f"{labels_file}: line {line}: {name!r} must be a whole number >= 0, got {value!r}")
            if name == "sentence_index" and value >= INDEX_LIMIT:  # the context features' OverflowError
                raise PipelineError(f"{labels_file}: line {line}: 'sentence_index' is out of range, got {value!r}")
        if not isinstance(row["sha256"], str) or not isinstance(row["label"], str):
            raise PipelineError(f"{labels_file}: line {line}: 'sha256' and 'label' must be strings")
        rows.append((line, row))
    if not rows:  # silver labels of one corpus alone, or none sure enough: the file is written empty
        warn(f"{labels_file}: no standoff labels, so no sentences from it")
    return rows


def _ptc_texts(rows, corpus: Path) -> list[str | None]:
    articles: dict[tuple[str, str], str | None] = {}
    texts = []
    for _, row in rows:
        key = (str(row["folder"]), str(row["doc_id"]))
        if key not in articles:
            path = corpus / key[0] / f"{key[1]}.txt"
            if ".." in key[0] or "/" in key[1] or Path(key[0]).is_absolute():
                articles[key] = None  # names stay inside the corpus folder
            else:
                try:
                    articles[key] = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError, ValueError):  # ValueError: a NUL (\u0000) in a name
                    articles[key] = None
        article = articles[key]
        ok = article is not None and row["start"] <= row["end"] <= len(article)
        texts.append(article[row["start"]:row["end"]] if ok else None)
    return texts


def _newsdiscourse_texts(rows, corpus: Path) -> list[str | None]:
    wanted = {(str(row["doc_id"]), int(row["sentence_index"])) for _, row in rows}
    found: dict[tuple[str, int], str] = {}
    for name in ("train.jsonl", "validation.jsonl"):
        path = corpus / name
        if not path.is_file():
            continue
        # A line that is not UTF-8 reads with U+FFFD, so its sentence fails its hash: the corpus differs.
        with open(path, encoding="utf-8", errors="replace") as handle:
            for raw in handle:
                try:
                    record = json.loads(raw)
                    key = (str(record["doc_id"]), int(record["sentence_index"]))
                except (ValueError, KeyError, TypeError, RecursionError):
                    continue
                if key in wanted:
                    found[key] = record.get("text")
    return [found.get((str(row["doc_id"]), int(row["sentence_index"]))) for _, row in rows]
