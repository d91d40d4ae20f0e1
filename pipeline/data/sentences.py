"""Split article text into sentences, cutting them out of the original text by offset.

syntok segments each line on its own: a line break always ends a sentence, so a
heading such as "Via the Daily Mail:" never joins the next line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# syntok ends a sentence after these titles ("Gov. Smith"); a title never ends one.
_TITLE_AT_END = re.compile(
    r"\b(?:Gov|Lt|Gen|Sen|Rep|Col|Maj|Capt|Sgt|Cpl|Adm|Cmdr|Brig|Insp|Supt|Rev|Prof|Dr|Mr|Mrs|Ms|St)\.$"
)
_TITLE_CHARS = 6  # the longest title with its dot, and the character before it (\b)


@dataclass(frozen=True)
class Sentence:
    text: str
    index: int  # position in the article, from 0
    paragraph: int  # which non-empty line of the article it sits on, from 0
    start: int  # character offsets in the article
    end: int


def split_article(text: str) -> list[Sentence]:
    """Sentences of one article, in order, with their offsets."""
    from syntok import segmenter

    sentences: list[Sentence] = []
    offset = 0
    paragraph = -1
    for line in text.splitlines(keepends=True):
        if line.strip():
            paragraph += 1
            for start, end in _line_spans(line, segmenter):
                sentences.append(
                    Sentence(line[start:end], len(sentences), paragraph, offset + start, offset + end)
                )
        offset += len(line)
    return sentences


def split_sentences(text: str) -> list[str]:
    """Just the sentence strings of an article."""
    return [s.text for s in split_article(text)]


def _line_spans(line: str, segmenter) -> list[tuple[int, int]]:
    """(start, end) of each sentence of one line. syntok ends a sentence at "..." but not at the
    one-character ellipsis "…", which real news often writes instead: the line is segmented with
    each "…" spelled "..." and the spans are mapped back to the line as written."""
    if "…" not in line:
        return _spans(line, segmenter)
    spelled, back = [], []
    for i, char in enumerate(line):
        spelled.append("..." if char == "…" else char)
        back += [i] * len(spelled[-1])
    return [(back[start], back[end - 1] + 1) for start, end in _spans("".join(spelled), segmenter)]


def _spans(line: str, segmenter) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for para in segmenter.analyze(line):
        for tokens in para:
            start = tokens[0].offset
            end = tokens[-1].offset + len(tokens[-1].value)
            end = start + len(line[start:end].rstrip())
            start = end - len(line[start:end].lstrip())  # syntok keeps some Python spaces (\x1f)
            if start == end:
                continue
            # Only the span's end can hold the title: searching all of it was quadratic in titles per line.
            if spans and _TITLE_AT_END.search(line[max(spans[-1][0], spans[-1][1] - _TITLE_CHARS) : spans[-1][1]]):
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return _cover_skipped(line, spans)


def _cover_skipped(line: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Give characters syntok skipped (it reads U+200B as a space) to the sentence before them."""
    if not spans:
        stripped = line.strip()
        return [(line.index(stripped), line.index(stripped) + len(stripped))] if stripped else []
    head = line[: spans[0][0]]
    if head.strip():
        spans[0] = (len(head) - len(head.lstrip()), spans[0][1])
    for i, (start, end) in enumerate(spans):
        stop = spans[i + 1][0] if i + 1 < len(spans) else len(line)
        gap = line[end:stop]
        if gap.strip():
            spans[i] = (start, end + len(gap.rstrip()))
    return spans
