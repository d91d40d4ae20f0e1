"""The words of one batch of sentences, cut once and shared by the features that read them.

The default model reads each batch four times: character n-grams of its whitespace-separated
pieces, word 1-2-grams, the neighbours' words (the same words again) and the cue words. All of
them can start from one cut of the lower-cased texts into pieces, numbered once per distinct
piece: a piece's word tokens (maximal runs of 2+ word characters) and its cue words never cross
whitespace, so they are found once per distinct piece and repeated where the piece repeats.
`batch_words(texts)` keeps the last batch's cut, so the next feature reading the same texts
finds it.
"""

from __future__ import annotations

import re
from itertools import accumulate, chain

import numpy as np

WORD_TOKEN = re.compile(r"\w\w+")  # scikit-learn's default token pattern, \b\w\w+\b, finds the same runs


def numbered(pieces_per_text: list[list[str]]) -> tuple[dict[str, int], list[int], list[int]]:
    """Distinct pieces numbered in order of first use, every piece's number, and where each
    text's pieces end (in C loops throughout: no Python step per text or piece)."""
    ends = list(accumulate(map(len, pieces_per_text), initial=0))
    every = list(chain.from_iterable(pieces_per_text))
    distinct = list(dict.fromkeys(every))
    ids = dict(zip(distinct, range(len(distinct))))
    return ids, list(map(ids.__getitem__, every)), ends


class BatchWords:
    """One batch of texts (str) cut into the whitespace-separated pieces of its lower-cased texts.

    `pieces`: distinct piece -> number (in order of first use); `piece_of`: every piece's
    number; `ends`: where each text's pieces end in `piece_of`.
    """

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.pieces, self.piece_of, self.ends = numbered(list(map(str.split, map(str.lower, texts))))
        self._tokens = None

    def tokens(self):
        """scikit-learn's default word tokens of the lower-cased texts, as `numbered` gives them:
        each distinct piece tokenized once. Tokens are numbered in order of first use, as
        numbering them text by text would: a token first appears in the first-used piece holding it."""
        if self._tokens is None:
            token_ids, run_of, run_ends = numbered(list(map(WORD_TOKEN.findall, self.pieces)))
            self._tokens = (token_ids, *self._spread(np.asarray(run_of, dtype=np.int64), run_ends))
        return self._tokens

    def per_text(self, piece_values: np.ndarray, combine):
        """`combine` (a ufunc such as np.bitwise_or) of the values of each text's pieces, given a
        value per distinct piece (0 for a text without pieces)."""
        out = np.zeros(len(self.texts), dtype=piece_values.dtype)
        values = piece_values[np.asarray(self.piece_of, dtype=np.int64)]
        ends = np.asarray(self.ends, dtype=np.int64)
        has = np.flatnonzero(np.diff(ends))
        if len(has):
            out[has] = combine.reduceat(values, ends[:-1][has])
        return out

    def _spread(self, values, value_ends):
        """Per-piece runs of `values` (piece k holds values[value_ends[k]:value_ends[k+1]])
        repeated for every piece of every text: the values in text order and where each text ends."""
        value_ends = np.asarray(value_ends, dtype=np.int64)
        occurrences = np.asarray(self.piece_of, dtype=np.int64)
        starts, sizes = value_ends[:-1][occurrences], np.diff(value_ends)[occurrences]
        placed = np.concatenate([[0], np.cumsum(sizes)])
        positions = np.repeat(starts - placed[:-1], sizes) + np.arange(placed[-1])
        return values[positions], placed[np.asarray(self.ends, dtype=np.int64)]


_last: tuple = (None, None)  # (the texts, their BatchWords): the last batch cut


def batch_words(texts) -> BatchWords | None:
    """The BatchWords of `texts`, reused when the same texts were the last cut (None unless
    every text is a str). Comparing is cheap: the features of one model get the same str objects."""
    global _last
    texts = texts.tolist() if hasattr(texts, "tolist") else list(texts)
    if not set(map(type, texts)) <= {str}:
        return None
    key = tuple(texts)
    last_key, last_words = _last
    if last_key is not None and last_key == key:
        return last_words
    words = BatchWords(texts)
    _last = (key, words)
    return words
