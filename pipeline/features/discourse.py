"""Discourse features of a sentence record (see pipeline.data.records for the records input)."""

from __future__ import annotations

import re
from numbers import Integral, Real
from operator import methodcaller
from typing import Iterable

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from pipeline.common.sklearn_rules import Interval
from pipeline.data.records import INPUT_COLUMNS, RECORDS, as_records

# Cues, each a regex over the sentence; names become feature names. The word-list cues are
# `\b(?:word|...)\b` over the words in CUE_WORDS (pipeline.features.cue_search reads those).
_WORDS = lambda *words: r"\b(?:" + "|".join(words) + r")\b"  # noqa: E731
CUE_WORDS = {
    "attribution": (
        "said", "says", "say", "told", "tells", "warned", "warns", "added", "adds", "stated", "states",
        "announced", "claimed", "claims", "explained", "noted", "insisted", "asked", "confirmed",
        "denied", "wrote", "writes", "tweeted", "according to", "urged", "vowed", "threatened",
    ),
    "first_plural": ("we", "us", "our", "ours"),
    "second_person": ("you", "your", "yours", "yourself", "yourselves"),
    "hedge": (
        "may", "might", "perhaps", "possibly", "probably", "likely", "unlikely", "appears?", "seems?",
        "suggests?", "reportedly", "allegedly", "apparently", "could",
    ),
    "modal_strong": ("must", "should", "ought to", "need to", "needs to", "have to", "has to"),
    "future": ("will", "won't", "won’t", "shall", "going to", "would"),
    "date": (
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "yesterday",
        "today", "tonight", "january", "february", "march", "april", "june", "july", "august",
        "september", "october", "november", "december", "last (?:week|month|year)", "ago",
    ),
    "past_simple": ("was", "were", "did"),
    "since_history": ("since", "previously", "earlier", "former", "formerly", "history", "decades?"),
    "evaluative": (
        "however", "but", "although", "despite", "even", "only", "just", "clearly", "indeed",
        "critics?", "analysts?", "expected", "expects?",
    ),
}
CUES = {
    "quote_mark": r"[“”\"«»]|''|``|(?:^|\s)‘",
    "attribution": _WORDS(*CUE_WORDS["attribution"]),
    "we_future": r"\b(?:we|we'll|we’ll)\s+(?:will|shall|are going to|'ll|’ll|won't|won’t)\b|\bwe['’]ll\b",
    "first_plural": _WORDS(*CUE_WORDS["first_plural"]),
    "second_person": _WORDS(*CUE_WORDS["second_person"]),
    "hedge": _WORDS(*CUE_WORDS["hedge"]),
    "modal_strong": _WORDS(*CUE_WORDS["modal_strong"]),
    "future": _WORDS(*CUE_WORDS["future"]),
    "number": r"\d",
    "money_or_percent": r"[$€£¥]|\b(?:percent|per cent|million|billion|trillion)\b|%",
    "year": r"\b(?:1[89]\d\d|20\d\d)s?\b",
    "date": _WORDS(*CUE_WORDS["date"]),
    "past_perfect": r"\bhad\s+(?:been|\w+ed|\w+en)\b",
    "present_perfect": r"\b(?:has|have|'ve|’ve)\s+(?:been|\w+ed|\w+en)\b",
    "past_simple": _WORDS(*CUE_WORDS["past_simple"]),
    "since_history": _WORDS(*CUE_WORDS["since_history"]),
    "evaluative": _WORDS(*CUE_WORDS["evaluative"]),
    "question": r"\?",
    "exclamation": r"!",
}
_COMPILED = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in CUES.items()}

# Threat frames: what a threat's content looks like beside the words that report it. Real news
# reports threats through verbs with their content in a clause ("vowed to", "warned that ...
# would"), which word n-grams see only as separate words; these conjunctions join them.
_MENACE_VERBS = (
    "threaten", "threatens", "threatened", "threatening", "vow", "vows", "vowed", "vowing", "warn",
    "warns", "warned", "warning", "pledge", "pledges", "pledged", "pledging", "promise", "promises",
    "promised",
)
FRAME_WORDS = {
    "menace": _MENACE_VERBS + (
        "threat", "threats", "warnings", "ultimatum", "ultimatums", "vengeance", "revenge", "avenge",
        "avenged", "retaliate", "retaliates", "retaliated", "retaliating", "retaliation", "retaliatory",
    ),
    # Harm, each word with its inflections and the doer nouns ("attackers", "fighters").
    "harm": (
        "kill", "kills", "killed", "killing", "killings", "killer", "killers",
        "attack", "attacks", "attacked", "attacking", "attacker", "attackers",
        "destroy", "destroys", "destroyed", "destroying", "destruction",
        "bomb", "bombs", "bombed", "bombing", "bombings", "bomber", "bombers",
        "strike", "strikes", "struck", "striking",
        "punish", "punishes", "punished", "punishing", "punishment", "punishments",
        "retaliate", "retaliates", "retaliated", "retaliating", "retaliation",
        "wipe out", "wipes out", "wiped out", "wiping out",
        "crush", "crushes", "crushed", "crushing",
        "execute", "executes", "executed", "executing", "execution", "executions",
        "behead", "beheads", "beheaded", "beheading", "beheadings",
        "arrest", "arrests", "arrested", "arresting",
        "jail", "jails", "jailed", "jailing",
        "imprison", "imprisons", "imprisoned", "imprisoning", "imprisonment",
        "prosecute", "prosecutes", "prosecuted", "prosecuting", "prosecution",
        "sanction", "sanctions", "sanctioned",
        "invade", "invades", "invaded", "invading", "invasion", "invader", "invaders",
        "annihilate", "annihilated", "annihilation", "eliminate", "eliminated", "eliminating", "elimination",
        "hunt", "hunts", "hunted", "hunting", "burn", "burns", "burned", "burnt", "burning",
        "shoot", "shoots", "shot", "shooting", "shootings", "shooter", "shooters",
        "war", "wars", "fight", "fights", "fought", "fighting", "fighter", "fighters",
        "blood", "bloody", "bloodshed", "bloodbath", "die", "dies", "died", "dying", "death", "deaths", "dead",
        "force", "forces", "military", "missile", "missiles", "nuclear",
        "crack down", "cracks down", "cracked down", "crackdown", "pay",
    ),
    "condition": ("if", "unless", "or else", "otherwise", "until"),
}
# With the "future" cue of CUES, which the frames share rather than search for twice.
FRAME_PARTS = {name: _WORDS(*words) for name, words in FRAME_WORDS.items()}
# A menace verb taking its content: "vowed to", "warned them that", "threatened on Monday to".
FRAME_PARTS["menace_clause"] = _WORDS(*_MENACE_VERBS) + r"\s+(?:\w+\s+){0,3}?(?:to|that)\b"
_FRAME_COMPILED = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in FRAME_PARTS.items()}
FRAME_NAMES = ("frame_menace_harm", "frame_conditional_harm", "frame_menace_clause",
               "frame_menace_clause_harm", "frame_future_harm")
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
    with `neighbours`, TF-IDF n-grams of the sentences before and after it; with
    `threat_frames`, threat frames (FRAME_NAMES: a menace word with a harm word, a condition
    with a future and harm, a menace verb taking a "to"/"that" clause, with harm, harm with a
    future).

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
        "threat_frames": ["boolean"],
    }
    threat_frames = False  # models saved before the option existed load without it

    def __init__(
        self,
        position: bool = True,
        cues: bool = True,
        neighbours: bool = False,
        neighbour_ngram_range=(1, 1),
        neighbour_min_df: int = 2,
        neighbour_weight: float = 0.5,
        threat_frames: bool = False,
    ):
        self.position = position
        self.cues = cues
        self.neighbours = neighbours
        self.neighbour_ngram_range = neighbour_ngram_range
        self.neighbour_min_df = neighbour_min_df
        self.neighbour_weight = neighbour_weight
        self.threat_frames = threat_frames

    def fit(self, X, y=None):
        self._validate_params()
        frame = _check_frame(X)
        self.n_features_in_ = len(INPUT_COLUMNS)
        if self.neighbours:
            self.neighbour_vectorizer_ = self._vectorizer_class()(
                ngram_range=tuple(self.neighbour_ngram_range),
                min_df=self.neighbour_min_df,
                sublinear_tf=True,
            ).fit(frame["text"].tolist())
        self.fitted_ = True
        return self

    @staticmethod
    def _vectorizer_class():
        """The TF-IDF class of the neighbours' words (the fast subclass gives the same output)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer

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
        if self.threat_frames:
            texts = frame["text"].tolist()
            parts = np.array([[regex.search(t) is not None for regex in _FRAME_COMPILED.values()] for t in texts],
                             dtype=bool).reshape(len(texts), len(FRAME_PARTS))
            future = np.array([_COMPILED["future"].search(t) is not None for t in texts], dtype=bool)
            blocks.append(sparse.csr_matrix(_frame_block(parts, future)))
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
        if self.threat_frames:
            names += list(FRAME_NAMES)
        return np.asarray(names, dtype=object)


def _frame_block(parts, future):
    """FRAME_NAMES from which FRAME_PARTS each sentence holds (a texts x parts bool array) and
    whether it holds the "future" cue."""
    menace, harm, condition, clause = parts.T
    return np.column_stack([menace & harm, condition & future & harm, clause, clause & harm,
                            harm & future]).astype(np.float64)


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
    # As _cue_block, in C loops (map) rather than a Python step per sentence.
    stripped = list(map(str.strip, texts))
    block[:, col + 1] = list(map(methodcaller("startswith", tuple("“\"«‘'`")), stripped))
    block[:, col + 2] = list(map(methodcaller("endswith", ("”", '"', "»", "’", "''")),
                                 map(methodcaller("rstrip", "."), stripped)))
    tokens = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64, count=len(texts))
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


class FastDiscourseFeatures(DiscourseFeatures):
    """DiscourseFeatures computed batch-wise: the same parameters, features and values, faster.

    Each sentence's words are counted once for the neighbour features (the previous and next
    sentence's rows are its neighbours' own rows), cues are decided per distinct word of the
    batch (pipeline.features.cue_search), and article order, paragraph starts and neighbours
    come from one sort of the batch instead of a pass per feature.
    """

    @staticmethod
    def _vectorizer_class():
        from pipeline.features.tfidf import FastTfidfVectorizer

        return FastTfidfVectorizer

    def transform(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "fitted_")
        frame = _check_frame(X)
        texts = frame["text"].tolist()
        article = _Article(frame)
        found = None  # CUES, then FRAME_PARTS: one search, each distinct word of the batch looked up once
        if self.cues or self.threat_frames:
            from pipeline.features.words import batch_words

            found = _cue_search().found(texts, batch_words(texts))
        blocks = []
        if self.position:
            blocks.append(sparse.csr_matrix(_fast_position_block(frame, article)))
        if self.cues:
            blocks.append(sparse.csr_matrix(_fast_cue_block(texts, article, found[:, :len(CUES)])))
        if self.neighbours:
            own = self.neighbour_vectorizer_.transform(texts)
            before, after = article.neighbours()
            blocks.append(self.neighbour_weight * _take_rows(own, before))
            blocks.append(self.neighbour_weight * _take_rows(own, after))
        if self.threat_frames:
            blocks.append(sparse.csr_matrix(_frame_block(found[:, len(CUES):], found[:, _FUTURE])))
        if not blocks:
            return sparse.csr_matrix((len(frame), 0), dtype=np.float64)
        return sparse.hstack(blocks, format="csr")


class _Article:
    """The batch's rows in article order (as `_documents` yields them), found with one sort."""

    def __init__(self, frame):
        first_seen: dict = {}
        codes = np.fromiter((first_seen.setdefault(d, len(first_seen)) for d in frame["doc_id"].tolist()),
                            dtype=np.int64, count=len(frame))
        self.index = frame["sentence_index"].to_numpy(dtype=np.int64)
        self.order = np.lexsort((np.arange(len(frame)), self.index, codes))
        sorted_codes = codes[self.order]
        # continues[k]: the row at position k of the order follows one of its own document
        self.continues = np.zeros(len(frame), dtype=bool)
        self.continues[1:] = sorted_codes[1:] == sorted_codes[:-1]

    def neighbours(self):
        """Row of each row's previous and next sentence (-1 at a document's edges or unknown index)."""
        before = np.full(len(self.order), -1, dtype=np.int64)
        after = np.full(len(self.order), -1, dtype=np.int64)
        k = np.flatnonzero(self.continues)
        a, b = self.order[k - 1], self.order[k]
        linked = (self.index[a] >= 0) & (self.index[b] >= 0)
        before[b[linked]], after[a[linked]] = a[linked], b[linked]
        return before, after

    def paragraph_starts(self, paragraph):
        """As `_paragraph_starts`: a known paragraph that differs from the previous row's."""
        in_order = paragraph[self.order]
        start_in_order = in_order >= 0
        start_in_order[1:] &= ~self.continues[1:] | (in_order[1:] != in_order[:-1])
        start = np.empty(len(paragraph), dtype=bool)
        start[self.order] = start_in_order
        return start, start & (paragraph == 0)

    def inside_quote(self, texts):
        """As `_inside_quote`, with `_quote_open_after` run only on texts that hold a quote character."""
        quoting = _QUOTE_CHARACTER.search
        inside = np.zeros(len(texts), dtype=bool)
        open_quote = False
        for row, continues in zip(self.order.tolist(), self.continues.tolist()):
            if not continues:
                open_quote = False
            inside[row] = open_quote
            text = texts[row]
            if quoting(text):
                open_quote = _quote_open_after(text, open_quote)
        return inside


_QUOTE_CHARACTER = re.compile("[“`«‘”'»\"]")  # texts without one leave the quotation state as it was
_CUE_SEARCH = None
_FUTURE = list(CUES).index("future")  # the column of the "future" cue in the search's answer


def _cue_search():
    global _CUE_SEARCH
    if _CUE_SEARCH is None:
        from pipeline.features.cue_search import CueSearch, discourse_rules, frame_rules

        frames = frame_rules(FRAME_PARTS, FRAME_WORDS, _MENACE_VERBS)
        _CUE_SEARCH = CueSearch({**discourse_rules(CUES, CUE_WORDS),
                                 **{f"frame:{name}": rule for name, rule in frames.items()}})
    return _CUE_SEARCH


def _fast_position_block(frame, article: _Article):
    index = article.index
    length = frame["n_sentences"].to_numpy(dtype=np.int64)
    known = index >= 0
    cols = [known & (index >= lo) & (index <= hi) for lo, hi in INDEX_BINS]
    relative = np.where(length > 0, np.minimum(index / np.maximum(length, 1), 0.999), -1.0)
    cols += [known & (length > 0) & (relative >= lo) & (relative < hi)
             for lo, hi in zip(RELATIVE_BINS, RELATIVE_BINS[1:])]
    cols.append(known & (length > 0) & (index == length - 1))
    cols += list(article.paragraph_starts(frame["paragraph"].to_numpy(dtype=np.int64)))
    return np.column_stack(cols).astype(np.float64)


def _fast_cue_block(texts, article: _Article, found):
    """The cue block from `found`, which CUES each text holds (the batch cue search's answer)."""
    block = np.zeros((len(texts), len(_cue_names())), dtype=np.float64)
    block[:, :len(CUES)] = found
    col = len(CUES)
    block[:, col] = article.inside_quote(texts)
    # As _cue_block, in C loops (map) rather than a Python step per sentence.
    stripped = list(map(str.strip, texts))
    block[:, col + 1] = list(map(methodcaller("startswith", tuple("“\"«‘'`")), stripped))
    block[:, col + 2] = list(map(methodcaller("endswith", ("”", '"', "»", "’", "''")),
                                 map(methodcaller("rstrip", "."), stripped)))
    tokens = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64, count=len(texts))
    for i, (lo, hi) in enumerate(zip(LENGTH_BINS, LENGTH_BINS[1:])):
        block[:, col + 3 + i] = (tokens >= lo) & (tokens < hi)
    return block


def _take_rows(matrix, rows):
    """Rows `rows` of a CSR matrix (an empty row for -1), entries in the same order."""
    indptr = matrix.indptr
    source = np.maximum(rows, 0)
    counts = np.where(rows >= 0, indptr[source + 1] - indptr[source], 0)
    new_indptr = np.zeros(len(rows) + 1, dtype=indptr.dtype)
    np.cumsum(counts, out=new_indptr[1:])
    positions = np.repeat(indptr[source] - new_indptr[:-1], counts) + np.arange(new_indptr[-1])
    return type(matrix)((matrix.data[positions], matrix.indices[positions], new_indptr), shape=(len(rows), matrix.shape[1]))
