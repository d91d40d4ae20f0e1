"""Labeled sentences in memory: texts, labels, documents and positions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

from pipeline.common.errors import PipelineError, quote, warn


@dataclass
class Corpus:
    """Labeled sentences, each with the document it came from and its place in it."""

    texts: list[str]  # or, loaded lazily, an ArrowTexts (pipeline.data.lazy) reading them from disk
    labels: list[str]
    groups: list[str]
    files: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # sentence index within its document
    doc_lengths: list[int] = field(default_factory=list)  # sentences in its document
    places: list[str] = field(default_factory=list)  # where each sentence was read ("FILE: line N")

    def __len__(self) -> int:
        return len(self.texts)

    def inputs(self, kind: str = "text", index: Sequence[int] | None = None):
        """What a model of input `kind` takes: the texts, or sentence records with positions."""
        from pipeline.data.records import RECORDS, sentence_frame

        if kind != RECORDS and hasattr(self.texts, "take"):  # sentences on disk stay there (lazy_corpus)
            return self.texts if index is None else self.texts.take(index)
        rows = range(len(self.texts)) if index is None else index
        texts = [self.texts[i] for i in rows]
        if kind != RECORDS:
            return texts
        if len(self.positions) != len(self.texts):
            self.positions, self.doc_lengths = document_positions(self.groups)
        return sentence_frame(
            texts,
            doc_ids=[self.groups[i] for i in rows],
            indices=[self.positions[i] for i in rows],
            n_sentences=[self.doc_lengths[i] for i in rows],
        )

    @property
    def n_documents(self) -> int:
        return len(set(self.groups))

    def fingerprint(self) -> str:
        """sha256 of the sentences and their labels, in order."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels):
            digest.update(f"{label}\t{text}\n".encode("utf-8"))
        return digest.hexdigest()


def check_conflicting_labels(corpus: Corpus, places: list[str], fatal: bool = True) -> None:
    """One sentence with two labels in one document is an error (or, not fatal, a warning);
    across documents, a warning.

    A short sentence ("Snow said.") can fairly take different labels in different articles.
    """
    first: dict[tuple[str, str], int] = {}
    across: dict[str, tuple[int, int]] = {}
    seen_text: dict[str, int] = {}
    for i, (text, label, group) in enumerate(zip(corpus.texts, corpus.labels, corpus.groups)):
        key = text.strip()
        j = first.setdefault((key, group), i)
        if corpus.labels[j] != label:
            message = (
                f"{places[i]}: the same sentence is labeled {quote(label)} here and {quote(corpus.labels[j])} at "
                f"{places[j]} in the same document"
            )
            if fatal:
                raise PipelineError(message)
            warn(message)
        k = seen_text.setdefault(key, i)
        if corpus.labels[k] != label and key not in across:
            across[key] = (k, i)
    if across:
        k, i = next(iter(across.values()))
        count = "1 sentence carries" if len(across) == 1 else f"{len(across)} sentences carry"
        warn(
            f"{count} different labels in different documents (first: {places[k]} "
            f"{quote(corpus.labels[k])}, {places[i]} {quote(corpus.labels[i])})"
        )


def check_repeated_positions(texts: Sequence[str], keys: Sequence[tuple | None], places: list[str]) -> None:
    """Two different sentences at one place of one document are an error naming both lines: context
    features would read them as one position. `keys` holds each row's (document id, sentence index,
    group column name, index column name), None where the row has no index. The same sentence twice
    there is left to check_conflicting_labels (a repeat, or one sentence with two labels)."""
    first: dict[tuple, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        j = first.setdefault(key[:2], i)
        if texts[j].strip() != texts[i].strip():
            raise PipelineError(repeated_position(places[i], places[j], *key))


def repeated_position(where: str, first: str, group, index, group_column: str, index_column: str) -> str:
    """The error of two sentences at one place (worded as `pipeline.validate` words a repeated key)."""
    return (f"{where}: {group_column} {quote(group)} {index_column} {index} repeats {first} with a different "
            f"sentence (context features read {index_column} as the sentence's place in the document)")


def document_positions(
    groups: Sequence[str], indices: Sequence[int | None] | None = None
) -> tuple[list[int], list[int]]:
    """Each sentence's index in its document and the document's length.

    A given index is kept (a corpus may skip sentences: the length is then the largest
    index + 1); without one, sentences count in row order within their document.
    """
    indices = list(indices) if indices is not None else [None] * len(groups)
    seen: dict[str, int] = {}
    positions = []
    for group, index in zip(groups, indices):
        order = seen.get(group, 0)
        seen[group] = order + 1
        positions.append(order if index is None else int(index))
    length: dict[str, int] = {}
    for group, position in zip(groups, positions):
        length[group] = max(length.get(group, 0), position + 1)
    return positions, [length[g] for g in groups]
