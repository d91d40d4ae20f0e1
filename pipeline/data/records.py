"""The input of a model: plain sentences, or sentence records with their place in the article.

Text-only models take a list of str. Context models (features=*_context) take a table of
sentence records, one row per sentence with the columns in INPUT_COLUMNS; the model card
says which input a model takes ("input": "text" or "records"), and `Model` builds it.

A bare sentence has no article: its index is -1 and its article length 0, and the
position features are then all zero, so a linear model scores it on its text alone.
"""

from __future__ import annotations

from typing import Iterator, Sequence

TEXT, RECORDS = "text", "records"


INPUT_COLUMNS = ("text", "doc_id", "sentence_index", "n_sentences", "paragraph")
UNKNOWN = -1  # sentence_index / paragraph of a sentence seen without its article
INDEX_LIMIT = 2**62  # context features hold a sentence_index (and an article's length) as int64
# One item to score: (doc_id, sentence_index, text) or the same plus a dict that may
# hold "n_sentences" and "paragraph" (filled by the splitter for raw articles).
Item = tuple


def article_items(doc_id: str, text: str) -> Iterator[tuple[str, int, str, dict]]:
    """Items for each sentence of a raw article, with its paragraph and the article's length."""
    from pipeline.data.sentences import split_article

    sentences = split_article(text)
    for sentence in sentences:
        yield doc_id, sentence.index, sentence.text, {
            "n_sentences": len(sentences),
            "paragraph": sentence.paragraph,
        }


def sentence_frame(
    texts: Sequence[str],
    doc_ids: Sequence[str] | None = None,
    indices: Sequence[int] | None = None,
    n_sentences: Sequence[int] | None = None,
    paragraphs: Sequence[int] | None = None,
):
    """The records input of a context model as a DataFrame; missing fields mean 'bare sentence'."""
    import pandas as pd

    n = len(texts)
    # Python strings (object), not pandas' Arrow strings: each feature reads the column, and
    # turning Arrow strings into Python ones on every read cost more than some features.
    return pd.DataFrame(
        {
            "text": pd.Series(list(texts), dtype=object),
            "doc_id": pd.Series([str(d) for d in doc_ids] if doc_ids is not None else [f"bare:{i}" for i in range(n)],
                                dtype=object),
            "sentence_index": list(indices) if indices is not None else [UNKNOWN] * n,
            "n_sentences": list(n_sentences) if n_sentences is not None else [0] * n,
            "paragraph": list(paragraphs) if paragraphs is not None else [UNKNOWN] * n,
        },
        columns=list(INPUT_COLUMNS),
    )


def frame_from_items(items: Sequence[Item]):
    """Records input for scored items; an article's length defaults to its largest index + 1.

    An article is a run of consecutive items with one doc_id: a doc_id that comes back after
    another is read as a new article, so a sentence's context never depends on where a batch or
    a --jobs partition cut the input (they cut only between runs)."""
    items = separate_runs(items)
    doc_length: dict[str, int] = {}
    for doc_id, index, *_ in items:
        doc_length[doc_id] = max(doc_length.get(doc_id, 0), int(index) + 1)
    extras = [item[3] if len(item) > 3 else {} for item in items]
    return sentence_frame(
        [item[2] for item in items],
        doc_ids=[item[0] for item in items],
        indices=[int(item[1]) for item in items],
        n_sentences=[x.get("n_sentences", doc_length[item[0]]) for item, x in zip(items, extras)],
        paragraphs=[x.get("paragraph", UNKNOWN) for x in extras],
    )


def separate_runs(items: Sequence[Item]) -> Sequence[Item]:
    """`items` with each later run of a doc_id given its own key (the doc_id, a NUL, the run's
    number); unchanged, and not copied, when each doc_id comes in one run, as in any article file."""
    runs: dict = {}
    previous = None
    renamed = None
    for position, (doc_id, *rest) in enumerate(items):
        if doc_id != previous:
            runs[doc_id] = runs.get(doc_id, -1) + 1
            previous = doc_id
        if runs[doc_id] and renamed is None:
            renamed = list(items[:position])
            _warn_interleaved(doc_id)
        if renamed is not None:
            renamed.append((f"{doc_id}\x00{runs[doc_id]}" if runs[doc_id] else doc_id, *rest))
    return items if renamed is None else renamed


def _warn_interleaved(doc_id) -> None:
    """Once per run: a doc_id's sentences came in more than one run."""
    from pipeline.common.errors import quote, warn

    warn(f"the sentences of doc_id {quote(doc_id)} are not all together in the input: a context model reads "
         "each run of them as its own article (sort the rows by doc_id to read each article whole)",
         once="interleaved doc_ids")


def checked_sentences(sentences) -> list[str]:
    """A list of str as a list, else a TypeError: one string would be scored a character at a time."""
    if isinstance(sentences, (str, bytes)):
        raise TypeError("expected a list of sentences or a table of sentence records, got one string")
    texts = list(sentences)
    wrong = [t for t in texts if not isinstance(t, str)]
    if wrong:
        raise TypeError(f"expected sentences as str, got {type(wrong[0]).__name__}")
    return texts


def as_records(sentences):
    """The records input of a context model: a records table as given, a list of str as bare sentences."""
    if hasattr(sentences, "columns"):
        return sentences
    return sentence_frame(checked_sentences(sentences))


def as_input(kind: str, texts: Sequence[str] | object):
    """Plain sentences in the form a model of `kind` takes (bare sentences for context models)."""
    return as_records(texts) if kind == RECORDS else texts


def input_kind(estimator) -> str:
    """RECORDS when any part of the estimator reads the position columns, else TEXT."""
    parts = [estimator, *estimator.get_params(deep=True).values()] if hasattr(estimator, "get_params") else []
    return RECORDS if any(getattr(p, "input_kind", None) == RECORDS for p in parts) else TEXT
