"""Scoring on several processes of this machine (`--jobs N`).

Inputs that are files are cut into partitions (pipeline.scoring.partitions); each worker reads its
partitions, scores them and writes the scored rows to a work file in the output's partial folder,
and the main process only appends finished work files to the output in input order. Stdin, --text
and the html report go through `score_in_processes`, which sends batches of sentences instead.
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from pipeline.scoring.inputs import Item
from pipeline.scoring.partitions import partition_items, partition_size, plan_partitions
from pipeline.scoring.writers import empty_scores

if TYPE_CHECKING:
    from pipeline.artifacts.loading import LoadOptions

_worker_model = None  # the model of this worker process (--jobs)


# ---------------------------------------------------------------- processes on one machine
def score_in_processes(batches: Iterable[list[Item]], model, model_dir: Path, jobs: int, how: LoadOptions
                       ) -> Iterator[tuple[list[Item], object]]:
    """Score batches on `jobs` processes, a few batches in flight, results in input order.

    With fork (Linux) the workers inherit the model loaded here; elsewhere each loads it once
    from `model_dir` in its initializer, as `how` says.
    """
    with worker_pool(jobs, model, model_dir, how) as pool:
        yield from said_in_order(((batch, pool.submit(_score_items, batch)) for batch in batches), 2 * jobs)


def said_in_order(submitted: Iterable[tuple], limit: int) -> Iterator[tuple]:
    """in_order for work that returns with_warnings(result): the warnings a worker sent back are said
    here as their result comes, each message once and each `once` key once."""
    for key, (result, said) in in_order(submitted, limit):
        say(said)
        yield key, result


def say(said: Iterable[tuple]) -> None:
    """In the main process: say the (message, once key) warnings a worker sent back, each once."""
    from pipeline.common.errors import warn

    for message, once in said:
        warn(message, once=once)


def in_order(submitted: Iterable[tuple], limit: int) -> Iterator[tuple]:
    """(key, result) of (key, future) pairs in submission order (process pool or Dask futures);
    submitting goes on lazily while no more than `limit` are in flight, so memory stays flat."""
    pending: deque = deque()
    for key, future in submitted:
        pending.append((key, future))
        if len(pending) > limit:
            done, first = pending.popleft()
            yield done, first.result()
    while pending:
        done, first = pending.popleft()
        yield done, first.result()


@contextmanager
def worker_pool(jobs: int, model, model_dir: Path, how: LoadOptions):
    """A pool of `jobs` processes holding the model; stopped at once (not drained) when the
    caller is interrupted or fails, so a SIGTERM or Ctrl-C ends the run within moments."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    source = model if method == "fork" else str(model_dir)
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method),
                               initializer=_init_worker, initargs=(source, how, os.getpid()))
    try:
        yield pool
    except BaseException:  # GeneratorExit too: the reader of the results went away
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def stop_workers(pool) -> None:
    """Terminate a ProcessPoolExecutor's workers (their unfinished work files stay temporaries)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def _init_worker(model_or_dir, how: LoadOptions, parent: int) -> None:
    from pipeline.common.errors import quiet_worker_signals

    global _worker_model
    quiet_worker_signals()
    _exit_with(parent)
    send_warnings_back()
    if isinstance(model_or_dir, str):
        model_or_dir = how.load(model_or_dir)
    _worker_model = model_or_dir


def _exit_with(parent: int) -> None:
    """End this worker when the main process is gone (SIGKILL, the OOM killer): idle workers wait on
    their queue forever, holding the model and the partial folder's lock, so --resume was refused."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _score_items(items: list[Item]):
    return with_warnings(_worker_model.predict_items(items))


def with_warnings(result) -> tuple:
    """In a worker: `result` and the warnings kept since the last result (taken_warnings), for the
    main process to say (said_in_order; said by each worker, a warning meant once a run was printed
    once a worker)."""
    return result, taken_warnings()


def taken_warnings() -> list[tuple]:
    """In a worker that keeps its warnings (send_warnings_back): the (message, once key) of each pipeline
    warning kept since the last call; other warnings are shown by the worker as before. [] elsewhere."""
    said = _said_here[:]
    _said_here.clear()
    return said


def send_warnings_back() -> None:
    """Keep this worker's pipeline warnings for taken_warnings instead of printing them (once per process)."""
    import warnings

    from pipeline.common.errors import PipelineWarning

    global _keeping
    if _keeping:
        return
    show = warnings.showwarning

    def keep(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, PipelineWarning):
            _said_here.append((str(message), getattr(message, "once", None)))
        else:
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = keep
    _keeping = True


_said_here: list[tuple] = []  # a worker's pipeline warnings not yet sent back
_keeping = False  # send_warnings_back has run in this process


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


def score_partitions_in_processes(todo, model, model_dir: Path, jobs: int, how: LoadOptions, target: "WorkTarget"
                                  ) -> Iterator[tuple[Path, int]]:
    """Score partitions on `jobs` processes, each writing a work file; (file, sentences) in input order."""
    with worker_pool(jobs, model, model_dir, how) as pool:
        submitted = ((target.path(number), pool.submit(_score_part_in_process, part, skip, str(target.path(number)),
                                                       target))
                     for number, (part, skip) in enumerate(todo))
        yield from said_in_order(submitted, 2 * jobs)


class WorkTarget:
    """Where and how workers write scored partitions: a folder, the format, the labels, batching."""

    def __init__(self, folder: Path, fmt: str, labels: list[str], batch_size: int, whole_documents: bool):
        self.folder, self.fmt, self.labels = Path(folder), fmt, list(labels)
        self.batch_size, self.whole_documents = batch_size, whole_documents

    def path(self, number: int) -> Path:
        return self.folder / f"work-{number:06d}.{self.fmt}"


def _score_part_in_process(part: tuple, skip: int, path: str, target: WorkTarget) -> tuple:
    return with_warnings(score_part_to_file(_worker_model, part, skip, Path(path), target))


def score_part_to_file(model, part: tuple, skip: int, path: Path, target: WorkTarget) -> int:
    """Read one partition, score it in batches and write the rows to `path`; the sentence count."""
    from pipeline.scoring.batching import batches

    items = partition_items(part, skip)
    chunks = batches(iter(items), target.batch_size, target.whole_documents)
    write_work_file(path, target, ((batch, model.predict_items(batch)) for batch in chunks))
    return len(items)


def write_work_file(path: Path, target: WorkTarget, scored) -> None:
    """Scored batches as one file of the output format (CSV without its header), written whole.

    Not synced to disk: the partial folder it goes to is kept against a process dying, not a
    power cut (pipeline.scoring.resumable).
    """
    from pipeline.common import atomic
    from pipeline.scoring.resumable import PART_OPTIONS
    from pipeline.scoring.writers import arrow_table, make_text_writer

    if target.fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [arrow_table(items, probabilities, target.labels) for items, probabilities in scored]
        empty = arrow_table([], empty_scores(target.labels), target.labels)
        with atomic.replacing_path(path, durable=False) as tmp:
            pq.write_table(pa.concat_tables(tables) if tables else empty, tmp, **PART_OPTIONS)
    else:
        with atomic.replacing(path, "w", newline="", durable=False) as stream:
            writer = make_text_writer(stream, target.fmt, target.labels, header=False)
            for items, probabilities in scored:
                writer.write(items, probabilities)
