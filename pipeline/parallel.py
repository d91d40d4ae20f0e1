"""Scoring on several processes (`--jobs N`) or on a Dask cluster (`--engine dask`).

Both yield (items, probabilities) in input order, so the output is the same as one process
writes. Workers hold the model once per process and return numpy arrays, never lists of floats.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.errors import PipelineError
from pipeline.inputs import STDIN, Item

DASK_INSTALL = "--engine dask needs dask and distributed: pip install 'rhetoric-pipeline[dask]'"
LOCAL_CLUSTER_WORKERS = 2

_worker_model = None  # the model of this worker process (--jobs)
_models_by_path: dict[str, object] = {}  # models loaded in this Dask worker, by folder


# ---------------------------------------------------------------- processes on one machine
def score_in_processes(batches: Iterable[list[Item]], model, model_dir: Path, jobs: int, trust: bool = False
                       ) -> Iterator[tuple[list[Item], object]]:
    """Score batches on `jobs` processes, a few batches in flight, results in input order.

    With fork (Linux) the workers inherit the model loaded here; elsewhere each loads it once
    from `model_dir` in its initializer.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    source = model if method == "fork" else str(model_dir)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method),
                             initializer=_init_worker, initargs=(source, trust)) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append((batch, pool.submit(_score_items, batch)))
            if len(pending) > 2 * jobs:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _init_worker(model_or_dir, trust: bool = False) -> None:
    global _worker_model
    if isinstance(model_or_dir, str):
        from pipeline.model import load_model

        model_or_dir = load_model(model_or_dir, trust=trust)
    _worker_model = model_or_dir


def _score_items(items: list[Item]):
    return _worker_model.predict_items(items)


# ---------------------------------------------------------------- Dask
def check_dask() -> None:
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise PipelineError(DASK_INSTALL) from None


def score_with_dask(files: list[str], model_dir: Path, labels: list[str], rows_per_partition: int,
                    scheduler: str | None, workers: int = LOCAL_CLUSTER_WORKERS, trust: bool = False,
                    whole_documents: bool = False) -> Iterator[tuple[list[Item], object]]:
    """Score files as a dask.dataframe of partitions read on the workers, results in order.

    Without `scheduler` a LocalCluster of `workers` single-threaded processes is started and
    closed. Each worker loads the model once from `model_dir` (a path every worker can read).
    With `whole_documents` (context models) partitions end where local batches would.
    """
    check_dask()
    import dask

    # Keep ids as Python objects: dask would turn them into strings ("7" for 7).
    with dask.config.set({"dataframe.convert-string": False}):
        yield from _score_with_dask(files, model_dir, labels, rows_per_partition, scheduler, workers, trust,
                                    whole_documents)


def _score_with_dask(files, model_dir, labels, rows_per_partition, scheduler, workers, trust=False,
                     whole_documents=False):
    import logging

    import dask.dataframe as dd
    from distributed import Client, LocalCluster


    if STDIN in files:
        raise PipelineError("--engine dask reads files; score stdin with the local engine")
    parts = plan_partitions(files, rows_per_partition, whole_documents)
    if not parts:
        return
    frame = dd.from_map(read_partition, parts, meta=_meta([]), enforce_metadata=False)
    scored = frame.map_partitions(score_partition, str(model_dir), trust, meta=_meta(labels), enforce_metadata=False)
    tasks = scored.to_delayed()
    columns = [f"score_{label}" for label in labels]
    if scheduler:
        cluster, client = None, Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        client.run(_load_on_worker, str(model_dir), trust)  # every worker loads it now, in parallel
        in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        pending: deque = deque()
        for task in tasks:
            pending.append(client.compute(task))
            if len(pending) > in_flight:
                yield _from_frame(pending.popleft().result(), columns)
        while pending:
            yield _from_frame(pending.popleft().result(), columns)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def plan_partitions(files: list[str], rows: int, whole_documents: bool = False) -> list[tuple]:
    """(kind, path, ...) descriptions of partitions of about `rows` sentences, in input order.

    Parquet splits at row groups, JSONL at line offsets (found by one pass over the bytes);
    a CSV file or an article is one partition. With `whole_documents` a partition never ends
    inside a document (the rule of local batches, pipeline.score.cut_before): Parquet then
    splits at rows, after reading the doc_id column, and JSONL reads each line's doc_id.
    """
    parts: list[tuple] = []
    for name in files:
        path = Path(name)
        suffix = path.suffix.lower()
        if suffix == ".parquet" and whole_documents:
            parts += _parquet_document_partitions(path, rows)
        elif suffix == ".parquet":
            from pipeline.inputs import open_parquet

            metadata = open_parquet(path).metadata
            groups, first_row, size, row = [], 0, 0, 0
            for group in range(metadata.num_row_groups):
                groups.append(group)
                size += metadata.row_group(group).num_rows
                if size >= rows:
                    parts.append(("parquet", name, tuple(groups), first_row))
                    row += size
                    groups, first_row, size = [], row, 0
            if groups:
                parts.append(("parquet", name, tuple(groups), first_row))
        elif suffix == ".jsonl":
            parts += _jsonl_partitions(path, rows, whole_documents)
        else:
            parts.append(("file", name))
    return parts


def _jsonl_partitions(path: Path, rows: int, whole_documents: bool = False) -> list[tuple]:
    import json

    from pipeline.score import cut_before

    parts, offset, start, first_line, count, last_doc = [], 0, 0, 1, 0, None
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                doc = _doc_id_of(json, line) if whole_documents else None
                if count and (cut_before(count, doc, last_doc, rows) if whole_documents else count >= rows):
                    parts.append(("jsonl", str(path), start, first_line, count))
                    count = 0
                if count == 0:
                    start, first_line = offset, number
                count, last_doc = count + 1, doc
            elif count == 0:
                start, first_line = offset + len(line), number + 1
            offset += len(line)
    if count:
        parts.append(("jsonl", str(path), start, first_line, count))
    return parts


def _doc_id_of(json, line: bytes):
    """A JSONL line's doc_id for planning; a line that does not parse is reported when it is read."""
    try:
        record = json.loads(line)
        return str(record["doc_id"]) if isinstance(record, dict) and "doc_id" in record else None
    except ValueError:
        return None


def _parquet_document_partitions(path: Path, rows: int) -> list[tuple]:
    from pipeline.inputs import open_parquet
    from pipeline.score import cut_before

    parquet = open_parquet(path)
    total = parquet.metadata.num_rows
    doc_ids = (parquet.read(columns=["doc_id"]).column(0).to_pylist()
               if "doc_id" in parquet.schema_arrow.names else [None] * total)
    parts, start = [], 0
    for row in range(1, total + 1):
        if row == total or cut_before(row - start, doc_ids[row], doc_ids[row - 1], rows):
            parts.append(("parquet_rows", str(path), start, row - start))
            start = row
    return parts


def read_partition(part: tuple):
    """The sentences of one partition as a DataFrame (run on a worker)."""
    from pipeline import inputs

    kind, name = part[0], Path(part[1])
    if kind == "parquet":
        items = list(inputs.read_parquet(name, 65_536, row_groups=list(part[2]), first_row=part[3]))
    elif kind == "parquet_rows":
        items = _parquet_rows(name, start=part[2], count=part[3])
    elif kind == "jsonl":
        items = list(inputs.read_jsonl(name, start_byte=part[2], first_line=part[3], max_items=part[4]))
    else:
        items = list(inputs.read_file(name))
    return _frame(items)


def _parquet_rows(path: Path, start: int, count: int) -> list[Item]:
    """Rows start..start+count of a Parquet file, reading only the row groups that hold them."""
    from itertools import islice

    from pipeline import inputs

    metadata = inputs.open_parquet(path).metadata
    groups, first_row, row = [], None, 0
    for group in range(metadata.num_row_groups):
        size = metadata.row_group(group).num_rows
        if row + size > start and row < start + count:
            groups.append(group)
            first_row = row if first_row is None else first_row
        row += size
    if not groups:
        return []
    items = inputs.read_parquet(path, 65_536, row_groups=groups, first_row=first_row)
    return list(islice(items, start - first_row, start - first_row + count))


def score_partition(frame, model_dir: str, trust: bool = False):
    """Add a score column per label (run on a worker, with the worker's copy of the model)."""
    model = _load_on_worker(model_dir, trust)
    if len(frame):
        probabilities = model.predict_items(list(zip(frame["doc_id"], frame["sentence_index"], frame["text"])))
        for j, label in enumerate(model.labels):
            frame[f"score_{label}"] = probabilities[:, j]
    return frame


def _load_on_worker(model_dir: str, trust: bool = False):
    """Each worker checks trust in its own machine's store (pipeline.trust), or is told to trust."""
    if model_dir not in _models_by_path:
        from pipeline.model import load_model

        _models_by_path[model_dir] = load_model(model_dir, trust=trust)
    return _models_by_path[model_dir]


def _from_frame(frame, columns: list[str]):
    items = list(zip(frame["doc_id"].tolist(), frame["sentence_index"].tolist(), frame["text"].tolist()))
    return items, frame[columns].to_numpy(dtype=float) if len(frame) else _empty(len(columns))


def _frame(items: list[Item]):
    import pandas as pd

    doc_ids, indices, texts = (list(c) for c in zip(*items)) if items else ([], [], [])
    return pd.DataFrame({"doc_id": pd.Series(doc_ids, dtype=object),
                         "sentence_index": pd.Series(indices, dtype=object),
                         "text": pd.Series(texts, dtype=object)})


def _meta(labels: list[str]):
    import pandas as pd

    frame = _frame([])
    for label in labels:
        frame[f"score_{label}"] = pd.Series([], dtype=float)
    return frame


def _empty(n_labels: int):
    import numpy as np

    return np.zeros((0, n_labels))
