"""scikit-learn's TfidfVectorizer, analysing each distinct word of a batch once.

A batch of news sentences repeats its words: 10,000 sentences hold about 250,000 words but a
few times fewer distinct ones. scikit-learn cuts every word occurrence into its character
n-grams and looks each n-gram up in the vocabulary, one Python step per n-gram, and joins
every pair of words into a string to look bigrams up. `FastTfidfVectorizer` numbers the
distinct words of a batch, cuts each once and counts the sentences' n-grams with one sparse
product (words x n-grams, summed per sentence). Character n-grams become integer keys (each
character's number in an alphabet, a few bits each) computed in numpy, so fitting finds the
distinct n-grams with one sort, and scoring looks n-grams and word pairs up in hash
tables built from the vocabulary once enough lookups have paid for them.

The vocabulary, idf and every output value are scikit-learn's: only the counting
(`_count_vocab`, shared by fit and transform) and the vocabulary's sorting and pruning are
replaced, and the counting only for the analyzers known here (`char_wb`, and `word` with
n-grams up to 2); anything else runs scikit-learn's own code.
"""

from __future__ import annotations

import weakref
from itertools import chain, compress, repeat

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.features.typography import plain, plain_lowercase
from pipeline.features.words import WORD_TOKEN, batch_words, numbered

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# How scikit-learn's vectorizers (and this one) begin the ValueError of a fit whose min_df and max_df
# leave no term: pipeline.training.setup.pruning_error names the config keys instead.
PRUNING_ERRORS = ("max_df corresponds to < documents than min_df", "After pruning, no terms remain")


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

    def get_feature_names_out(self, input_features=None):
        """scikit-learn's: the terms in column order (placed by column, not sorted by it)."""
        self._check_vocabulary()
        columns = np.fromiter(self.vocabulary_.values(), dtype=np.int64, count=len(self.vocabulary_))
        names = np.empty(len(columns), dtype=object)
        names[columns] = list(self.vocabulary_)
        return names

    def _sort_features(self, X, vocabulary):
        """scikit-learn's: terms numbered in sorted order, X's columns renumbered (a C loop, not
        a Python step per term)."""
        terms = list(vocabulary)
        old = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(terms))
        rank = np.empty(len(terms), dtype=np.int64)  # each term's place in sorted order
        rank[sorted(range(len(terms)), key=terms.__getitem__)] = np.arange(len(terms))
        renumber = np.empty(len(terms), dtype=X.indices.dtype)
        renumber[old] = rank
        vocabulary.update(zip(terms, rank.tolist()))  # in the dict's own order: twice as fast
        X.indices = renumber.take(X.indices, mode="clip")
        return X

    def _limit_features(self, X, vocabulary, high=None, low=None, limit=None):
        """scikit-learn's pruning by document frequency (max_features: scikit-learn's own code)."""
        if limit is not None or (high is None and low is None) or X.format != "csr":
            return super()._limit_features(X, vocabulary, high, low, limit)
        frequency = np.bincount(X.indices, minlength=X.shape[1])
        keep = np.ones(len(frequency), dtype=bool)
        if high is not None:
            keep &= frequency <= high
        if low is not None:
            keep &= frequency >= low
        if keep.all():
            # Every term stays in its column: scikit-learn would only turn the columns into numpy
            # integers, which _sort_features, called next without max_features, numbers anew.
            return X
        renumber = np.cumsum(keep) - 1
        terms = list(vocabulary)
        old = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(terms))
        kept = keep[old]
        vocabulary.clear()  # refilled in the same order, with numpy integers as scikit-learn leaves them
        vocabulary.update(zip(compress(terms, kept), renumber[old[kept]]))
        if not vocabulary:
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        return X[:, np.flatnonzero(keep)]


class _GrowingVocabulary(dict):
    """term -> column, a new term taking the next column (scikit-learn's fitting vocabulary)."""

    def __missing__(self, term):
        column = self[term] = len(self)
        return column


# ---------------------------------------------------------------- documents and tokens
def _prepared(vectorizer, raw_documents) -> list[str]:
    """The documents as scikit-learn's analyzer has them before cutting: decoded, preprocessed."""
    docs = raw_documents.tolist() if hasattr(raw_documents, "tolist") else list(raw_documents)
    plain = (vectorizer.input == "content" and vectorizer.preprocessor is None
             and not vectorizer.strip_accents)
    if plain and set(map(type, docs)) <= {str}:
        return list(map(str.lower, docs)) if vectorizer.lowercase else docs
    decode, preprocess = vectorizer.decode, vectorizer.build_preprocessor()
    return [preprocess(decode(doc)) for doc in docs]


def _tokens(docs: list[str], split) -> tuple[dict[str, int], list[int], list[int]]:
    """Distinct tokens numbered in order of first use, every token's number, and where each
    document's tokens end."""
    return numbered(list(map(split, docs)))


def _plain_lowercase(vectorizer) -> bool:
    """Whether the vectorizer's analyzer only lower-cases str documents before cutting them (or
    lower-cases them with plain typography: pipeline.features.typography.plain_lowercase, which
    maps punctuation to punctuation, so the same cut serves once each piece is mapped)."""
    if vectorizer.input != "content" or vectorizer.strip_accents:
        return False
    return (vectorizer.preprocessor is None and vectorizer.lowercase) or _plain_typography(vectorizer)


def _plain_typography(vectorizer) -> bool:
    return vectorizer.preprocessor is plain_lowercase


def _word_tokenizer(vectorizer):
    """scikit-learn's tokenizer with its stop words removed."""
    if vectorizer.tokenizer is None and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN:
        tokenize = WORD_TOKEN.findall
    else:
        tokenize = vectorizer.build_tokenizer()
    stop_words = vectorizer.get_stop_words()
    if stop_words is None:
        return tokenize
    return lambda doc: [t for t in tokenize(doc) if t not in stop_words]


def _word_tokens(vectorizer, raw_documents):
    """`_tokens` of the word analyzer; with the default analysis, from the batch's shared cut
    (pipeline.features.words), which FastDiscourseFeatures' neighbour words read again."""
    default = (vectorizer.tokenizer is None and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN
               and vectorizer.get_stop_words() is None and _plain_lowercase(vectorizer))
    words = batch_words(raw_documents) if default else None
    if words is not None:
        return words.tokens()
    return _tokens(_prepared(vectorizer, raw_documents), _word_tokenizer(vectorizer))


# ---------------------------------------------------------------- character n-grams as integer keys
def _codepoints(text: str):
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)


class _Alphabet:
    """Characters numbered 1..A (0: a character outside the alphabet), `bits` bits each, so an
    n-gram of up to 63 // bits characters is one int64 key."""

    def __init__(self, characters: str):
        codes = np.unique(_codepoints(characters))
        self.bits = max(1, len(codes).bit_length())
        self.number = np.zeros(int(codes.max()) + 1 if len(codes) else 1, dtype=np.int64)
        self.number[codes] = np.arange(1, len(codes) + 1)

    def letters(self, text: str):
        points = _codepoints(text)
        inside = points < len(self.number)
        return np.where(inside, self.number[np.where(inside, points, 0)], 0)


def _gram_keys(words: list[str], min_n: int, max_n: int, alphabet: _Alphabet):
    """scikit-learn's char_wb n-grams of each word as keys: " word1  word2 ...", and per n-gram
    its word, n, offset in the padded word and key (-1: a character outside the alphabet).

    A padded word (" word ") of length L gives all its n-grams for n < L, and itself once for
    the first n >= L (scikit-learn counts a short word once).
    """
    padded = " " + "  ".join(words) + " " if words else ""
    letters = alphabet.letters(padded)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2
    starts = np.cumsum(lengths) - lengths
    owner_of = np.repeat(np.arange(len(words)), lengths)
    left = np.repeat(starts + lengths, lengths) - np.arange(len(letters))  # characters to the word's end
    key = np.zeros(len(letters), dtype=np.int64)
    unknown = np.zeros(len(letters), dtype=bool)
    parts = []
    for n in range(1, max_n + 1):
        shifted = np.zeros(len(letters), dtype=np.int64)  # the letter n - 1 places further on
        shifted[:max(len(letters) - n + 1, 0)] = letters[n - 1:]
        key += shifted << (alphabet.bits * (n - 1))
        unknown |= shifted == 0
        if n >= min_n:
            at = np.flatnonzero(left >= n)
            parts.append((owner_of[at], np.full(len(at), n), at, np.where(unknown[at], -1, key[at])))
    short = np.flatnonzero(lengths < min_n)  # shorter than every n: counted once, whole
    if len(short):
        places = np.arange(int(lengths[short].sum())) - np.repeat(np.cumsum(lengths[short]) - lengths[short],
                                                                  lengths[short])
        chars = letters[np.repeat(starts[short], lengths[short]) + places]
        firsts = np.cumsum(lengths[short]) - lengths[short]
        whole = np.add.reduceat(chars << (alphabet.bits * places), firsts)
        whole = np.where(np.minimum.reduceat(chars, firsts) > 0, whole, -1)
        parts.append((short, lengths[short], starts[short], whole))
    owners, sizes, at, keys = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return padded, owners, sizes, at - starts[owners], keys


def _fits_in_keys(alphabet: _Alphabet, max_n: int) -> bool:
    return max_n * alphabet.bits <= 63


# ---------------------------------------------------------------- lookup tables (scoring)
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _table(vectorizer, build, lookups: int):
    """The key table `build(vectorizer)` of the vectorizer's current vocabulary, or None until
    looking terms up one by one (`lookups` now) has cost as much as building it would: one
    sentence is scored without building a table for a vocabulary of a million terms."""
    vocabulary = vectorizer.vocabulary_
    entry = _TABLES.get(vectorizer)
    if entry is None or entry[0] is not vocabulary:
        entry = [vocabulary, None, 0]
        _TABLES[vectorizer] = entry
    if entry[1] is None:
        entry[2] += lookups
        if entry[2] >= len(vocabulary):
            entry[1] = build(vectorizer)
    return entry[1]


class _KeyTable:
    """int64 keys (>= 0) -> columns, an open-addressing hash table in numpy arrays: a lookup
    reads one or two slots instead of the ~20 of a binary search through a large sorted array."""

    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads nearby keys

    def __init__(self, keys, columns):
        bits = max(4, (2 * len(keys)).bit_length())  # at most half full
        self.mask, self.shift = (1 << bits) - 1, np.uint64(64 - bits)
        self.slots = np.full(1 << bits, -1, dtype=np.int64)
        self.columns = np.full(1 << bits, -1, dtype=np.int64)
        waiting, at = np.arange(len(keys)), self._home(keys)
        while len(waiting):  # linear probing, a step for every key still waiting each round
            free = self.slots[at] == -1
            slot, first = np.unique(at[free], return_index=True)  # one key per free slot
            placed = waiting[free][first]
            self.slots[slot], self.columns[slot] = keys[placed], columns[placed]
            still = np.ones(len(waiting), dtype=bool)
            still[np.flatnonzero(free)[first]] = False
            waiting, at = waiting[still], (at[still] + 1) & self.mask

    def _home(self, keys):
        return ((keys.astype(np.uint64) * self._MULTIPLIER) >> self.shift).astype(np.int64)

    def lookup(self, keys):
        """The column of each key, -1 where absent (negative keys included)."""
        found = np.full(len(keys), -1, dtype=np.int64)
        waiting = np.flatnonzero(keys >= 0)
        at = self._home(keys[waiting])
        while len(waiting):  # until the key or an empty slot
            slot = self.slots[at]
            hit = slot == keys[waiting]
            found[waiting[hit]] = self.columns[at[hit]]
            going = ~hit & (slot != -1)
            waiting, at = waiting[going], (at[going] + 1) & self.mask
        return found


class _CharKeys:
    """The vocabulary's character n-grams as integer keys in its own alphabet, in a hash table."""

    def __init__(self, vectorizer):
        terms = list(vectorizer.vocabulary_)
        joined = "".join(terms)
        self.alphabet = _Alphabet(joined)
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        self.usable = bool(len(terms)) and lengths.min() > 0 and _fits_in_keys(self.alphabet, int(lengths.max()))
        if not self.usable:
            return
        letters = self.alphabet.letters(joined)
        starts = np.cumsum(lengths) - lengths
        places = np.arange(len(letters)) - np.repeat(starts, lengths)
        keys = np.add.reduceat(letters << (self.alphabet.bits * places), starts)
        columns = np.fromiter(vectorizer.vocabulary_.values(), dtype=np.int64, count=len(terms))
        self.table = _KeyTable(keys, columns)


class _WordKeys:
    """Vocabulary terms as numbers: each token of a term numbered, a unigram's column by token,
    and bigrams as int64 keys (first token x number of tokens + second token) in a hash table. Terms of
    other shapes are never a word 1- or 2-gram of tokens without spaces, and are left out."""

    def __init__(self, vectorizer):
        terms = list(vectorizer.vocabulary_)
        columns = np.fromiter(vectorizer.vocabulary_.values(), dtype=np.int64, count=len(terms))
        # Split on spaces found in numpy and cut by slicing one joined string: a list per term
        # would wake the garbage collector over the whole model again and again.
        joined = "".join(terms)
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        starts = np.cumsum(lengths) - lengths
        space = _codepoints(joined) == ord(" ")
        before = np.concatenate([[0], np.cumsum(space)])
        spaces = before[starts + lengths] - before[starts]
        unigrams = np.flatnonzero(spaces == 0)
        bigrams = np.flatnonzero(spaces == 1)
        cut = np.flatnonzero(space)[before[starts[bigrams]]]  # where each bigram's space is
        ends = (starts + lengths)[bigrams]
        left = [joined[a:b] for a, b in zip(starts[bigrams].tolist(), cut.tolist())]
        right = [joined[a:b] for a, b in zip((cut + 1).tolist(), ends.tolist())]
        unigram_terms = [terms[i] for i in unigrams.tolist()]
        distinct = list(dict.fromkeys(chain(unigram_terms, left, right)))
        self.tokens = dict(zip(distinct, range(len(distinct))))
        number = self.tokens.__getitem__
        self.unigram_columns = np.full(len(distinct), -1, dtype=np.int64)
        self.unigram_columns[np.fromiter(map(number, unigram_terms), dtype=np.int64, count=len(unigrams))] = \
            columns[unigrams]
        a = np.fromiter(map(number, left), dtype=np.int64, count=len(left))
        b = np.fromiter(map(number, right), dtype=np.int64, count=len(right))
        self.table = _KeyTable(a * len(distinct) + b, columns[bigrams])


# ---------------------------------------------------------------- char_wb
def _count_char_wb(vectorizer, raw_documents, vocabulary, fixed: bool):
    """Counts (documents x vocabulary) as documents x distinct words times words x n-grams."""
    shared = batch_words(raw_documents) if _plain_lowercase(vectorizer) else None
    if shared is not None:  # the batch's shared cut: its pieces are char_wb's words
        word_ids, flat, indptr = shared.pieces, shared.piece_of, shared.ends
    else:  # cut from the preprocessed documents
        word_ids, flat, indptr = _tokens(_prepared(vectorizer, raw_documents), str.split)
    words = list(word_ids)
    if shared is not None and _plain_typography(vectorizer):  # that cut is only lower-cased: map each piece once
        words = list(map(plain, words))
    min_n, max_n = vectorizer.ngram_range
    if fixed:
        table = _table(vectorizer, _CharKeys, (max_n - min_n + 1) * sum(map(len, words)))
        if table is not None and table.usable and _fits_in_keys(table.alphabet, max_n):
            _, owners, _, _, keys = _gram_keys(words, min_n, max_n, table.alphabet)
            columns = table.table.lookup(keys)
        else:
            owners, columns = _char_wb_columns(words, min_n, max_n, vocabulary, fixed)
    else:
        alphabet = _Alphabet(" " + "".join(words))
        if _fits_in_keys(alphabet, max_n):
            owners, columns = _char_wb_fit_by_key(words, min_n, max_n, alphabet, vocabulary)
        else:
            owners, columns = _char_wb_columns(words, min_n, max_n, vocabulary, fixed)
    keep = columns >= 0
    # (n-grams x words) @ (words x documents), turned around: its CSR conversion sorts the columns
    # of each document in one pass, cheaper than sorting the product.
    by_gram = sparse.csr_array((np.ones(int(keep.sum()), dtype=np.int32), (columns[keep], owners[keep])),
                               shape=(len(vocabulary), len(words)))
    by_document = sparse.csc_array(
        (np.ones(len(flat), dtype=np.int32), np.asarray(flat, dtype=np.int32), np.asarray(indptr)),
        shape=(len(words), len(indptr) - 1))
    return (by_gram @ by_document.tocsr()).T.tocsr()


def _char_wb_fit_by_key(words, min_n, max_n, alphabet, vocabulary):
    """(word, column) of each n-gram of each word, numbering new n-grams into `vocabulary` in
    the order scikit-learn meets them (word by word, then by n and offset)."""
    padded, owners, sizes, offsets, keys = _gram_keys(words, min_n, max_n, alphabet)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2
    at = (np.cumsum(lengths) - lengths)[owners] + offsets  # where each n-gram starts in `padded`
    # _gram_keys lists n-grams by n, then word, then offset; scikit-learn meets them by word, then
    # n, then offset: a stable sort by word gives that order, and a stable sort by key after it
    # puts each n-gram's first meeting first among its equals.
    met = np.empty(len(keys), dtype=np.int64)
    meeting = np.argsort(owners, kind="stable")
    met[meeting] = np.arange(len(keys))
    by_key = meeting[np.argsort(keys[meeting], kind="stable")]
    sorted_keys = keys[by_key]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    distinct_of = np.empty(len(keys), dtype=np.int64)
    distinct_of[by_key] = np.cumsum(first) - 1
    firsts = by_key[first]  # the first meeting of each distinct n-gram, in key order
    order = np.argsort(met[firsts])
    column_of = np.empty(len(firsts), dtype=np.int64)
    column_of[order] = np.arange(len(vocabulary), len(vocabulary) + len(firsts))
    new = firsts[order]
    vocabulary.update(zip([padded[a:a + n] for a, n in zip(at[new].tolist(), sizes[new].tolist())],
                          column_of[order].tolist()))
    return owners, column_of[distinct_of]


def _char_wb_grams(words: list[str], min_n: int, max_n: int):
    """scikit-learn's char_wb n-grams of each word as strings: the n-grams, their word, n and
    offset (for alphabets too large for integer keys)."""
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
    short = np.flatnonzero(lengths < min_n)
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
    order = np.lexsort((offsets, sizes, owners))  # the order scikit-learn meets them in
    columns = np.empty(len(grams), dtype=np.int64)
    columns[order] = list(map(vocabulary.__getitem__, [grams[i] for i in order.tolist()]))
    return owners, columns


# ---------------------------------------------------------------- word 1- and 2-grams
def _count_words(vectorizer, raw_documents, vocabulary, fixed: bool):
    """Counts of word 1- and 2-grams: each distinct token and each distinct pair looked up once."""
    token_ids, flat, indptr = _word_tokens(vectorizer, raw_documents)
    min_n, max_n = vectorizer.ngram_range
    n_docs, tokens = len(indptr) - 1, list(token_ids)
    flat_ids = np.asarray(flat, dtype=np.int64)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(np.asarray(indptr, dtype=np.int64)))
    starts = np.flatnonzero(doc_of[1:] == doc_of[:-1]) if min_n <= 2 <= max_n else np.zeros(0, dtype=np.int64)
    simple = vectorizer.tokenizer is None and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN
    table = _table(vectorizer, _WordKeys, len(tokens) + len(starts)) if fixed and simple else None
    if table is not None:
        rows, cols = _word_columns_by_key(table, tokens, flat_ids, doc_of, starts, min_n)
    else:
        rows, cols = _word_columns(tokens, flat_ids, doc_of, starts, min_n, vocabulary, fixed, distinct_terms=simple)
    if not rows:
        return sparse.csr_array((n_docs, len(vocabulary)), dtype=np.int64)
    row, col = np.concatenate(rows), np.concatenate(cols)
    keep = col >= 0
    return sparse.csr_array((np.ones(int(keep.sum()), dtype=np.int32), (row[keep], col[keep])),
                            shape=(n_docs, len(vocabulary)))


def _word_columns_by_key(table: _WordKeys, tokens, flat_ids, doc_of, starts, min_n):
    """(document, column) of every unigram and bigram occurrence, looked up as integer keys."""
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
        cols.append(table.table.lookup(a[both] * len(table.tokens) + b[both]))
    return rows, cols


def _word_columns(tokens, flat_ids, doc_of, starts, min_n, vocabulary, fixed: bool, distinct_terms=False):
    """(document, column) of every unigram and bigram occurrence, by looking strings up; a
    growing vocabulary numbers new terms in the order scikit-learn meets them (per document
    its unigrams, then its bigrams). `distinct_terms`: no unigram can equal a bigram (tokens
    hold no spaces)."""
    kinds = []  # (terms, first document, kind, first position, each occurrence's term, its document)
    if min_n <= 1:
        # Token ids count up in order of first use: a token first appears where the ids reach a new high.
        first = np.flatnonzero(np.diff(np.maximum.accumulate(flat_ids), prepend=-1) > 0)
        kinds.append((tokens, doc_of[first], 0, first, flat_ids, doc_of))
    if len(starts):
        keys = flat_ids[starts] * len(tokens) + flat_ids[starts + 1]
        distinct, first_pair, pair_of = np.unique(keys, return_index=True, return_inverse=True)
        left, right = (distinct // len(tokens)).tolist(), (distinct % len(tokens)).tolist()
        pairs = list(map(" ".join, zip(map(tokens.__getitem__, left), map(tokens.__getitem__, right))))
        first = starts[first_pair]
        kinds.append((pairs, doc_of[first], 1, first, pair_of.reshape(-1), doc_of[starts]))
    terms = list(chain.from_iterable(kind[0] for kind in kinds))
    if fixed:
        columns = np.fromiter(map(vocabulary.get, terms, repeat(-1)), dtype=np.int64, count=len(terms))
    elif kinds:
        documents = np.concatenate([kind[1] for kind in kinds])
        kind_of = np.concatenate([np.full(len(kind[0]), kind[2]) for kind in kinds])
        positions = np.concatenate([kind[3] for kind in kinds])  # flat positions: in document order
        order = np.lexsort((positions, kind_of, documents))
        columns = np.empty(len(terms), dtype=np.int64)
        in_order = list(map(terms.__getitem__, order.tolist()))
        if distinct_terms and not vocabulary:  # all new: numbered in one C loop
            columns[order] = np.arange(len(terms))
            vocabulary.update(zip(in_order, range(len(terms))))
        else:
            columns[order] = list(map(vocabulary.__getitem__, in_order))
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
