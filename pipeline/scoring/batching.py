"""Batches of sentences to score; context models get whole articles.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator

from pipeline.scoring.inputs import (  # noqa: F401
    Item,
    count_items,
    iter_items,
    read_file,
    read_text,
    resolve_inputs,
)


def batches(items: Iterable[Item], size: int, whole_documents: bool = False) -> Iterator[list[Item]]:
    """Batches of `size` items; with `whole_documents`, about `size` items that never split a document.

    Context features read a sentence's neighbours and its article's length, so for context models
    a sentence is scored with its whole article whatever the batch size (up to a document of
    DOCUMENT_BATCH_CAP batches, which is split to keep memory flat).
    """
    if not whole_documents:
        while batch := list(islice(items, size)):
            yield batch
        return
    batch: list[Item] = []
    for item in items:
        if batch and cut_before(len(batch), item[0], batch[-1][0], size):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


DOCUMENT_BATCH_CAP = 50


def cut_before(batch_length: int, doc_id, previous_doc_id, size: int) -> bool:
    """Whether a whole-document batch of `batch_length` ends before a sentence of `doc_id`.

    The one rule for local batches and Dask partitions, so both cut an input at the same places.
    """
    return batch_length >= size and (doc_id != previous_doc_id or batch_length >= DOCUMENT_BATCH_CAP * size)
