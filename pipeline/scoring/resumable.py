"""Scored sentences written as they come, to stdout or to a file that appears only when complete.

With `-o FILE` the output goes into a hidden `.FILE.partial/` folder next to FILE, with a
`progress.json` sidecar recording how many input sentences are fully written (and the byte
offset, or Parquet part, where they end). FILE appears only when the run is complete, by rename.
`--resume` truncates the partial output to the last committed point and skips that many
sentences, so an interrupted run continues with no sentence lost or written twice. A lock
file in the partial folder keeps a second run from writing the same output at once.

Against a process that dies (a signal, a full disk, SIGKILL) every committed sentence is kept;
the files are not synced to disk at each commit (that cost a third of the scoring speed), so a
power cut may lose recent commits, which --resume then notices.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from pipeline.common import atomic
from pipeline.common.errors import DiskFull, PipelineError, is_disk_full, warn
from pipeline.scoring.writers import arrow_table, empty_scores, make_text_writer

PROGRESS_FILE = "progress.json"
DATA_FILE = "data"
MERGED_FILE = "merged.parquet"
LOCK_FILE = "lock"
PARQUET_PART_ROWS = 65_536  # rows per Parquet part (and row group): bounds memory and redo on resume
# Parts are read back once, by this machine: plain pages are written and read 2-3x faster.
PART_OPTIONS = {"compression": "none", "use_dictionary": False}


class StdoutOutput:
    """Scores to stdout: nothing to commit or resume."""

    committed_items = 0
    resumable = False

    def __init__(self, fmt: str, labels: Sequence[str], model=None):
        if fmt == "parquet":
            raise PipelineError("--format parquet writes a file: give -o FILE.parquet")
        self.writer = make_text_writer(sys.stdout, fmt, labels, header=True, model=model)
        self.work: Path | None = None
        self.written_items = 0

    def kept(self, resume_command: str) -> str:
        """What an interrupted run leaves: what went to stdout; nothing to resume."""
        return (f"{self.written_items:,} sentences were written to stdout; nothing to resume "
                "(score with -o FILE for a run that --resume can continue)")

    def write(self, items, probabilities) -> None:
        self.writer.write(items, probabilities)

    def work_folder(self) -> Path:
        """Where workers write scored partitions (a temporary folder, removed at the end)."""
        import tempfile

        if self.work is None:
            self.work = Path(tempfile.mkdtemp(prefix="rhetoric-score-"))
        return self.work

    def append_work(self, path: Path, items_done: int) -> None:
        sys.stdout.flush()
        with open(path, "rb") as part:
            shutil.copyfileobj(part, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        path.unlink()
        self.written_items = items_done

    def commit(self, items_done: int) -> None:
        sys.stdout.flush()
        self.written_items = items_done

    def finish(self, items_done: int) -> None:
        self.writer.close()
        self._remove_work()

    def abandon(self) -> None:
        self._remove_work()

    def close_for_resume(self) -> None:
        self._remove_work()

    def _remove_work(self) -> None:
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)


class FileOutput:
    """Scores to `-o FILE` through a partial folder with a progress sidecar; see the module doc."""

    def __init__(self, out: Path, fmt: str, labels: Sequence[str], signature: dict, resume: bool, model=None):
        if fmt == "table":
            raise PipelineError("--format table is for the terminal; use jsonl, csv or parquet with -o")
        self.out, self.fmt, self.labels, self.model = out, fmt, list(labels), model
        self.resumable = fmt != "html"  # the page's head and tail wrap everything
        self.partial = out.parent / f".{out.name}.partial"
        self.progress = self.partial / PROGRESS_FILE
        state = {"signature": signature, "items": 0, "bytes": 0, "parts": 0}
        self.lock = None
        if self.partial.exists():
            self._lock()  # fails first if a live run holds the folder
            if not resume:
                self._unlock()
                raise PipelineError(
                    f"{out}: an interrupted run left {self.partial}; pass --resume to continue it "
                    "or delete that folder to start over"
                )
            try:
                state = self._read_state(signature)
            except PipelineError:
                self._unlock()
                raise
        else:
            if resume:  # a mistyped -o would otherwise start over in silence
                warn(f"--resume: no interrupted run of {out} to continue ({self.partial.name} is not beside it); "
                     "scoring from the start")
            try:
                self.partial.mkdir()
            except FileExistsError:
                raise PipelineError(f"{out}: another run started writing it at the same moment") from None
            except OSError as exc:
                raise _write_error(self.partial, exc) from None
            self._lock()
            try:
                self._write_state(state)
            except BaseException:
                shutil.rmtree(self.partial, ignore_errors=True)  # nothing to resume yet
                raise
        self.state = state
        self.committed_items = state["items"]
        self.writer_thread, self.pending = None, None  # Parquet parts are written on a thread
        self._remove_work_files()
        if fmt == "parquet":
            self._open_parquet_parts()
        else:
            self._open_text_data()

    # --- text formats: one data file, truncated to the committed byte offset on resume
    def _open_text_data(self) -> None:
        path = self.partial / DATA_FILE
        self.raw = open(path, "r+b" if path.exists() else "w+b")
        if os.fstat(self.raw.fileno()).st_size < self.state["bytes"]:
            self.raw.close()
            raise PipelineError(f"{path}: shorter than {PROGRESS_FILE} records (was the machine cut off?); "
                                f"delete {self.partial} to start over")
        self.raw.truncate(self.state["bytes"])
        self.raw.seek(self.state["bytes"])
        self.stream = io.TextIOWrapper(self.raw, encoding="utf-8", newline="", write_through=True)
        self.writer = make_text_writer(self.stream, self.fmt, self.labels, header=self.state["bytes"] == 0,
                                       model=self.model)

    # --- work files: partitions scored and written by workers (--jobs, dask), appended in order
    def work_folder(self) -> Path:
        return self.partial

    def append_work(self, path: Path, items_done: int) -> None:
        """Put a worker's finished file of scored rows at the end of the output, and commit."""
        if self.fmt == "parquet":
            number = self.state["parts"]
            os.replace(path, self.partial / f"part-{number:05d}.parquet")
            self.state["parts"] = number + 1
            self._merge_new_parts()
        else:
            self.stream.flush()
            with open(path, "rb") as part:
                shutil.copyfileobj(part, self.raw, 1 << 20)
            path.unlink()
            self.raw.flush()
            self.state["bytes"] = self.raw.tell()
        self.state["items"] = items_done
        self._write_state(self.state)

    def _remove_work_files(self) -> None:
        """Work files and hidden temporaries written after the last commit: scored again."""
        for pattern in ("work-*", ".work-*", ".*.tmp", "*.tmp"):
            for path in self.partial.glob(pattern):
                path.unlink(missing_ok=True)

    # --- Parquet: numbered part files, each written whole; merged into one file at the end
    def _open_parquet_parts(self) -> None:
        for part in self.partial.glob("part-*.parquet"):
            if _part_number(part) >= self.state["parts"]:
                part.unlink()  # written after the last commit
        self.buffer: list = []
        self.buffered_rows = 0
        self.merged, self.merged_parts = None, 0

    def write(self, items, probabilities) -> None:
        if self.fmt == "parquet":
            self.buffer.append(arrow_table(items, probabilities, self.labels))
            self.buffered_rows += len(items)
        else:
            self.writer.write(items, probabilities)

    def commit(self, items_done: int, final: bool = False) -> None:
        """Record that the first `items_done` input sentences are fully written."""
        if self.fmt == "parquet":
            if self.buffered_rows < PARQUET_PART_ROWS and not (final and self.buffer):
                return
            import pyarrow as pa

            table = pa.concat_tables(self.buffer)
            self.buffer, self.buffered_rows = [], 0
            self._in_background(self._write_part, table, items_done)
            return
        self.stream.flush()
        self.state["bytes"] = self.raw.tell()
        self.state["items"] = items_done
        self._write_state(self.state)

    def _in_background(self, job, *args) -> None:
        """Run `job` on the writer thread once the previous one is done (one part in hand at a
        time). pyarrow encodes, compresses and writes without holding the GIL, so the next
        batches score meanwhile; the thread alone touches the parts and the state until waited for.
        """
        from concurrent.futures import ThreadPoolExecutor

        self._wait_for_writer()
        if self.writer_thread is None:
            self.writer_thread = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self.pending = self.writer_thread.submit(job, *args)

    def _wait_for_writer(self, raise_errors: bool = True) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            try:
                pending.result()
            except Exception:
                if raise_errors:
                    raise

    def _stop_writer(self, raise_errors: bool = True) -> None:
        try:
            self._wait_for_writer(raise_errors)
        finally:
            if self.writer_thread is not None:
                self.writer_thread.shutdown()
                self.writer_thread = None

    def _write_part(self, table, items_done: int) -> None:
        import pyarrow.parquet as pq

        number = self.state["parts"]
        # Not synced: the partial folder is kept against a process dying (see the module doc).
        with atomic.replacing_path(self.partial / f"part-{number:05d}.parquet", durable=False) as tmp:
            pq.write_table(table, tmp, **PART_OPTIONS)
        self.state["parts"] = number + 1
        if self.merged_parts == number:  # the usual case: append the table in hand, not its file
            self._append_merged(table)
        self._merge_new_parts()
        self.state["items"] = items_done
        self._write_state(self.state)

    def finish(self, items_done: int) -> None:
        """Commit the rest, then put the complete file in place and remove the partial folder."""
        self.commit(items_done, final=True)
        if self.fmt == "parquet":
            self._stop_writer()
            self._merge_new_parts()
            if self.merged is None:  # no sentence at all: an empty table with the columns
                self.merged = self._open_merged(arrow_table([], empty_scores(self.labels), self.labels).schema)
            self.merged.close()
            done = self.partial / MERGED_FILE
        else:
            self.writer.close()
            self.stream.close()
            done = self.partial / DATA_FILE
        os.replace(done, self.out)
        shutil.rmtree(self.partial, ignore_errors=True)
        self._unlock()

    def _merge_new_parts(self) -> None:
        """Copy committed parts not yet copied into the one output file, as they come.

        The parts stay until the end: the merged file is only readable once closed, so a
        resumed run merges them again. With workers scoring (--jobs, dask) this process is
        otherwise idle, so the copying costs no time at the end.
        """
        import pyarrow.parquet as pq

        while self.merged_parts < self.state["parts"]:
            self._append_merged(pq.read_table(self.partial / f"part-{self.merged_parts:05d}.parquet"))

    def _append_merged(self, table) -> None:
        if self.merged is None:
            self.merged = self._open_merged(table.schema)
        self.merged.write_table(table)  # one part in memory at a time
        self.merged_parts += 1

    def _open_merged(self, schema):
        import pyarrow.parquet as pq

        return pq.ParquetWriter(self.partial / MERGED_FILE, schema)

    def abandon(self) -> None:
        """Bad input mid-run: leave nothing half-written behind."""
        self._stop_writer(raise_errors=False)
        if self.fmt != "parquet":
            with contextlib.suppress(OSError):
                self.stream.close()
        shutil.rmtree(self.partial, ignore_errors=True)
        self._unlock()

    def close_for_resume(self) -> None:
        """Interrupted: keep the partial folder for --resume; what was written after the last
        commit (uncommitted rows, work files, temporaries) is removed, so a full disk gets back
        all the space the resumed run does not need."""
        self._stop_writer(raise_errors=False)
        if not self.resumable:
            self.abandon()
            return
        if self.fmt != "parquet":
            with contextlib.suppress(OSError):
                self.stream.close()
        with contextlib.suppress(OSError, ValueError, KeyError):
            self._drop_uncommitted(json.loads(self.progress.read_text(encoding="utf-8")))
        self._unlock()

    def _drop_uncommitted(self, committed: dict) -> None:
        """Cut the partial folder back to the state `progress.json` records (what --resume reads)."""
        self._remove_work_files()
        if self.fmt == "parquet":
            (self.partial / MERGED_FILE).unlink(missing_ok=True)  # rebuilt from the parts on resume
            for part in self.partial.glob("part-*.parquet"):
                if _part_number(part) >= committed["parts"]:
                    part.unlink()
        else:
            data = self.partial / DATA_FILE
            if data.stat().st_size > committed["bytes"]:
                os.truncate(data, committed["bytes"])

    def kept(self, resume_command: str) -> str:
        """What an interrupted run leaves behind, and how to continue it."""
        if not self.resumable:
            return f"nothing was kept: {self.out} (html) is written whole or not at all"
        return (f"{self.committed():,} sentences are committed in {self.partial}; "
                f"continue with: {resume_command}")

    def committed(self) -> int:
        """Sentences that progress.json, as on disk, says are complete."""
        try:
            return int(json.loads(self.progress.read_text(encoding="utf-8"))["items"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    # --- one writer at a time: an exclusive lock held while this run writes the partial folder
    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks
            return
        try:
            self.lock = open(self.partial / LOCK_FILE, "a")
        except OSError as exc:
            raise _write_error(self.partial / LOCK_FILE, exc) from None
        try:
            fcntl.flock(self.lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.lock.close()
            self.lock = None
            raise PipelineError(f"{self.out}: another run is writing it (its folder {self.partial} is locked); "
                                "wait for that run, or stop it and pass --resume") from None

    def _unlock(self) -> None:
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def _read_state(self, signature: dict) -> dict:
        try:
            state = json.loads(self.progress.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise PipelineError(f"{self.progress}: missing or unreadable; delete {self.partial} to start over") from None
        if state.get("signature") != signature:
            before = state.get("signature") or {}
            changed = sorted(k for k in {*signature, *before} if before.get(k) != signature.get(k))
            # "the model differs", "the inputs differ"
            verb = "differs" if len(changed) == 1 and not changed[0].endswith("s") else "differ"
            raise PipelineError(
                f"--resume: the {', '.join(changed)} {verb} from the interrupted run in {self.partial}; "
                "delete that folder to start over"
            )
        return state

    def _write_state(self, state: dict) -> None:
        # Rewritten at every commit, so not synced (see the module doc); replaced whole all the same.
        atomic.write_text(self.progress, json.dumps(state, indent=1) + "\n", durable=False)


def _write_error(path: Path, exc: OSError) -> PipelineError:
    if is_disk_full(exc):
        return DiskFull(path, exc)
    return PipelineError(f"{path}: cannot write: {exc.strerror}")


def _part_number(path: Path) -> int:
    return int(path.name.split("-")[1].split(".")[0])
