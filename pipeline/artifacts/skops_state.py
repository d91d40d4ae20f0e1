"""Vocabularies in model.skops as two numpy arrays instead of one JSON node per term.

skops writes a dict as a tree of JSON nodes, one per key and value: the 360,000-term
vocabulary of a word TF-IDF fitted on 100k sentences took 20 s to write, and a 1.2M-term
one 777 MB and 18 s to load. `compact` gives the copy of a fitted model that model.skops
stores: each fitted vectorizer's `vocabulary_` is an `ArrayVocabulary` (the terms' text in
column order plus where each term ends), which skops writes as .npy arrays. `expand` turns
them back into dicts after loading, so the loaded model is the same scikit-learn objects
scoring the same probabilities. The fitted model itself is never changed.
"""

from __future__ import annotations

import copy

WALKED_MODULES = ("sklearn", "pipeline")  # objects whose attributes may hold a vectorizer
_ARRAY_API_BACKENDS = tuple(f"sklearn.externals.array_api_compat.{name}" for name in ("torch", "dask", "cupy"))


def skops_io():
    """`skops.io`, imported without importing torch or dask.

    skops builds its trusted-type list from scikit-learn's `all_estimators()`, which walks
    every scikit-learn package, the vendored `array_api_compat.torch` and `.dask` included
    (it skips "externals" only after importing them), and those import torch and dask when
    they are installed: 5 of the 8 s `import skops.io` took in a training run here, for modules
    with no estimator in them. They are marked as missing while skops is imported
    (`pkgutil.walk_packages` passes over a package whose import fails) and unmarked after.
    """
    import sys

    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    blocked = [name for name in _ARRAY_API_BACKENDS if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # importing it raises ImportError until the entry is removed
    try:
        import skops.io
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return skops.io


class ArrayVocabulary:
    """A vocabulary (term -> column) as arrays that skops stores without a node per term.

    `text` holds the UTF-8 bytes of all terms joined in column order (uint8), `ends` the
    character offset where each term ends (int64): term j is text[ends[j-1]:ends[j]].
    """

    def __init__(self, text, ends):
        self.__setstate__({"text": text, "ends": ends})

    @classmethod
    def from_mapping(cls, vocabulary: dict) -> ArrayVocabulary | None:
        """The arrays of a fitted vocabulary; None unless it maps str terms to columns 0..n-1."""
        import numpy as np

        terms = list(vocabulary)
        if not all(type(term) is str for term in terms):
            return None
        if not all(type(column) is int or isinstance(column, np.integer) for column in vocabulary.values()):
            return None
        try:
            columns = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(terms))
        except OverflowError:
            return None
        order = np.argsort(columns, kind="stable")
        if not np.array_equal(columns[order], np.arange(len(terms))):
            return None  # not the columns 0..n-1 once each
        terms = [terms[i] for i in order.tolist()]
        ends = np.cumsum([len(term) for term in terms], dtype=np.int64)
        text = np.frombuffer("".join(terms).encode("utf-8", "surrogatepass"), dtype=np.uint8)
        return cls(text, ends)

    def __getstate__(self) -> dict:
        return {"text": self.text, "ends": self.ends}

    def __setstate__(self, state) -> None:
        """Called by skops with the loaded arrays: anything but the two 1-D arrays is refused."""
        import numpy as np

        if not isinstance(state, dict) or set(state) != {"text", "ends"}:
            raise ValueError("ArrayVocabulary: expected exactly the arrays 'text' and 'ends'")
        text, ends = state["text"], state["ends"]
        for name, array, dtype in (("text", text, np.uint8), ("ends", ends, np.int64)):
            if type(array) is not np.ndarray or array.ndim != 1 or array.dtype != dtype:
                raise ValueError(f"ArrayVocabulary: {name!r} must be a 1-D {np.dtype(dtype)} array")
        self.text, self.ends = text, ends

    def __len__(self) -> int:
        return len(self.ends)

    def to_dict(self) -> dict[str, int]:
        """The vocabulary as scikit-learn's vectorizers hold it."""
        import numpy as np

        joined = self.text.tobytes().decode("utf-8", "surrogatepass")
        ends = self.ends.tolist()
        if ends and (ends[-1] != len(joined) or ends[0] < 0 or np.any(np.diff(self.ends) < 0)):
            raise ValueError("ArrayVocabulary: term offsets do not match the text")
        terms = [joined[start:end] for start, end in zip([0, *ends[:-1]], ends)]
        vocabulary = dict(zip(terms, range(len(terms))))
        if len(vocabulary) != len(ends):
            raise ValueError("ArrayVocabulary: a term appears twice")
        return vocabulary


def compact(estimator):
    """A copy of `estimator` whose fitted vectorizers hold their vocabulary as an ArrayVocabulary.

    Only the objects on the way to a vectorizer are copied (shallowly); everything else,
    arrays included, is shared with `estimator`, which is left as it was.
    """
    return _walk(estimator, _pack, {})


def expand(estimator):
    """Undo `compact` in place on a loaded model (a model without ArrayVocabulary is unchanged)."""
    _walk(estimator, _unpack, {})
    return estimator


def _pack(obj, state: dict) -> dict:
    from sklearn.feature_extraction.text import CountVectorizer

    vocabulary = state.get("vocabulary_")
    if isinstance(obj, CountVectorizer) and type(vocabulary) is dict:
        packed = ArrayVocabulary.from_mapping(vocabulary)
        if packed is not None:
            return {"vocabulary_": packed}
    return {}


def _unpack(obj, state: dict) -> dict:
    vocabulary = state.get("vocabulary_")
    if isinstance(vocabulary, ArrayVocabulary):
        obj.vocabulary_ = vocabulary.to_dict()  # the loaded object is ours to change
    return {}  # changed in place: nothing to copy


def _walk(obj, visit, memo: dict):
    """`obj` with `visit(o, attributes)`'s replacements applied to every scikit-learn or project
    object reachable through attributes, lists, tuples and dicts; copies only what changes."""
    key = id(obj)
    if key in memo:
        return memo[key]
    memo[key] = obj  # a cycle leads back to the original
    if type(obj) in (list, tuple):
        items = [_walk(item, visit, memo) for item in obj]
        out = obj if all(a is b for a, b in zip(items, obj)) else type(obj)(items)
    elif type(obj) is dict:
        values = {k: _walk(v, visit, memo) for k, v in obj.items()}
        out = obj if all(values[k] is v for k, v in obj.items()) else values
    elif type(obj).__module__.split(".")[0] in WALKED_MODULES and isinstance(getattr(obj, "__dict__", None), dict):
        state = obj.__dict__
        changed = visit(obj, state)
        for name, value in state.items():
            if name not in changed and name != "vocabulary_":  # terms, never estimators
                walked = _walk(value, visit, memo)
                if walked is not value:
                    changed[name] = walked
        out = obj
        if changed and visit is _pack:
            out = copy.copy(obj)
            out.__dict__.update(changed)
    else:
        out = obj
    memo[key] = out
    return out
