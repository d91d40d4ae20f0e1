"""Scoring on several processes (`--jobs N`) or on a Dask cluster (`--engine dask`).

Inputs that are files are cut into partitions (row groups of Parquet, line ranges of JSONL,
whole CSV files, groups of articles); each worker reads its partitions, scores them and
writes the scored rows to a work file in the output's partial folder, and the main process
only appends finished work files to the output in input order. So the main process stays
idle while the workers use every core, and the output is byte for byte what one process
writes. Stdin, --text and the html report go through `score_in_processes`, which sends
batches of sentences to the workers instead. Workers hold the model once per process.
"""

from __future__ import annotations

from collections import deque
from contextlib import contextmanager
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


# ---------------------------------------------------------------- partitions written by workers
def partitions_to_do(files: list[str], rows: int, whole_documents: bool, skip: int) -> list[tuple[tuple, int]]:
    """(partition, sentences to skip in it) for the inputs, the first `skip` sentences left out
    (a resumed run). Partitions hold about `rows` sentences, or more where a file cannot be cut."""
    todo = []
    for part in plan_partitions(files, rows, whole_documents):
        if skip:
            size = partition_size(part)
            if size <= skip:
                skip -= size
                continue
            todo.append((part, skip))
            skip = 0
        else:
            todo.append((part, 0))
    return todo


def score_partitions_in_processes(todo, model, model_dir: Path, jobs: int, trust: bool, target: "WorkTarget"
                                  ) -> Iterator[tuple[Path, int]]:
    """Score partitions on `jobs` processes, each writing a work file; (file, sentences) in input order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    source = model if method == "fork" else str(model_dir)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method),
                             initializer=_init_worker, initargs=(source, trust)) as pool:
        pending: deque = deque()
        for number, (part, skip) in enumerate(todo):
            path = target.path(number)
            pending.append((path, pool.submit(_score_part_in_process, part, skip, str(path), target)))
            if len(pending) > 2 * jobs:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


class WorkTarget:
    """Where and how workers write scored partitions: a folder, the format, the labels, batching."""

    def __init__(self, folder: Path, fmt: str, labels: list[str], batch_size: int, whole_documents: bool):
        self.folder, self.fmt, self.labels = Path(folder), fmt, list(labels)
        self.batch_size, self.whole_documents = batch_size, whole_documents

    def path(self, number: int) -> Path:
        return self.folder / f"work-{number:06d}.{self.fmt}"


def _score_part_in_process(part: tuple, skip: int, path: str, target: WorkTarget) -> int:
    return score_part_to_file(_worker_model, part, skip, Path(path), target)


def score_part_to_file(model, part: tuple, skip: int, path: Path, target: WorkTarget) -> int:
    """Read one partition, score it in batches and write the rows to `path`; the sentence count."""
    from pipeline.score import batches

    items = partition_items(part, skip)
    chunks = batches(iter(items), target.batch_size, target.whole_documents)
    write_work_file(path, target, ((batch, model.predict_items(batch)) for batch in chunks))
    return len(items)


def write_work_file(path: Path, target: WorkTarget, scored) -> None:
    """Scored batches as one file of the output format (CSV without its header), written whole."""
    import os

    from pipeline.outputs import PART_OPTIONS, arrow_table, make_text_writer

    tmp = path.with_name(path.name + ".tmp")
    if target.fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [arrow_table(items, probabilities, target.labels) for items, probabilities in scored]
        empty = arrow_table([], _empty(len(target.labels)), target.labels)
        pq.write_table(pa.concat_tables(tables) if tables else empty, tmp, **PART_OPTIONS)
    else:
        with open(tmp, "w", encoding="utf-8", newline="") as stream:
            writer = make_text_writer(stream, target.fmt, target.labels, header=False)
            for items, probabilities in scored:
                writer.write(items, probabilities)
    os.replace(tmp, path)


# ---------------------------------------------------------------- Dask
# ---------------------------------------------------------------- Dask
def check_dask() -> None:
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise PipelineError(DASK_INSTALL) from None


def score_with_dask(files: list[str], model_dir: Path, labels: list[str], rows_per_partition: int,
                    scheduler: str | None, workers: int = LOCAL_CLUSTER_WORKERS, trust: bool = False,
                    whole_documents: bool = False, model=None) -> Iterator[tuple[list[Item], object]]:
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
                                    whole_documents, model)


def _score_with_dask(files, model_dir, labels, rows_per_partition, scheduler, workers, trust=False,
                     whole_documents=False, model=None):
    import dask.dataframe as dd

    if STDIN in files:
        raise PipelineError("--engine dask reads files; score stdin with the local engine")
    parts = plan_partitions(files, rows_per_partition, whole_documents)
    if not parts:
        return
    frame = dd.from_map(read_partition, parts, meta=_meta([]), enforce_metadata=False)
    scored = frame.map_partitions(score_partition, str(model_dir), trust, meta=_meta(labels), enforce_metadata=False)
    tasks = scored.to_delayed()
    columns = [f"score_{label}" for label in labels]
    with _dask_client(scheduler, workers, model, model_dir) as client:
        client.run(_load_on_worker, str(model_dir), trust)  # every worker loads it now, in parallel
        in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        pending: deque = deque()
        for task in tasks:
            pending.append(client.compute(task))
            if len(pending) > in_flight:
                yield _from_frame(pending.popleft().result(), columns)
        while pending:
            yield _from_frame(pending.popleft().result(), columns)


def score_partitions_with_dask(todo, model_dir: Path, scheduler: str | None, workers: int, trust: bool,
                               target: WorkTarget, model=None) -> Iterator[tuple[Path, int]]:
    """Score partitions on a Dask cluster, each worker writing work files; (file, sentences) in order.

    A dask.dataframe with one partition per input partition; each worker loads the model once
    from `model_dir`. `target.folder` and the inputs must be paths every worker can read and
    write (on a LocalCluster they are; on a cluster, a shared filesystem).
    """
    check_dask()
    import dask
    import dask.dataframe as dd

    if not todo:
        return
    paths = [target.path(number) for number in range(len(todo))]
    meta = _counts_frame(0).iloc[:0]
    with dask.config.set({"dataframe.convert-string": False}):
        frame = dd.from_map(_score_part_on_worker, [p for p, _ in todo], [s for _, s in todo], [str(p) for p in paths],
                            args=(str(model_dir), trust, target), meta=meta, enforce_metadata=False)
        tasks = frame.to_delayed()
    with _dask_client(scheduler, workers, model, model_dir) as client:
        client.run(_load_on_worker, str(model_dir), trust)  # every worker loads it now, in parallel
        in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        pending: deque = deque()
        for path, task in zip(paths, tasks):
            pending.append((path, client.compute(task)))
            if len(pending) > in_flight:
                done, future = pending.popleft()
                yield done, int(future.result()["sentences"].iloc[0])
        while pending:
            done, future = pending.popleft()
            yield done, int(future.result()["sentences"].iloc[0])


def _score_part_on_worker(part: tuple, skip: int, path: str, model_dir: str, trust: bool, target: WorkTarget):
    count = score_part_to_file(_load_on_worker(model_dir, trust), part, skip, Path(path), target)
    return _counts_frame(count)


def _counts_frame(count: int):
    import pandas as pd

    return pd.DataFrame({"sentences": pd.Series([count], dtype="int64")})


@contextmanager
def _dask_client(scheduler: str | None, workers: int, model=None, model_dir: Path | None = None):
    """A client of `scheduler`, or of a LocalCluster of `workers` single-threaded processes; closed on exit.

    Given the `model` already loaded here, LocalCluster workers are forked from this process
    (where the platform can fork) and start with it in memory: no worker imports scikit-learn
    or loads the model again, which on two cores took longer than scoring 100k sentences.
    """
    import logging
    import multiprocessing

    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        cluster, client = None, Client(scheduler)
    else:
        settings = {}
        if model is not None and "fork" in multiprocessing.get_all_start_methods():
            _models_by_path[str(model_dir)] = model
            settings["distributed.worker.multiprocessing-method"] = "fork"
        with dask.config.set(settings):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def plan_partitions(files: list[str], rows: int, whole_documents: bool = False) -> list[tuple]:
    """(kind, path, ...) descriptions of partitions of about `rows` sentences, in input order.

    Parquet splits at row groups, JSONL at line offsets (found by one pass over the bytes); a
    CSV file is one partition, and consecutive articles are grouped up to about `rows`
    sentences' worth of bytes. With `whole_documents` (context models) a partition never ends
    inside a document: a Parquet cut moves on to the next document after reading the doc_id
    column, and JSONL reads each line's doc_id (the rule of local batches,
    pipeline.score.cut_before). Only a document longer than DOCUMENT_BATCH_CAP batches is cut.
    """
    parts: list[tuple] = []
    articles: list[str] = []
    article_bytes = 0
    for name in files:
        path = Path(name)
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".jsonl", ".csv") and articles:
            parts.append(("files", tuple(articles)))
            articles, article_bytes = [], 0
        if suffix == ".parquet":
            parts += _parquet_partitions(path, rows, whole_documents)
        elif suffix == ".jsonl":
            parts += _jsonl_partitions(path, rows, whole_documents)
        elif suffix == ".csv":
            parts.append(("files", (name,)))
        else:
            articles.append(name)
            article_bytes += path.stat().st_size
            if article_bytes >= rows * ARTICLE_BYTES_PER_SENTENCE:
                parts.append(("files", tuple(articles)))
                articles, article_bytes = [], 0
    if articles:
        parts.append(("files", tuple(articles)))
    return parts


ARTICLE_BYTES_PER_SENTENCE = 150  # to group articles into partitions of about `rows` sentences


def _parquet_partitions(path: Path, rows: int, whole_documents: bool) -> list[tuple]:
    """Row ranges made of whole row groups (so each is read once), cut where documents change."""
    from pipeline.inputs import open_parquet
    from pipeline.score import DOCUMENT_BATCH_CAP

    parquet = open_parquet(path)
    metadata = parquet.metadata
    total = metadata.num_rows
    cuts, size, row = [], 0, 0
    for group in range(metadata.num_row_groups):
        size += metadata.row_group(group).num_rows
        row += metadata.row_group(group).num_rows
        if size >= rows and row < total:
            cuts.append(row)
            size = 0
    if whole_documents and cuts:
        doc_ids = (parquet.read(columns=["doc_id"]).column(0).to_pylist()
                   if "doc_id" in parquet.schema_arrow.names else [None] * total)
        moved = []
        for cut in cuts:
            limit = min(total, cut + DOCUMENT_BATCH_CAP * rows)
            while cut < limit and doc_ids[cut] == doc_ids[cut - 1]:
                cut += 1
            if cut < total and (not moved or cut > moved[-1]):
                moved.append(cut)
        cuts = moved
    bounds = [0, *cuts, total]
    return [("parquet", str(path), start, stop - start) for start, stop in zip(bounds, bounds[1:]) if stop > start]


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


def partition_size(part: tuple) -> int:
    """How many sentences a partition holds (articles and CSV files are read to know)."""
    if part[0] in ("parquet", "jsonl"):
        return part[-1]
    return len(partition_items(part))


def partition_items(part: tuple, skip: int = 0) -> list[Item]:
    """The sentences of one partition, the first `skip` left out (run on a worker)."""
    from itertools import islice

    from pipeline import inputs

    kind, name = part[0], part[1]
    if kind == "parquet":
        items = _parquet_rows(Path(name), start=part[2], count=part[3])
        source = name
    elif kind == "jsonl":
        items = inputs.read_jsonl(Path(name), start_byte=part[2], first_line=part[3], max_items=part[4])
        source = name
    else:
        return list(islice(inputs.iter_items(list(name)), skip, None))
    return inputs.check_lengths(list(islice(items, skip, None)), source)


def read_partition(part: tuple, skip: int = 0):
    """The sentences of one partition as a DataFrame (run on a worker)."""
    return _frame(partition_items(part, skip))


def _parquet_rows(path: Path, start: int, count: int):
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
        return iter(())
    items = inputs.read_parquet(path, 65_536, row_groups=groups, first_row=first_row)
    return islice(items, start - first_row, start - first_row + count)


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
        import gc

        gc.freeze()  # as pipeline.score does: the collector need not scan the model again
    return _models_by_path[model_dir]


def _from_frame(frame, columns: list[str]):
    items = list(zip(frame["doc_id"].tolist(), frame["sentence_index"].tolist(), frame["text"].tolist()))
    return items, frame[columns].to_numpy(dtype=float) if len(frame) else _empty(len(columns))


def _frame(items: list[Item]):
    import pandas as pd

    doc_ids, indices, texts = [i[0] for i in items], [i[1] for i in items], [i[2] for i in items]
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
