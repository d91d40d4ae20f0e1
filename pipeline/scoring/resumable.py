"""Scored sentences written as they come, to stdout or to a file that appears only when complete.

With `-o FILE` the output goes into a hidden `.FILE.partial/` folder next to FILE, with a
`progress.json` sidecar recording how many input sentences are fully written (and the byte
offset, or Parquet part, where they end). FILE appears only when the run is complete, by rename.
`--resume` truncates the partial output to the last committed point and skips that many
sentences, so an interrupted run continues with no sentence lost or written twice.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

from pipeline.common.errors import PipelineError
from pipeline.scoring.writers import arrow_table, empty_scores, make_text_writer

PROGRESS_FILE = "progress.json"
DATA_FILE = "data"
MERGED_FILE = "merged.parquet"
PARQUET_PART_ROWS = 65_536  # rows per Parquet part (and row group): bounds memory and redo on resume
# Parts are read back once, by this machine: plain pages are written and read 2-3x faster.
PART_OPTIONS = {"compression": "none", "use_dictionary": False}


class StdoutOutput:
    """Scores to stdout: nothing to commit or resume."""

    committed_items = 0

    def __init__(self, fmt: str, labels: Sequence[str], model=None):
        if fmt == "parquet":
            raise PipelineError("--format parquet writes a file: give -o FILE.parquet")
        self.writer = make_text_writer(sys.stdout, fmt, labels, header=True, model=model)
        self.work: Path | None = None

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

    def commit(self, items_done: int) -> None:
        sys.stdout.flush()

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
        if self.partial.exists():
            if not resume:
                raise PipelineError(
                    f"{out}: an interrupted run left {self.partial}; pass --resume to continue it "
                    "or delete that folder to start over"
                )
            state = self._read_state(signature)
        else:
            self.partial.mkdir()
            self._write_state(state)
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
        for path in self.partial.glob("work-*"):
            path.unlink()  # scored after the last commit: scored again

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
        tmp = self.partial / f"part-{number:05d}.parquet.tmp"
        pq.write_table(table, tmp, **PART_OPTIONS)
        os.replace(tmp, self.partial / f"part-{number:05d}.parquet")
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
            self.stream.close()
        shutil.rmtree(self.partial, ignore_errors=True)

    def close_for_resume(self) -> None:
        """Interrupted: keep the partial folder for --resume (with the part being written)."""
        self._stop_writer(raise_errors=False)
        if not self.resumable:
            self.abandon()
        elif self.fmt != "parquet":
            try:
                self.stream.close()
            except OSError:
                pass

    def _read_state(self, signature: dict) -> dict:
        try:
            state = json.loads(self.progress.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise PipelineError(f"{self.progress}: missing or unreadable; delete {self.partial} to start over") from None
        if state.get("signature") != signature:
            changed = sorted(k for k in signature if state.get("signature", {}).get(k) != signature[k])
            raise PipelineError(
                f"--resume: the {', '.join(changed)} differ from the interrupted run in {self.partial}; "
                "delete that folder to start over"
            )
        return state

    def _write_state(self, state: dict) -> None:
        tmp = self.progress.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.progress)


def _part_number(path: Path) -> int:
    return int(path.name.split("-")[1].split(".")[0])
