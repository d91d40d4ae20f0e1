"""Checks of labeled data files: schema, labels, duplicates, leakage, counts.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from pipeline.common.errors import PATH_CHARS, PipelineError, counted, cut, quote
from pipeline.common.labels import LABELS, label_named
from pipeline.data.records import INDEX_LIMIT

REQUIRED = ("text", "label", "doc_id", "sentence_index")
MIN_WORDS = 5  # shorter repeats are formulaic lines, not duplicates or leakage
DESCRIPTIVE = ("origin", "genre", "topic")
UNLABELED = "(unlabeled)"
NONE = "(none)"
_QUOTES = str.maketrans({**dict.fromkeys("‘’‚‛", "'"), **dict.fromkeys("“”„‟", '"')})


def sentence_key(text: str) -> str:
    """What makes two sentences "the same": case, spacing, Unicode forms and quote styles aside."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold().split())


@dataclass
class Record:
    """One labeled sentence and where it was read."""

    file: str
    line: int
    text: str
    label: str  # "" when unlabeled
    doc_id: str | None
    sentence_index: int | None
    fields: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}: line {self.line}"


@dataclass
class Report:
    files: list[str]
    records: list[Record]
    errors: list[str]
    labels: list[str]
    notes: list[str] = field(default_factory=list)  # repeats allowed, counted as such by render
    index_notes: list[str] = field(default_factory=list)  # documents whose sentence_index skips a number
    label_notes: list[str] = field(default_factory=list)  # labels read past stray spaces or capitals

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self, by: str) -> dict[str, Counter]:
        """Sentences per value of a record field (origin, genre, ...) and label."""
        table: dict[str, Counter] = defaultdict(Counter)
        for r in self.records:
            table[str(r.fields.get(by) or NONE)][r.label or UNLABELED] += 1
        return dict(sorted(table.items()))


def jsonl_files(inputs: Iterable[str | Path]) -> list[Path]:
    """The .jsonl files named, plus those inside named folders (pipeline.common.files.find_files);
    each once, in order, since a file checked twice would leak into itself."""
    from pipeline.common.files import find_files

    inputs = list(inputs)
    for item in inputs:
        if Path(item).is_file() and Path(item).suffix.lower() != ".jsonl":
            raise PipelineError(f"{cut(item, PATH_CHARS)}: not a .jsonl file (labeled sentences are JSON Lines)")
    files: dict[Path, Path] = {}
    for file in find_files(inputs, {".jsonl"}, what=".jsonl files"):
        files.setdefault(file.resolve(), file)
    return list(files.values())


def read_records(
    file: Path,
    labels: Sequence[str] | None,
    errors: list[str],
    allow_unlabeled: bool = True,
    required: Sequence[str] = REQUIRED,
    notes: list[str] | None = None,
) -> list[Record]:
    """The well-formed records of one file; each problem goes to `errors` as 'file: line N: ...'.

    `labels=None` accepts any label string; fields not in `required` may be absent. A label with
    stray spaces or capitals (" Threat ") is read as the one it names, as training reads it, and
    said in one line of `notes` per file.
    """
    from pipeline.common.jsonl import read_json_lines

    known = set(labels) if labels is not None else None
    records = []
    forgiven: list[tuple[str, str, str]] = []
    seen = 0
    for number, raw in read_json_lines(file, problems=errors):
        seen += 1
        where = f"{file}: line {number}"
        problems = []
        for name in required:
            if name not in raw:
                problems.append(f"missing field {quote(name)}")
        text, label, doc_id, index = (raw.get(name) for name in REQUIRED)
        if "text" in raw:
            if not isinstance(text, str):
                problems.append(f"'text' must be a string, got {type(text).__name__}")
            elif not text.strip():
                problems.append("empty sentence")
        if "label" in raw:
            if label is None or label == "":
                if not allow_unlabeled:
                    problems.append("missing label (empty)")
                label = ""
            elif not isinstance(label, str):
                problems.append(f"'label' must be a string, got {type(label).__name__}")
            elif known is not None and label not in known:
                named = label_named(label, labels)
                if named is None:
                    problems.append(f"unknown label {quote(label)} (expected one of: {', '.join(labels)})")
                else:
                    forgiven.append((where, label, named))
                    label = named
        if "doc_id" in raw and (not isinstance(doc_id, str) or not doc_id.strip()):
            problems.append(f"'doc_id' must be a non-empty string, got {quote(doc_id)}")
        if isinstance(index, float) and index.is_integer():  # 1.0 trains as 1 (pipeline.data.table.index_value)
            index = int(index)
        if "sentence_index" in raw and (type(index) is not int or index < 0):
            problems.append(f"'sentence_index' must be a whole number >= 0, got {quote(index)}")
        elif "sentence_index" in raw and index >= INDEX_LIMIT:  # training refuses it too
            problems.append(f"'sentence_index' is out of range, got {quote(index)}")
        for name in DESCRIPTIVE:
            if raw.get(name) is not None and not isinstance(raw[name], str):
                problems.append(f"{quote(name)} must be a string, got {type(raw[name]).__name__}")
        errors += [f"{where}: {p}" for p in problems]
        if not problems:
            extra = {k: v for k, v in raw.items() if k not in REQUIRED}
            records.append(Record(str(file), number, text, label, doc_id, index, extra))
    if not seen and not any(e.startswith(f"{file}: ") for e in errors):
        errors.append(f"{file}: empty file, no sentences")
    if forgiven and notes is not None:  # the words of training's warning (pipeline.data.source)
        where, raw, label = forgiven[0]
        more = f" (and {len(forgiven) - 1} more in this file)" if len(forgiven) > 1 else ""
        notes.append(f"{where}: label {quote(raw)} read as {quote(label)}{more}")
    return records


def standoff_format(file: Path) -> str | None:
    """"ptc" or "newsdiscourse" for a standoff labels file (records with a hash, no text), else None."""
    import json

    try:
        with open(file, encoding="utf-8-sig") as handle:
            first = next((line for line in handle if line.strip()), "")
        record = json.loads(first)
    except (OSError, ValueError, RecursionError):  # read_json_lines names the line
        return None
    if not isinstance(record, dict) or "text" in record or "sha256" not in record:
        return None
    return "ptc" if "start" in record else "newsdiscourse"


def default_corpus_dir(fmt: str) -> Path:
    """Where configs/paths/default.yaml looks for a corpus: $PIPELINE_SHARED_DIR or ../shared beside the repo."""
    import os

    shared = os.environ.get("PIPELINE_SHARED_DIR") or Path(__file__).resolve().parents[2] / ".." / "shared"
    return Path(shared) / "corpora" / fmt


def read_standoff_records(file: Path, labels: Sequence[str], errors: list[str], notes: list[str]) -> list[Record]:
    """The sentences of a standoff labels file, rebuilt from the corpus when it is present; otherwise
    only the labels file is checked (its texts cannot be)."""
    from pipeline.data.standoff import StandoffSet, read_labels

    fmt = standoff_format(file)
    corpus = default_corpus_dir(fmt)
    try:
        if not corpus.is_dir():
            rows = read_labels(file, fmt)
            notes.append(f"{file}: {len(rows)} {fmt} standoff labels; their texts are not checked "
                         f"(no corpus at {corpus}; set PIPELINE_SHARED_DIR)")
            errors += [f"{file}: line {line}: unknown label {row['label']!r}" for line, row in rows
                       if row["label"] not in labels]
            return []
        rebuilt = StandoffSet(str(file), str(corpus), fmt).read()
    except PipelineError as exc:
        errors.append(str(exc))
        return []
    errors += [f"{file}: line {r.line}: unknown label {r.label!r}" for r in rebuilt if r.label not in labels]
    return [Record(str(file), r.line, r.text, r.label, r.doc_id, r.sentence_index, {"origin": fmt})
            for r in rebuilt if r.label in labels]


def validate(
    inputs: Iterable[str | Path],
    labels: Sequence[str] = LABELS,
    allow_unlabeled: bool = False,
    min_words: int = MIN_WORDS,
) -> Report:
    """Read every file and check each record and the records against each other.

    Repeats of sentences shorter than `min_words` words are notes, not errors.
    """
    files = jsonl_files(inputs)
    errors: list[str] = []
    records: list[Record] = []
    notes: list[str] = []
    index_notes: list[str] = []
    label_notes: list[str] = []
    for file in files:
        if standoff_format(file):
            records += read_standoff_records(file, labels, errors, notes)
        else:
            read = read_records(file, labels, errors, allow_unlabeled, notes=label_notes)
            index_notes += index_gaps(read)
            records += read
    errors += cross_check(records, notes, min_words)
    return Report([str(f) for f in files], records, errors, list(labels), notes, index_notes, label_notes)


def index_gaps(records: Sequence[Record]) -> list[str]:
    """A note per document whose sentence_index values do not run 0, 1, 2, ...: a corpus may skip
    sentences on purpose (NewsDiscourse does), but context features read the values as positions."""
    by_doc: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_doc[r.doc_id].append(r)
    notes = []
    for doc_id, rs in by_doc.items():
        present = {r.sentence_index for r in rs}
        missing = next(i for i in range(len(present) + 1) if i not in present)
        if missing < max(present):
            after = min((r for r in rs if r.sentence_index > missing), key=lambda r: (r.sentence_index, r.line))
            notes.append(f"{after.where}: doc_id {quote(doc_id)} has no sentence_index {missing} "
                         f"(next: {after.sentence_index}); context features read sentence_index as the position "
                         "in the article")
    return notes


def cross_check(records: Sequence[Record], notes: list[str] | None = None, min_words: int = MIN_WORDS) -> list[str]:
    """Repeated keys, duplicates, conflicting labels and leakage between files.

    Formulaic lines ("Via the Daily Mail:", "You have been warned.") recur across real articles;
    a repeat shorter than `min_words` words goes to `notes` unless its labels conflict. Real web
    articles (standoff records) repeat sign-up boxes, tweets and quotes, and a sentence's label
    depends on its article: their repeats are notes too, unless one article labels them twice.
    """
    errors = []
    first_key: dict[tuple[str, int], Record] = {}
    first_text: dict[str, Record] = {}
    doc_file: dict[str, Record] = {}
    split_docs: set[tuple[str, str]] = set()
    for r in records:
        key = (r.doc_id, r.sentence_index)
        if key in first_key:
            errors.append(
                f"{r.where}: doc_id {quote(r.doc_id)} sentence_index {r.sentence_index} repeats {first_key[key].where}"
            )
        else:
            first_key[key] = r
        home = doc_file.setdefault(r.doc_id, r)
        if home.file != r.file and (r.doc_id, r.file) not in split_docs:
            split_docs.add((r.doc_id, r.file))
            errors.append(
                f"{r.where}: doc_id {quote(r.doc_id)} is also in {home.where} "
                "(leakage: one document split across files)"
            )
        text = sentence_key(r.text)
        other = first_text.setdefault(text, r)
        if other is r:
            continue
        if _real(r) and _real(other) and (r.doc_id != other.doc_id or r.label == other.label):
            if notes is not None:
                notes.append(f"{r.where}: real article repeats a sentence of {other.where} ({other.doc_id})")
            continue
        if r.label and other.label and r.label != other.label:
            errors.append(
                f"{r.where}: conflicting labels: {quote(r.label)} here, {quote(other.label)} for the same sentence at "
                f"{other.where}"
            )
        elif len(text.split()) < min_words:
            if notes is not None:
                notes.append(f"{r.where}: short sentence also at {other.where} (under {min_words} words: allowed)")
        elif other.file != r.file:
            errors.append(f"{r.where}: sentence also in {other.where} (leakage between files)")
        else:
            errors.append(f"{r.where}: duplicate sentence (first at line {other.line})")
    return errors


def _real(record: Record) -> bool:
    from pipeline.data.standoff import FORMATS

    return record.fields.get("origin") in FORMATS


def render(report: Report, by: Sequence[str] = ("origin",)) -> str:
    """The readable summary: files, counts per label, counts per origin (or other fields)."""
    records = report.records
    lines = [
        f"{counted(len(report.files), 'file')}, {counted(len(records), 'sentence')}, "
        f"{counted(len({r.doc_id for r in records}), 'document')}",
        "",
    ]
    labels = list(report.labels) + ([UNLABELED] if any(not r.label for r in records) else [])
    label_counts = Counter(r.label or UNLABELED for r in records)
    total = max(len(records), 1)
    rows = [[label, str(label_counts[label]), f"{100 * label_counts[label] / total:.1f}%"] for label in labels]
    lines += text_table(["label", "sentences", "share"], rows) + [""]
    for name in by:
        table = report.counts(name)
        docs: dict[str, set] = defaultdict(set)
        for r in records:
            docs[str(r.fields.get(name) or NONE)].add(r.doc_id)
        rows = [
            [value, str(sum(c.values())), str(len(docs[value]))] + [str(c[label]) for label in labels]
            for value, c in table.items()
        ]
        lines += text_table([name, "sentences", "documents", *labels], rows) + [""]
    if report.notes:
        lines.append(f"{counted(len(report.notes), 'repeated sentence')} allowed (short lines, or real articles "
                     "repeating boilerplate and quotes; listed on stderr)")
    if report.index_notes:
        lines.append(f"{counted(len(report.index_notes), 'document')} with a gap in sentence_index (listed on stderr)")
    if report.ok:
        lines.append("OK: no problems found")
    else:
        lines.append(f"{counted(len(report.errors), 'problem')} (listed on stderr)")
    return "\n".join(lines) + "\n"


def text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header), line(["-" * w for w in widths])] + [line(row) for row in rows]
