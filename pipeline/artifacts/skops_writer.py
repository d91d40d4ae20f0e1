"""model.skops written by a helper process, so training does not wait for skops.

`import skops.io` imports every scikit-learn estimator module: 2-3 s here (and 5 s more
for torch, which `skops_state.skops_io` keeps out), longer than writing the file. A training
run on a large corpus starts a `SkopsWriter` before the fit, so that import runs on the other
core; after the fit the writer gets the model (vocabularies already as arrays,
pipeline.artifacts.skops_state, so it pickles in a blink) and writes model.skops while the
reports are drawn, then model.joblib from the same copy (vocabularies back as
dicts): dumping a large vocabulary is a second of pickling the training process no longer
waits for. save_model then moves the finished files into the model folder.

The helper is this machine's own Python started by us; it reads only what we send it.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from pipeline.common.errors import DISK_FULL_ERRNOS, PipelineError

_HEADER = 8  # bytes of the request length


class SkopsWriter:
    """One helper process writing one model.skops; use as a context manager, which always stops it."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        code = f"import sys; sys.path.insert(0, {root!r}); from pipeline.artifacts.skops_writer import serve; serve()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.target: Path | None = None
        self.joblib_target: Path | None = None
        self.done: dict | None = None

    def submit(self, estimator, target: str | Path, joblib_target: str | Path | None = None) -> None:
        """Start writing `estimator` as skops to `target`, and with joblib to `joblib_target` if
        given (temporary names the caller owns)."""
        from pipeline.artifacts.skops_state import compact

        self.target = Path(target)
        self.joblib_target = Path(joblib_target) if joblib_target is not None else None
        request = pickle.dumps((compact(estimator), str(self.target), joblib_target and str(joblib_target)),
                               protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.process.stdin.write(len(request).to_bytes(_HEADER, "little") + request)
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # result() reports how the helper ended

    @property
    def submitted(self) -> bool:
        return self.target is not None

    def result(self) -> dict:
        """Wait for the files: {"path", "sha256", "bytes"} of model.skops, and under "joblib" the
        same for model.joblib when asked for; a failure is a PipelineError."""
        if self.done is None:
            line = self.process.stdout.readline()
            code = self.process.wait()
            try:
                reply = json.loads(line)
            except ValueError:
                raise PipelineError(f"{self.target}: the skops writer stopped (exit code {code})") from None
            if "error" in reply:
                if reply.get("errno") in DISK_FULL_ERRNOS:  # the caller names the model folder
                    raise OSError(reply["errno"], reply.get("strerror") or reply["error"])
                raise PipelineError(f"{self.target}: cannot write model.skops ({reply['error']})")
            self.done = reply
        return self.done

    def __enter__(self) -> SkopsWriter:
        return self

    def __exit__(self, *exc) -> None:
        """Stop the helper; a file it wrote that nobody took is removed."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream and not stream.closed:
                stream.close()
        for target in (self.target, self.joblib_target):
            if target is not None:
                target.unlink(missing_ok=True)


def serve() -> None:
    """The helper: import skops, then write the one model it is sent and reply with one JSON line."""
    import zipfile

    import joblib

    from pipeline.artifacts.skops_state import expand, skops_io

    sio = skops_io()  # the slow import, done while the parent fits

    stdin, stdout = sys.stdin.buffer, sys.stdout
    header = stdin.read(_HEADER)
    if len(header) < _HEADER:
        return  # the parent stopped without a model
    request = stdin.read(int.from_bytes(header, "little"))
    try:
        estimator, target, joblib_target = pickle.loads(request)
        # Deflated at level 1: the vocabulary text shrinks, at no cost in time.
        reply = _write_synced(target, lambda handle: sio.dump(
            estimator, handle, compression=zipfile.ZIP_DEFLATED, compresslevel=1))
        if joblib_target is not None:  # the fitted model as it was in the parent
            reply["joblib"] = _write_synced(joblib_target, lambda handle: joblib.dump(expand(estimator), handle))
    except Exception as exc:  # reported by the parent as one line
        reply = {"error": f"{type(exc).__name__}: {exc}"}
        if isinstance(exc, OSError):
            reply.update(errno=exc.errno, strerror=exc.strerror)
    stdout.write(json.dumps(reply) + "\n")
    stdout.flush()


def _write_synced(path: str, write) -> dict:
    """`write(handle)` into `path`, flushed to disk; the file's path, sha256 and size."""
    from pipeline.artifacts.folder import sha256_file

    with open(path, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    return {"path": path, "sha256": sha256_file(Path(path)), "bytes": Path(path).stat().st_size}
