"""Discourse features of a sentence record (see pipeline.data.records for the records input)."""

from __future__ import annotations

import re
from numbers import Integral, Real
from typing import Iterable

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval

from pipeline.data.records import INPUT_COLUMNS, RECORDS, as_records

# Cues, each a regex over the sentence; names become feature names.
_WORDS = lambda *words: r"\b(?:" + "|".join(words) + r")\b"  # noqa: E731
CUES = {
    "quote_mark": r"[“”\"«»]|''|``|(?:^|\s)‘",
    "attribution": _WORDS(
        "said", "says", "say", "told", "tells", "warned", "warns", "added", "adds", "stated", "states",
        "announced", "claimed", "claims", "explained", "noted", "insisted", "asked", "confirmed",
        "denied", "wrote", "writes", "tweeted", "according to", "urged", "vowed", "threatened",
    ),
    "we_future": r"\b(?:we|we'll|we’ll)\s+(?:will|shall|are going to|'ll|’ll|won't|won’t)\b|\bwe['’]ll\b",
    "first_plural": _WORDS("we", "us", "our", "ours"),
    "second_person": _WORDS("you", "your", "yours", "yourself", "yourselves"),
    "hedge": _WORDS(
        "may", "might", "perhaps", "possibly", "probably", "likely", "unlikely", "appears?", "seems?",
        "suggests?", "reportedly", "allegedly", "apparently", "could",
    ),
    "modal_strong": _WORDS("must", "should", "ought to", "need to", "needs to", "have to", "has to"),
    "future": _WORDS("will", "won't", "won’t", "shall", "going to", "would"),
    "number": r"\d",
    "money_or_percent": r"[$€£¥]|\b(?:percent|per cent|million|billion|trillion)\b|%",
    "year": r"\b(?:1[89]\d\d|20\d\d)s?\b",
    "date": _WORDS(
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "yesterday",
        "today", "tonight", "january", "february", "march", "april", "june", "july", "august",
        "september", "october", "november", "december", "last (?:week|month|year)", "ago",
    ),
    "past_perfect": r"\bhad\s+(?:been|\w+ed|\w+en)\b",
    "present_perfect": r"\b(?:has|have|'ve|’ve)\s+(?:been|\w+ed|\w+en)\b",
    "past_simple": _WORDS("was", "were", "did"),
    "since_history": _WORDS("since", "previously", "earlier", "former", "formerly", "history", "decades?"),
    "evaluative": _WORDS(
        "however", "but", "although", "despite", "even", "only", "just", "clearly", "indeed",
        "critics?", "analysts?", "expected", "expects?",
    ),
    "question": r"\?",
    "exclamation": r"!",
}
_COMPILED = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in CUES.items()}
_OPEN_QUOTE, _CLOSE_QUOTE = re.compile(r"“|``|«|(?:^|\s)‘"), re.compile(r"”|''|»")
_STRAIGHT_QUOTE = re.compile(r'"')

# Position bins: which of them a sentence falls into (lede, early, ... last).
INDEX_BINS = ((0, 0), (1, 1), (2, 3), (4, 7), (8, 15), (16, 10**9))
RELATIVE_BINS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)  # index / n_sentences, in [0, 1)
LENGTH_BINS = (0, 10, 20, 30, 45, 10**9)


class DiscourseFeatures(TransformerMixin, BaseEstimator):
    """Sparse features of a sentence record: position in the article, paragraph start,
    quotation (containing one, or inside one that an earlier sentence opened), attribution
    verbs, "we will" and "you", hedges and modals, numbers and dates, tense cues, length;
    with `neighbours`, TF-IDF n-grams of the sentences before and after it.

    Takes a DataFrame with INPUT_COLUMNS (see `pipeline.data.records.sentence_frame`), or a
    list of str: bare sentences, whose position features are all zero.
    """

    input_kind = RECORDS  # models holding this transformer take sentence records
    _parameter_constraints: dict = {
        "position": ["boolean"],
        "cues": ["boolean"],
        "neighbours": ["boolean"],
        "neighbour_ngram_range": [tuple],
        "neighbour_min_df": [Interval(Integral, 1, None, closed="left")],
        "neighbour_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        position: bool = True,
        cues: bool = True,
        neighbours: bool = False,
        neighbour_ngram_range=(1, 1),
        neighbour_min_df: int = 2,
        neighbour_weight: float = 0.5,
    ):
        self.position = position
        self.cues = cues
        self.neighbours = neighbours
        self.neighbour_ngram_range = neighbour_ngram_range
        self.neighbour_min_df = neighbour_min_df
        self.neighbour_weight = neighbour_weight

    def fit(self, X, y=None):
        self._validate_params()
        frame = _check_frame(X)
        self.n_features_in_ = len(INPUT_COLUMNS)
        if self.neighbours:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self.neighbour_vectorizer_ = TfidfVectorizer(
                ngram_range=tuple(self.neighbour_ngram_range),
                min_df=self.neighbour_min_df,
                sublinear_tf=True,
            ).fit(frame["text"].tolist())
        self.fitted_ = True
        return self

    def transform(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "fitted_")
        frame = _check_frame(X)
        blocks = []
        if self.position:
            blocks.append(sparse.csr_matrix(_position_block(frame)))
        if self.cues:
            blocks.append(sparse.csr_matrix(_cue_block(frame)))
        if self.neighbours:
            before, after = _neighbour_texts(frame)
            vectorizer = self.neighbour_vectorizer_
            blocks.append(self.neighbour_weight * vectorizer.transform(before))
            blocks.append(self.neighbour_weight * vectorizer.transform(after))
        if not blocks:
            return sparse.csr_matrix((len(frame), 0), dtype=np.float64)
        return sparse.hstack(blocks, format="csr")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # sentence records or plain sentences, not numbers
        tags.input_tags.string = True
        return tags

    def get_feature_names_out(self, input_features=None):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "fitted_")
        names = []
        if self.position:
            names += _position_names()
        if self.cues:
            names += _cue_names()
        if self.neighbours:
            vocab = list(self.neighbour_vectorizer_.get_feature_names_out())
            names += [f"before:{w}" for w in vocab] + [f"after:{w}" for w in vocab]
        return np.asarray(names, dtype=object)


def _check_frame(X):
    """Sentence records (a list of str: bare sentences) with every column the features read."""
    frame = as_records(X)
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"sentence records lack column {missing[0]!r} (needed: {', '.join(INPUT_COLUMNS)})")
    return frame


def _position_names() -> list[str]:
    return (
        [f"index_{lo}-{hi}" if hi < 10**9 else f"index_{lo}+" for lo, hi in INDEX_BINS]
        + [f"relative_{lo:g}-{hi:g}" for lo, hi in zip(RELATIVE_BINS, RELATIVE_BINS[1:])]
        + ["last_sentence", "paragraph_start", "paragraph_first_of_article"]
    )


def _position_block(frame):
    index = frame["sentence_index"].to_numpy(dtype=np.int64)
    length = frame["n_sentences"].to_numpy(dtype=np.int64)
    known = index >= 0
    cols = [known & (index >= lo) & (index <= hi) for lo, hi in INDEX_BINS]
    relative = np.where(length > 0, np.minimum(index / np.maximum(length, 1), 0.999), -1.0)
    cols += [known & (length > 0) & (relative >= lo) & (relative < hi)
             for lo, hi in zip(RELATIVE_BINS, RELATIVE_BINS[1:])]
    cols.append(known & (length > 0) & (index == length - 1))
    paragraph_start, first_paragraph = _paragraph_starts(frame)
    cols += [paragraph_start, first_paragraph]
    return np.column_stack(cols).astype(np.float64)


def _paragraph_starts(frame):
    """Whether each sentence opens its paragraph (needs paragraph numbers; else all False)."""
    paragraph = frame["paragraph"].to_numpy(dtype=np.int64)
    start = np.zeros(len(frame), dtype=bool)
    for rows in _documents(frame):
        previous = None
        for row in rows:
            if paragraph[row] >= 0:
                start[row] = previous is None or paragraph[row] != previous
            previous = paragraph[row]
    return start, start & (paragraph == 0)


def _cue_names() -> list[str]:
    names = list(CUES) + ["inside_quote", "starts_with_quote", "ends_with_quote"]
    return names + [f"tokens_{lo}-{hi}" if hi < 10**9 else f"tokens_{lo}+" for lo, hi in zip(LENGTH_BINS, LENGTH_BINS[1:])]


def _cue_block(frame):
    texts = frame["text"].tolist()
    block = np.zeros((len(texts), len(_cue_names())), dtype=np.float64)
    for col, pattern in enumerate(_COMPILED.values()):
        block[:, col] = [pattern.search(t) is not None for t in texts]
    col = len(CUES)
    block[:, col] = _inside_quote(frame)
    stripped = [t.strip() for t in texts]
    block[:, col + 1] = [bool(s) and s[0] in "“\"«‘'`" for s in stripped]
    block[:, col + 2] = [bool(s) and s.rstrip(".").endswith(("”", '"', "»", "’", "''")) for s in stripped]
    tokens = np.array([len(t.split()) for t in texts])
    for i, (lo, hi) in enumerate(zip(LENGTH_BINS, LENGTH_BINS[1:])):
        block[:, col + 3 + i] = (tokens >= lo) & (tokens < hi)
    return block


def _inside_quote(frame):
    """True for a sentence that starts inside a quotation an earlier sentence opened."""
    texts = frame["text"].tolist()
    inside = np.zeros(len(texts), dtype=bool)
    for rows in _documents(frame):
        open_quote = False
        for row in rows:
            inside[row] = open_quote
            open_quote = _quote_open_after(texts[row], open_quote)
    return inside


def _quote_open_after(text: str, open_quote: bool) -> bool:
    events = [(m.start(), True) for m in _OPEN_QUOTE.finditer(text)]
    events += [(m.start(), False) for m in _CLOSE_QUOTE.finditer(text)]
    for _, opens in sorted(events):
        open_quote = opens
    for _ in _STRAIGHT_QUOTE.finditer(text):
        open_quote = not open_quote
    return open_quote


def _documents(frame) -> Iterable[list[int]]:
    """Row numbers of each document's sentences in article order (unknown order: row order)."""
    doc_ids = frame["doc_id"].to_numpy()
    index = frame["sentence_index"].to_numpy(dtype=np.int64)
    by_doc: dict = {}
    for row, doc in enumerate(doc_ids):
        by_doc.setdefault(doc, []).append(row)
    for rows in by_doc.values():
        if len(rows) > 1:
            rows.sort(key=lambda r: (index[r], r))
        yield rows


def _neighbour_texts(frame) -> tuple[list[str], list[str]]:
    """Each sentence's previous and next sentence in its document ("" at the edges)."""
    texts = frame["text"].tolist()
    index = frame["sentence_index"].to_numpy(dtype=np.int64)
    before, after = [""] * len(texts), [""] * len(texts)
    for rows in _documents(frame):
        for a, b in zip(rows, rows[1:]):
            if index[a] >= 0 and index[b] >= 0:
                before[b], after[a] = texts[a], texts[b]
    return before, after
