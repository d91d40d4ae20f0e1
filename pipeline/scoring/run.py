"""Scoring core: inputs read lazily, scored in batches (or by workers), written as they come.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import sys
from itertools import islice
from pathlib import Path

from pipeline.common.errors import DiskFull, PipelineError, is_disk_full, note_kept, warn
from pipeline.scoring.batching import batches
from pipeline.scoring.inputs import count_items, is_blank, iter_items, resolve_inputs
from pipeline.scoring.resumable import FileOutput, StdoutOutput

ENGINES = ("local", "dask")


@contextlib.contextmanager
def pandas_skipped():
    """Make `import pandas` fail inside the block, unless pandas is already imported.

    scikit-learn imports pandas (and with it pyarrow) whenever it is installed, about a second
    that a text model never uses; only use this in a process of its own that reads no Parquet,
    around loading the model. After it pandas is importable again: scikit-learn takes a None left
    in sys.modules for pandas itself (naive Bayes' predict_proba failed on `None.DataFrame`).
    """
    placed = "pandas" not in sys.modules
    if placed:
        sys.modules["pandas"] = None
    try:
        yield
    finally:
        if placed and "pandas" in sys.modules and sys.modules["pandas"] is None:
            del sys.modules["pandas"]


def _freeze_model_objects() -> None:
    """Keep the garbage collector from scanning the model's objects again and again.

    Scoring creates a few objects per sentence, so full collections come often, and each one
    walked every object of the model (a vocabulary of a million terms): 5-10% of the time of
    scoring a million sentences. The model lives until the process ends anyway, and forked
    workers (--jobs, LocalCluster) then share its memory pages instead of copying them.
    """
    import gc

    gc.freeze()


def _scored_batches(args, files, model, model_dir, labels, skip):
    """(items, probabilities) in input order, the first `skip` sentences left out."""
    from pipeline.artifacts.folder import card_input_kind

    if args.engine == "dask":
        from pipeline.scoring.dask_engine import LOCAL_CLUSTER_WORKERS, score_with_dask

        workers = args.jobs if args.jobs > 1 else LOCAL_CLUSTER_WORKERS
        whole_documents = card_input_kind(model_dir) == "records"
        scored = score_with_dask(files, model_dir, labels, args.batch_size, args.scheduler, workers,
                                 load_options(args), whole_documents, model)
        return _drop_first(scored, skip)
    items = islice(iter_items(files, args.text, args.batch_size), skip, None)
    chunks = batches(items, args.batch_size, whole_documents=getattr(model, "input_kind", "text") == "records")
    if args.jobs > 1:
        from pipeline.scoring.processes import score_in_processes

        return score_in_processes(chunks, model, model_dir, args.jobs, load_options(args))
    return ((batch, model.predict_items(batch)) for batch in chunks)


def _by_partitions(args, files, fmt: str) -> bool:
    """Whether workers read, score and write partitions of the input files themselves.

    Yes for --jobs N and dask over files to jsonl, csv or parquet. Not for --text, stdin or the
    html report; not for dask without -o (remote workers may not see a local temporary folder).
    """
    parallel = args.jobs > 1 or args.engine == "dask"
    return (parallel and not args.text and "-" not in files and fmt in ("jsonl", "csv", "parquet")
            and (args.output is not None or args.engine == "local"))


def _scored_partitions(args, files, model, model_dir, labels, skip, output, fmt):
    """(work file, sentences) per partition, in input order, the first `skip` sentences left out."""
    from pipeline.artifacts.folder import card_input_kind
    from pipeline.scoring.dask_engine import (
        LOCAL_CLUSTER_WORKERS,
        score_partitions_with_dask,
    )
    from pipeline.scoring.partitions import partition_size
    from pipeline.scoring.processes import (
        WorkTarget,
        partitions_to_do,
        score_partitions_in_processes,
    )

    whole_documents = card_input_kind(model_dir) == "records"
    workers = args.jobs if args.jobs > 1 else LOCAL_CLUSTER_WORKERS  # the local engine comes here with --jobs 2+
    todo = partitions_to_do(files, max(args.batch_size, MIN_PARTITION_ROWS), whole_documents, skip)
    if len(todo) < workers:  # fewer partitions than workers: cut smaller, so none sits idle
        remaining = sum(partition_size(part) - part_skip for part, part_skip in todo)
        rows = max(1, -(-remaining // workers))
        todo = partitions_to_do(files, rows, whole_documents, skip)
    target = WorkTarget(output.work_folder(), fmt, labels, args.batch_size, whole_documents)
    if args.engine == "dask":
        return score_partitions_with_dask(todo, model_dir, args.scheduler, workers, load_options(args), target, model)
    return score_partitions_in_processes(todo, model, model_dir, workers, load_options(args), target)


def load_options(args):
    """How workers load the model: --trust and --precision."""
    from pipeline.artifacts.loading import LoadOptions

    return LoadOptions(trust=args.trust, scoring_precision=args.precision)


MIN_PARTITION_ROWS = 10_000  # sentences per partition at least (a work file and a commit each), unless
# that leaves workers idle: then the input is shared out evenly, a partition per worker


def _append_all(results, output, skip: int, files, args) -> int:
    done = skip
    with _progress(files, args.text, skip) as bar:
        for path, count in results:
            done += count
            output.append_work(path, done)
            if bar is not None:
                bar.update(count)
    return done


def _write_all(scored, output, skip: int, files, args) -> int:
    done = skip
    with _progress(files, args.text, skip) as bar:
        for items, probabilities in scored:
            output.write(items, probabilities)
            done += len(items)
            output.commit(done)
            if bar is not None:
                bar.update(len(items))
    return done


def _progress(files, texts, skip: int):
    """A progress bar (sentences, sentences/s, ETA) on a terminal; nothing in pipes."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from tqdm import tqdm

    return tqdm(total=count_items(files, texts), initial=skip, unit=" sentences",
                file=sys.stderr, smoothing=0.1)


def _drop_first(scored, skip: int):
    for items, probabilities in scored:
        if skip >= len(items):
            skip -= len(items)
            continue
        yield items[skip:], probabilities[skip:]
        skip = 0


def _check_output(output: str | None, resume: bool, force: bool, inputs: list[str]) -> Path | None:
    """The -o file, by the rule of every command (replaced only with --force, never an input);
    --resume needs one."""
    from pipeline.common.files import check_output

    if not output:
        if resume:
            raise PipelineError("--resume continues a run writing -o FILE; give the same -o")
        return None
    return check_output(output, force, inputs)


def _signature(files: list[str], texts: list[str], fmt: str, card: dict, precision: str | None = None) -> dict:
    """What a resumed run must share with the interrupted one."""
    def describe(name: str):
        if name == "-":
            return name
        stat = os.stat(name)
        return [str(Path(name).resolve()), stat.st_size, stat.st_mtime_ns]

    signature = {
        "inputs": [describe(name) for name in files],
        "texts": hashlib.sha256("\0".join(texts).encode("utf-8", "surrogateescape")).hexdigest(),  # bytes of argv
        "format": fmt,
        "model": card.get("sha256"),
    }
    if precision is not None:  # --precision: a resumed run scores the rest the same way
        signature["scoring_precision"] = precision
    return signature


FORMAT_OF_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".html": "html", ".htm": "html",
                    ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


def _format_for(output: str | None) -> str:
    if output:
        fmt = FORMAT_OF_SUFFIX.get(Path(output).suffix.lower())
        if fmt is None:
            warn(f"--output: {output}: its suffix names no format; writing JSONL (--format chooses another)")
        return fmt or "jsonl"
    return "table" if sys.stdout.isatty() else "jsonl"


def score(args, lean: bool = False) -> None:
    """Score the inputs the command line names (`args` of `pipeline.score`) and write the results.

    `lean` skips importing pandas when nothing needs it (a process of its own, see pandas_skipped).
    """
    from pipeline.artifacts.folder import card_input_kind, read_card
    from pipeline.artifacts.loading import default_model_dir, load_model, no_encoder_for
    from pipeline.artifacts.weights import holders

    inputs = list(args.inputs)
    if not inputs and not args.text:
        if sys.stdin.isatty():
            raise PipelineError("nothing to score: give files, folders, - for stdin, or --text")
        inputs = ["-"]
    files = resolve_inputs(inputs)
    out = _check_output(args.output, args.resume, args.force, inputs)
    fmt = args.format or _format_for(args.output)  # after the -o checks: a refusal is one line
    if out is not None:  # -o inside a folder being scored: its earlier output is not an input
        kept = [name for name in files if name in inputs or Path(name).resolve() != out.resolve()]
        if len(kept) < len(files):  # there only with --force: it may be a real input, replaced
            warn(f"--output: {out} is in a folder being scored: left out of the inputs as earlier output, "
                 "and replaced (--force)")
        files = kept
    if args.resume and "-" in files:
        raise PipelineError("--resume cannot replay stdin; give the input as a file")
    if args.engine == "dask":
        from pipeline.scoring.dask_engine import check_dask

        check_dask()
        if args.text:
            raise PipelineError("--engine dask reads files; score --text with the local engine")
    model_dir = Path(args.model or default_model_dir())
    model = card = None
    if args.resume and fmt == "html":
        raise PipelineError("--resume works with jsonl, csv and parquet output, not html")
    # The html report explains with the model itself; LocalCluster workers are forked with it.
    if args.engine == "local" or fmt == "html" or not args.scheduler:
        # pyarrow's pandas shim breaks on a skipped pandas; context models take a DataFrame
        lean = (lean and args.engine == "local" and fmt != "parquet"
                and not any(f.lower().endswith(".parquet") for f in files) and card_input_kind(model_dir) != "records")
        with pandas_skipped() if lean else contextlib.nullcontext():
            model = load_model(model_dir, trust=args.trust, scoring_precision=args.precision)
        if model.card.get("weights"):  # fine-tuned encoders: with --jobs and Dask the workers score, never saying it
            for encoder in holders(model.estimator):
                encoder.warn_if_slow()
        _freeze_model_objects()
        labels, card = model.labels, model.card
    else:
        card = read_card(model_dir)
        labels = [str(label) for label in card["labels"]]
        if args.precision == "bf16" and not card.get("weights"):  # workers load it: say so here first
            raise no_encoder_for(model_dir, args.precision)

    blank = [name for name in files if is_blank(name)]  # said once nothing else refuses the run
    for name in blank:
        warn(f"{name}: no sentences (the file is empty or blank)")
    output = (FileOutput(out, fmt, labels, _signature(files, args.text, fmt, card, args.precision), args.resume, model)
              if out else StdoutOutput(fmt, labels, model))
    skip = output.committed_items
    try:
        by_partitions = _by_partitions(args, files, fmt)
        results = (_scored_partitions(args, files, model, model_dir, labels, skip, output, fmt) if by_partitions
                   else _scored_batches(args, files, model, model_dir, labels, skip))
        # Closed before the output is: workers (processes, a Dask cluster) stop writing first.
        with contextlib.closing(results):
            if by_partitions:
                done = _append_all(results, output, skip, files, args)
            else:
                done = _write_all(results, output, skip, files, args)
        output.finish(done)
        if done == 0 and (args.text or len(blank) < len(files)):  # blank files were named above
            warn(f"no sentences to score in {_named(files, args.text)}; the output is empty")
    except DiskFull as exc:
        raise _disk_full(output, out, exc, args) from None
    except PipelineError as exc:
        from pipeline.scoring.dask_engine import SchedulerUnreachable

        if isinstance(exc, SchedulerUnreachable) and output.committed_items:
            output.close_for_resume()  # not bad input: a resumed run's committed sentences stay
            raise SchedulerUnreachable(f"{exc}; {output.kept(resume_command(args))}") from None
        output.abandon()
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (pipeline.common.errors.Terminated)
        output.close_for_resume()
        note_kept(exc, output.kept(resume_command(args)))
        raise
    except OSError as exc:
        if not is_disk_full(exc):
            output.close_for_resume()
            raise
        raise _disk_full(output, out, DiskFull(out or "stdout", exc), args) from None
    except BaseException:
        output.close_for_resume()
        raise


def _named(files: list[str], texts: list[str]) -> str:
    """The inputs, for a message: their names (the first three and how many more)."""
    names = [*(["--text"] if texts else []), *("stdin" if name == "-" else name for name in files)]
    more = f" and {len(names) - 3:,} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _disk_full(output, out: Path | None, exc: DiskFull, args) -> DiskFull:
    """The one line for a full disk: which path, and for -o what is kept and how to go on."""
    output.close_for_resume()  # frees what was written after the last commit
    if out is None or not output.resumable:
        return DiskFull(exc.path, reason=exc.reason, advice="nothing was kept; free some space and run it again")
    inside = Path(exc.path).resolve().is_relative_to(output.partial.resolve())
    return DiskFull(out if inside else exc.path, reason=exc.reason,
                    advice=f"{output.committed():,} sentences are committed in {output.partial}; "
                    f"free some space, then continue with: {resume_command(args)}")


def resume_command(args) -> str:
    """The command line that continues this run: the same arguments, with --resume."""
    argv = list(getattr(args, "argv", None) or [])
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(["python", "-m", "pipeline.score", *argv])
