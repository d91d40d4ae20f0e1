"""scikit-learn's TfidfVectorizer, analysing each distinct word of a batch once.

A batch of news sentences repeats its words: 10,000 sentences hold about 250,000 words but a
few times fewer distinct ones. scikit-learn cuts every word occurrence into its character
n-grams and looks each n-gram up in the vocabulary, one Python step per n-gram, and joins
every pair of words into a string to look bigrams up. `FastTfidfVectorizer` numbers the
distinct words of a batch, cuts each once and counts the sentences' n-grams with one sparse
product (sentences x words times words x n-grams); when scoring, n-grams and word pairs are
looked up as integer keys in sorted arrays built from the vocabulary, so no Python step runs
per n-gram or per pair. The vocabulary, idf and every output value are scikit-learn's: only
the counting (`_count_vocab`, shared by fit and transform) is replaced, and only for the
analyzers it knows (`char_wb`, and `word` with n-grams up to 2); anything else is counted by
scikit-learn itself.
"""

from __future__ import annotations

import weakref
from itertools import repeat

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_TWO_OR_MORE = r"\w\w+"  # the same tokens as the default pattern (maximal runs of 2+), found faster


class FastTfidfVectorizer(TfidfVectorizer):
    """A TfidfVectorizer (same parameters, fitted state and output) that counts faster.

    Fitted models keep the vocabulary in `vocabulary_` like scikit-learn's, so model.skops
    stores it compactly (pipeline.artifacts.skops_state) and explanations read it. The lookup
    tables built from it for scoring live outside the object and are never saved.
    """

    def _count_vocab(self, raw_documents, fixed_vocab):
        if callable(self.analyzer) or self.analyzer not in ("char_wb", "word"):
            return super()._count_vocab(raw_documents, fixed_vocab)
        if self.analyzer == "word" and self.ngram_range[1] > 2:
            return super()._count_vocab(raw_documents, fixed_vocab)
        if isinstance(raw_documents, str):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        self.build_analyzer()  # scikit-learn's checks and warnings (stop words, analyzer name)
        vocabulary = self.vocabulary_ if fixed_vocab else _GrowingVocabulary()
        if self.analyzer == "char_wb":
            X = _count_char_wb(self, raw_documents, vocabulary, fixed_vocab)
        else:
            X = _count_words(self, raw_documents, vocabulary, fixed_vocab)
        if not fixed_vocab:
            vocabulary = dict(vocabulary)
            if not vocabulary:
                raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        return vocabulary, _as_sklearn_counts(X, len(vocabulary), self.dtype)


class _GrowingVocabulary(dict):
    """term -> column, a new term taking the next column (scikit-learn's fitting vocabulary)."""

    def __missing__(self, term):
        column = self[term] = len(self)
        return column


# ---------------------------------------------------------------- documents and tokens
def _prepare(vectorizer):
    """The function scikit-learn's analyzer applies to a document before cutting it."""
    decode, preprocess = vectorizer.decode, vectorizer.build_preprocessor()
    plain = (vectorizer.input == "content" and vectorizer.preprocessor is None
             and not vectorizer.strip_accents)
    if plain and vectorizer.lowercase:
        return lambda doc: doc.lower() if type(doc) is str else preprocess(decode(doc))
    if plain:
        return lambda doc: doc if type(doc) is str else preprocess(decode(doc))
    return lambda doc: preprocess(decode(doc))


def _tokens(raw_documents, prepare, split) -> tuple[dict[str, int], list[int], list[int]]:
    """Distinct tokens numbered in order of first use, every token's number, and where each
    document's tokens end (in C loops: dict.fromkeys and map, not a Python step per token)."""
    every: list[str] = []
    ends = [0]
    for doc in raw_documents:
        every.extend(split(prepare(doc)))
        ends.append(len(every))
    ids = dict.fromkeys(every)
    for number, token in enumerate(ids):
        ids[token] = number
    return ids, list(map(ids.__getitem__, every)), ends


def _word_tokenizer(vectorizer):
    """scikit-learn's tokenizer with its stop words removed."""
    import re

    if vectorizer.tokenizer is None and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN:
        tokenize = re.compile(_TWO_OR_MORE).findall
    else:
        tokenize = vectorizer.build_tokenizer()
    stop_words = vectorizer.get_stop_words()
    if stop_words is None:
        return tokenize
    return lambda doc: [t for t in tokenize(doc) if t not in stop_words]


# ---------------------------------------------------------------- lookup tables (scoring)
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _table(vectorizer, build):
    """`build(vectorizer)` for the vectorizer's current vocabulary, built once per process."""
    vocabulary = vectorizer.vocabulary_
    entry = _TABLES.get(vectorizer)
    if entry is None or entry[0] is not vocabulary:
        entry = (vocabulary, build(vectorizer))
        _TABLES[vectorizer] = entry
    return entry[1]


def _lookup(sorted_keys, sorted_columns, keys):
    """Column of each key in a sorted key table, -1 where absent."""
    if not len(sorted_keys):
        return np.full(len(keys), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[at] == keys, sorted_columns[at], -1)


def _codepoints(text: str):
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _CharKeys:
    """Each character n-gram of the vocabulary as one int64: its characters' numbers in the
    vocabulary's alphabet (1..A, 0 for a character no term holds), `bits` bits each."""

    def __init__(self, vectorizer):
        terms = list(vectorizer.vocabulary_)
        joined = "".join(terms)
        alphabet = sorted(set(joined))
        self.bits = max(1, len(alphabet).bit_length())
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        self.usable = bool(len(terms)) and lengths.min() > 0 and lengths.max() * self.bits <= 63
        if not self.usable:
            return
        codes = _codepoints("".join(alphabet)).astype(np.int64)
        self.letters = np.zeros(int(codes.max()) + 1, dtype=np.int64)
        self.letters[codes] = np.arange(1, len(codes) + 1)
        letters = self.letters[_codepoints(joined)]
        starts = np.cumsum(lengths) - lengths
        place = np.arange(len(letters)) - np.repeat(starts, lengths)
        keys = np.add.reduceat(letters << (self.bits * place), starts)
        columns = np.fromiter(vectorizer.vocabulary_.values(), dtype=np.int64, count=len(terms))
        order = np.argsort(keys)
        self.keys, self.columns = keys[order], columns[order]

    def letters_of(self, text: str):
        points = _codepoints(text).astype(np.int64)
        inside = points < len(self.letters)
        return np.where(inside, self.letters[np.where(inside, points, 0)], 0)


class _WordKeys:
    """Vocabulary terms as numbers: each token of a term numbered, a unigram's column by token,
    and bigrams as sorted int64 keys (first token x number of tokens + second token)."""

    def __init__(self, vectorizer):
        tokens: dict[str, int] = {}
        unigrams, pairs, pair_columns = {}, [], []
        for term, column in vectorizer.vocabulary_.items():
            parts = term.split(" ")
            if len(parts) == 1:
                unigrams[tokens.setdefault(term, len(tokens))] = column
            elif len(parts) == 2 and parts[0] and parts[1]:
                pairs.append((tokens.setdefault(parts[0], len(tokens)), tokens.setdefault(parts[1], len(tokens))))
                pair_columns.append(column)
            # any other term is never a word 1- or 2-gram of tokens without spaces
        self.tokens = tokens
        self.unigram_columns = np.full(len(tokens), -1, dtype=np.int64)
        self.unigram_columns[list(unigrams)] = list(unigrams.values())
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        keys = pairs[:, 0] * len(tokens) + pairs[:, 1]
        order = np.argsort(keys)
        self.keys, self.columns = keys[order], np.asarray(pair_columns, dtype=np.int64)[order]


# ---------------------------------------------------------------- char_wb
def _count_char_wb(vectorizer, raw_documents, vocabulary, fixed: bool):
    """Counts (documents x vocabulary) as documents x distinct words times words x n-grams."""
    word_ids, flat, indptr = _tokens(raw_documents, _prepare(vectorizer), str.split)
    words = list(word_ids)
    keys = _table(vectorizer, _CharKeys) if fixed else None
    if keys is not None and keys.usable and vectorizer.ngram_range[1] * keys.bits <= 63:
        owners, columns = _char_wb_columns_by_key(words, *vectorizer.ngram_range, keys)
    else:
        owners, columns = _char_wb_columns(words, *vectorizer.ngram_range, vocabulary, fixed)
    keep = columns >= 0
    # (n-grams x words) @ (words x documents), turned around: its CSR conversion sorts the columns
    # of each document in one pass, cheaper than sorting the product.
    by_gram = sparse.csr_array((np.ones(int(keep.sum()), dtype=np.int64), (columns[keep], owners[keep])),
                               shape=(len(vocabulary), len(words)))
    by_document = sparse.csc_array(
        (np.ones(len(flat), dtype=np.int64), np.asarray(flat, dtype=np.int64), np.asarray(indptr)),
        shape=(len(words), len(indptr) - 1))
    return (by_gram @ by_document.tocsr()).T.tocsr()


def _char_wb_grams(words: list[str], min_n: int, max_n: int):
    """scikit-learn's char_wb n-grams of each word: the n-grams, their word, n and offset.

    A padded word (" word ") of length L gives all its n-grams for n < L, and itself once for
    the first n >= L (scikit-learn counts a short word once).
    """
    padded = [" " + word + " " for word in words]
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    grams: list[str] = []
    owners, sizes, offsets = [], [], []
    for n in range(min_n, max_n + 1):
        grams.extend([p[i:i + n] for p in padded for i in range(len(p) - n + 1)])
        counts = np.maximum(lengths - n + 1, 0)
        owner = np.repeat(np.arange(len(padded)), counts)
        owners.append(owner)
        sizes.append(np.full(len(owner), n))
        offsets.append(np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts))
    short = np.flatnonzero(lengths < min_n)  # shorter than every n: counted once, whole
    grams.extend([padded[k] for k in short.tolist()])
    owners.append(short)
    sizes.append(np.full(len(short), min_n))
    offsets.append(np.zeros(len(short), dtype=np.int64))
    return grams, np.concatenate(owners), np.concatenate(sizes), np.concatenate(offsets)


def _char_wb_columns(words, min_n, max_n, vocabulary, fixed: bool):
    """(word, column) of each n-gram of each word, by looking n-gram strings up (-1: unknown)."""
    grams, owners, sizes, offsets = _char_wb_grams(words, min_n, max_n)
    if fixed:
        return owners, np.fromiter(map(vocabulary.get, grams, repeat(-1)), dtype=np.int64, count=len(grams))
    # scikit-learn numbers new n-grams as it meets them: word by word, then by n and offset.
    order = np.lexsort((offsets, sizes, owners))
    columns = np.empty(len(grams), dtype=np.int64)
    columns[order] = list(map(vocabulary.__getitem__, [grams[i] for i in order.tolist()]))
    return owners, columns


def _char_wb_columns_by_key(words, min_n, max_n, table: _CharKeys):
    """(word, column) of each n-gram of each word, computed as integer keys in numpy."""
    padded = " " + "  ".join(words) + " " if words else ""
    letters = table.letters_of(padded)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2
    starts = np.cumsum(lengths) - lengths
    owner_of = np.repeat(np.arange(len(words)), lengths)
    left = np.repeat(starts + lengths, lengths) - np.arange(len(letters))  # characters to the word's end
    key = np.zeros(len(letters), dtype=np.int64)
    unknown = np.zeros(len(letters), dtype=bool)
    owners, columns = [], []
    for n in range(1, max_n + 1):
        shifted = np.zeros(len(letters), dtype=np.int64)
        shifted[:len(letters) - n + 1] = letters[n - 1:]
        key += shifted << (table.bits * (n - 1))
        unknown |= shifted == 0
        if n < min_n:
            continue
        at = np.flatnonzero(left >= n)
        known = at[~unknown[at]]
        owners.append(owner_of[known])
        columns.append(_lookup(table.keys, table.columns, key[known]))
        if n == min_n:  # words shorter than min_n count once, whole
            short = starts[lengths < min_n]
            whole = _whole_word_keys(letters, short, lengths[lengths < min_n], table.bits)
            owners.append(owner_of[short])
            columns.append(_lookup(table.keys, table.columns, whole))
    if not owners:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(owners), np.concatenate(columns)


def _whole_word_keys(letters, starts, lengths, bits):
    """Keys of whole padded words (-1 when a letter is outside the vocabulary's alphabet)."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    place = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    chars = letters[np.repeat(starts, lengths) + place]
    firsts = np.cumsum(lengths) - lengths
    keys = np.add.reduceat(chars << (bits * place), firsts)
    return np.where(np.minimum.reduceat(chars, firsts) > 0, keys, -1)


# ---------------------------------------------------------------- word 1- and 2-grams
def _count_words(vectorizer, raw_documents, vocabulary, fixed: bool):
    """Counts of word 1- and 2-grams: each distinct token and each distinct pair looked up once."""
    token_ids, flat, indptr = _tokens(raw_documents, _prepare(vectorizer), _word_tokenizer(vectorizer))
    min_n, max_n = vectorizer.ngram_range
    n_docs, tokens = len(indptr) - 1, list(token_ids)
    flat_ids = np.asarray(flat, dtype=np.int64)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(np.asarray(indptr, dtype=np.int64)))
    starts = np.flatnonzero(doc_of[1:] == doc_of[:-1]) if min_n <= 2 <= max_n else np.zeros(0, dtype=np.int64)
    simple = vectorizer.tokenizer is None and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN
    if fixed and simple:
        rows, cols = _word_columns_by_key(vectorizer, tokens, flat_ids, doc_of, starts, min_n)
    else:
        rows, cols = _word_columns(tokens, flat_ids, doc_of, starts, np.asarray(indptr), min_n, vocabulary, fixed)
    if not rows:
        return sparse.csr_array((n_docs, len(vocabulary)), dtype=np.int64)
    row, col = np.concatenate(rows), np.concatenate(cols)
    keep = col >= 0
    return sparse.csr_array((np.ones(int(keep.sum()), dtype=np.int64), (row[keep], col[keep])),
                            shape=(n_docs, len(vocabulary)))


def _word_columns_by_key(vectorizer, tokens, flat_ids, doc_of, starts, min_n):
    """(document, column) of every unigram and bigram occurrence, looked up as integer keys."""
    table = _table(vectorizer, _WordKeys)
    known = np.fromiter(map(table.tokens.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
    ids = known[flat_ids] if len(flat_ids) else np.zeros(0, dtype=np.int64)
    rows, cols = [], []
    if min_n <= 1:
        rows.append(doc_of)
        cols.append(np.where(ids >= 0, table.unigram_columns[np.maximum(ids, 0)], -1))
    if len(starts):
        a, b = ids[starts], ids[starts + 1]
        both = (a >= 0) & (b >= 0)
        rows.append(doc_of[starts[both]])
        cols.append(_lookup(table.keys, table.columns, a[both] * len(table.tokens) + b[both]))
    return rows, cols


def _word_columns(tokens, flat_ids, doc_of, starts, indptr, min_n, vocabulary, fixed: bool):
    """(document, column) of every unigram and bigram occurrence, by looking strings up; a
    growing vocabulary numbers new terms in the order scikit-learn meets them (per document
    its unigrams, then its bigrams)."""
    kinds = []  # (terms, first document, kind, first position, each occurrence's term, its document)
    if min_n <= 1:
        first = np.unique(flat_ids, return_index=True)[1]  # token ids count up in order of first use
        kinds.append((tokens, doc_of[first], 0, first, flat_ids, doc_of))
    if len(starts):
        keys = flat_ids[starts] * len(tokens) + flat_ids[starts + 1]
        distinct, first_pair, pair_of = np.unique(keys, return_index=True, return_inverse=True)
        left, right = (distinct // len(tokens)).tolist(), (distinct % len(tokens)).tolist()
        pairs = [tokens[a] + " " + tokens[b] for a, b in zip(left, right)]
        first = starts[first_pair]
        kinds.append((pairs, doc_of[first], 1, first, pair_of.reshape(-1), doc_of[starts]))
    terms = [term for kind in kinds for term in kind[0]]
    if fixed:
        columns = np.fromiter(map(vocabulary.get, terms, repeat(-1)), dtype=np.int64, count=len(terms))
    else:
        documents = np.concatenate([kind[1] for kind in kinds]) if kinds else np.zeros(0, dtype=np.int64)
        kind_of = np.concatenate([np.full(len(kind[0]), kind[2]) for kind in kinds]) if kinds else documents
        positions = np.concatenate([kind[3] for kind in kinds]) if kinds else documents
        order = np.lexsort((positions, kind_of, documents))
        columns = np.empty(len(terms), dtype=np.int64)
        columns[order] = list(map(vocabulary.__getitem__, [terms[i] for i in order.tolist()]))
    rows, cols, offset = [], [], 0
    for names, _, _, _, occurrences, occurrence_docs in kinds:
        rows.append(occurrence_docs)
        cols.append(columns[offset:offset + len(names)][occurrences])
        offset += len(names)
    return rows, cols


def _as_sklearn_counts(X, n_terms: int, dtype):
    """Counts in the form scikit-learn's `_count_vocab` returns: csr_array, int32 indices
    (int64 past 2**31 entries), sorted columns, no duplicates, in the vectorizer's dtype."""
    from sklearn.utils._sparse import _align_api_if_sparse

    X = sparse.csr_array(X)
    X.sum_duplicates()
    index_dtype = np.int64 if X.nnz > np.iinfo(np.int32).max else np.int32
    X = sparse.csr_array(
        (X.data.astype(dtype), X.indices.astype(index_dtype), X.indptr.astype(index_dtype)),
        shape=(X.shape[0], n_terms), dtype=dtype)
    X.sort_indices()
    return _align_api_if_sparse(X)
