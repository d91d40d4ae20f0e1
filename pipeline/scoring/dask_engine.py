"""Scoring on a Dask cluster (`--engine dask`): each worker loads the model once.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.artifacts.loading import LoadOptions
from pipeline.common.errors import PATH_CHARS, PipelineError, cut
from pipeline.scoring.inputs import STDIN, Item
from pipeline.scoring.partitions import partition_items, plan_partitions
from pipeline.scoring.processes import WorkTarget, in_order, say, score_part_to_file, send_warnings_back, taken_warnings
from pipeline.scoring.writers import empty_scores

DASK_INSTALL = "--engine dask needs dask and distributed: pip install 'rhetoric-pipeline[dask]'"
LOCAL_CLUSTER_WORKERS = 2
SAID = "pipeline_warnings"  # the attrs key of a frame a worker returns: its warnings (_with_said)
_models_by_path: dict[tuple, object] = {}  # models loaded in this Dask worker, by folder and LoadOptions


class SchedulerUnreachable(PipelineError):
    """--scheduler names no scheduler this machine reaches: what a run committed before is kept."""


# ---------------------------------------------------------------- Dask
def check_dask() -> None:
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise PipelineError(DASK_INSTALL) from None


def score_with_dask(files: list[str], model_dir: Path, labels: list[str], rows_per_partition: int,
                    scheduler: str | None, workers: int = LOCAL_CLUSTER_WORKERS, how: LoadOptions | None = None,
                    whole_documents: bool = False, model=None) -> Iterator[tuple[list[Item], object]]:
    """Score files as a dask.dataframe of partitions read on the workers, results in order.

    Without `scheduler` a LocalCluster of `workers` single-threaded processes is started and
    closed. Each worker loads the model once from `model_dir` (a path every worker can read), as
    `how` says (trust, scoring precision; default LoadOptions()).
    With `whole_documents` (context models) partitions end where local batches would.
    """
    check_dask()
    import dask

    # Keep ids as Python objects: dask would turn them into strings ("7" for 7).
    with dask.config.set({"dataframe.convert-string": False}):
        yield from _score_with_dask(files, model_dir, labels, rows_per_partition, scheduler, workers,
                                    how or LoadOptions(), whole_documents, model)


def _score_with_dask(files, model_dir, labels, rows_per_partition, scheduler, workers, how,
                     whole_documents=False, model=None):
    import dask.dataframe as dd

    if STDIN in files:
        raise PipelineError("--engine dask reads files; score stdin with the local engine")
    parts = plan_partitions(files, rows_per_partition, whole_documents)
    if not parts:
        return
    frame = dd.from_map(read_partition, parts, meta=_meta([]), enforce_metadata=False)
    scored = frame.map_partitions(score_partition, str(model_dir), how, meta=_meta(labels), enforce_metadata=False)
    tasks = scored.to_delayed()
    columns = [f"score_{label}" for label in labels]
    with _dask_client(scheduler, workers, model, (str(model_dir), how)) as client:
        client.run(_load_on_worker, str(model_dir), how)  # every worker loads it now, in parallel
        in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        for _, frame in in_order(((None, client.compute(task)) for task in tasks), in_flight):
            say(frame.attrs.get(SAID, ()))
            yield _from_frame(frame, columns)


def score_partitions_with_dask(todo, model_dir: Path, scheduler: str | None, workers: int, how: LoadOptions,
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
                            args=(str(model_dir), how, target), meta=meta, enforce_metadata=False)
        tasks = frame.to_delayed()
    with _dask_client(scheduler, workers, model, (str(model_dir), how)) as client:
        client.run(_load_on_worker, str(model_dir), how)  # every worker loads it now, in parallel
        in_flight = 2 * max(1, len(client.scheduler_info()["workers"]))
        for path, counts in in_order(((path, client.compute(task)) for path, task in zip(paths, tasks)), in_flight):
            say(counts.attrs.get(SAID, ()))
            yield path, int(counts["sentences"].iloc[0])


def _score_part_on_worker(part: tuple, skip: int, path: str, model_dir: str, how: LoadOptions, target: WorkTarget):
    count = score_part_to_file(_load_on_worker(model_dir, how), part, skip, Path(path), target)
    return _with_said(_counts_frame(count))


def _counts_frame(count: int):
    import pandas as pd

    return pd.DataFrame({"sentences": pd.Series([count], dtype="int64")})


@contextmanager
def _dask_client(scheduler: str | None, workers: int, model=None, key: tuple | None = None):
    """A client of `scheduler`, or of a LocalCluster of `workers` single-threaded processes; closed on exit.

    Given the `model` already loaded here (and its `key`: folder and LoadOptions), LocalCluster
    workers are forked from this process
    (where the platform can fork) and start with it in memory: no worker imports scikit-learn
    or loads the model again, which on two cores took longer than scoring 100k sentences.
    """
    import logging
    import multiprocessing

    import dask
    from distributed import Client, LocalCluster

    global _starting_workers
    if scheduler:
        try:
            cluster, client = None, Client(scheduler)
        except (OSError, ValueError, TypeError) as exc:  # refused, timed out, or not an address
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            where = cut(scheduler, PATH_CHARS)
            raise SchedulerUnreachable(f"--scheduler: cannot connect to {where}: {reason}") from None
    else:
        settings = {}
        if model is not None and "fork" in multiprocessing.get_all_start_methods():
            _models_by_path[key] = model
            settings["distributed.worker.multiprocessing-method"] = "fork"
        _quiet_forked_workers()
        _starting_workers = True
        try:
            with dask.config.set(settings):
                # Worker logs are silenced: task errors come back here, and a stopped run's
                # workers would otherwise print a traceback each about the closed scheduler.
                # No dashboard; the scheduler's own HTTP routes on any free local port, not 8787,
                # which a second run at once would find taken and print a warning about.
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                       silence_logs=logging.CRITICAL)
            client = Client(cluster)
        except BaseException:
            _starting_workers = False
            raise
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        _starting_workers = False


_starting_workers = False  # True while this process forks LocalCluster workers
_fork_hook_registered = False


def _quiet_forked_workers() -> None:
    """LocalCluster workers forked from here leave SIGINT to this process and die at SIGTERM,
    rather than running this process's handlers (pipeline.common.errors.stopping_signals)."""
    import os

    global _fork_hook_registered
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_registered = True


def _after_fork_in_child() -> None:
    if _starting_workers:
        from pipeline.common.errors import quiet_worker_signals

        quiet_worker_signals()


def read_partition(part: tuple, skip: int = 0):
    """The sentences of one partition as a DataFrame (run on a worker)."""
    return _with_said(_frame(partition_items(part, skip)))


def score_partition(frame, model_dir: str, how: LoadOptions | None = None):
    """Add a score column per label (run on a worker, with the worker's copy of the model)."""
    model = _load_on_worker(model_dir, how or LoadOptions())
    if len(frame):
        probabilities = model.predict_items(list(zip(frame["doc_id"], frame["sentence_index"], frame["text"])))
        for j, label in enumerate(model.labels):
            frame[f"score_{label}"] = probabilities[:, j]
    return _with_said(frame)


def _with_said(frame):
    """`frame` carrying the pipeline warnings this worker kept (its attrs travel back with it), for the
    main process to say each once; printed by each worker, a warning meant once a run came once a worker."""
    frame.attrs[SAID] = [*frame.attrs.get(SAID, ()), *taken_warnings()]
    return frame


def _load_on_worker(model_dir: str, how: LoadOptions):
    """Each worker checks trust in its own machine's store (pipeline.trust), or is told to trust;
    it keeps its pipeline warnings for the main process from now on."""
    send_warnings_back()
    key = (model_dir, how)
    if key not in _models_by_path:
        _models_by_path[key] = how.load(model_dir)
        import gc

        gc.freeze()  # as pipeline.score does: the collector need not scan the model again
    return _models_by_path[key]


def _from_frame(frame, columns: list[str]):
    items = list(zip(frame["doc_id"].tolist(), frame["sentence_index"].tolist(), frame["text"].tolist()))
    return items, frame[columns].to_numpy(dtype=float) if len(frame) else empty_scores(columns)


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
