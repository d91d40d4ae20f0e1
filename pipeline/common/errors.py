"""One kind of error for bad input, shown to users as a single line; faults (a full disk,
SIGTERM, Ctrl-C) end the same way: one line on stderr and a known exit status."""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import os
import signal
import sys
import threading
import time
import warnings
from typing import Iterator


class PipelineError(Exception):
    """Bad input or configuration; the message names the file, line or key."""


# What a message shows of one value the user gave (a label, key or text; paths get more room
# since they are copied): enough to recognise it, never a 5,000-character line.
SHOWN_CHARS = 80
PATH_CHARS = 200


def cut(value, limit: int = SHOWN_CHARS) -> str:
    """`value` as text, its middle replaced by "…" when longer than `limit` (paths keep their file name)."""
    text = str(value)
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head):]}"


def quote(value, limit: int = SHOWN_CHARS) -> str:
    """A value the user gave, quoted as Python shows it and cut to `limit` characters (see `cut`),
    with its length when cut: 'aaaa…aaaa' (5,000 characters)."""
    if not isinstance(value, str):
        return cut(repr(value), limit)
    if len(value) <= limit:
        return repr(value)
    return f"{repr(cut(value, limit))} ({len(value):,} characters)"


def counted(n: int, noun: str) -> str:
    """A count with its noun: "1 document", "2 documents"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def readable(message: str) -> str:
    """A message as a line a person can read, whatever values went into it unquoted: quoted
    spans longer than SHOWN_CHARS and unbroken runs (paths) longer than PATH_CHARS are cut,
    and so is the whole line past MESSAGE_CHARS. Commands print every error and warning so."""
    import re

    def cut_quoted(match) -> str:
        mark, inner = match.group(1), match.group(2)
        return f"{mark}{cut(inner)}{mark} ({len(inner):,} characters)"

    # a quote that opens after a space or bracket and closes before one: not the apostrophe of "can't"
    message = re.sub(r"(?<!\w)(['\"])((?:(?!\1).){%d,})\1(?!\w)" % (SHOWN_CHARS + 1), cut_quoted, message)
    message = re.sub(r"\S{%d,}" % (PATH_CHARS + 1), lambda m: cut(m.group(0), PATH_CHARS), message)
    return cut(message, MESSAGE_CHARS)


MESSAGE_CHARS = 2000


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """An OSError saying the disk, or the user's quota, has no room left."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


class DiskFull(PipelineError):
    """A write failed for want of space; the message names the path and says what to do."""

    def __init__(self, path, exc: OSError | None = None, advice: str = "free some space and run the command again",
                 reason: str | None = None):
        self.path, self.advice = path, advice
        # The system's words for the errno: libraries (pyarrow) wrap it in their own text.
        self.reason = reason or os.strerror(exc.errno if exc is not None and exc.errno else errno.ENOSPC)
        super().__init__(f"{path}: disk full ({self.reason}); {advice}")

    def __reduce__(self):  # raised in worker processes and sent back whole
        return DiskFull, (self.path, None, self.advice, self.reason)


class PipelineWarning(UserWarning):
    """Something was read or loaded in a way the user should know about; work goes on."""

    def __init__(self, message: str, once: str | None = None):
        super().__init__(message)
        self.once = once  # see warn


def warn(message: str, once: str | None = None) -> None:
    """Warn once per distinct message, or with `once` once per process for that key whatever the message
    (a condition met again and again, named by its first case); commands print one `warning: ...` line.
    Scoring workers send theirs to the main process, which says each once (pipeline.scoring.processes)."""
    if once is not None:
        if once in _SAID:
            return
        _SAID.add(once)
    warnings.warn(PipelineWarning(message, once), stacklevel=2)


_SAID: set[str] = set()  # the `once` keys warned about in this process


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one `error: ...` line and exit code 2, like bad input."""

    def error(self, message: str):
        fail(f"{message} (see {self.prog} --help)")


EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as shells report Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as shells report a SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler stopping the job), raised like Ctrl-C so the same cleanup runs."""


def note_kept(exc: BaseException, what: str) -> None:
    """Say what an interrupted command kept; printed on its one `interrupted:`/`terminated:` line."""
    exc.kept = what


class Delivered:
    """Which stopping signal a `stopping_signals` block raised, if any (`signum`, else 0)."""

    signum = 0

    def as_exception(self) -> KeyboardInterrupt:
        return Terminated() if self.signum == signal.SIGTERM else Interrupted()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C as a `stopping_signals` block raises it: a KeyboardInterrupt that, unlike the
    built-in one, takes a weak reference, so the block can tell when it was dropped."""


@contextlib.contextmanager
def stopping_signals(before_raising=None) -> Iterator[Delivered]:
    """SIGINT raises KeyboardInterrupt and SIGTERM raises Terminated, once: a repeated signal
    during the cleanup that follows is ignored (SIGKILL still stops at once). A signal ignored
    when the command started (nohup, background jobs) stays ignored. Main thread only.
    `before_raising(signum)` runs first (to pass the signal on to worker processes, say).

    An exception that never reaches the block is sent again: Python drops one raised inside a
    __del__ or weakref callback, and C code that clears every error (PyObject_HasAttr calling a
    Python __getattr__) or a library catching everything swallows one; either way the signal
    would be lost and the command would go on.

    Yields a `Delivered`: library code that was cleaning up when the signal arrived can fail with
    an error of its own instead (OmegaConf does); the caller can tell it was the signal."""
    import weakref

    delivered = Delivered()
    if threading.current_thread() is not threading.main_thread():
        yield delivered
        return
    raised = passed_on = exited = landed = False
    raises = 0  # which raise is the current one

    def handler(signum, frame):
        nonlocal raised, passed_on, raises
        if raised:
            return
        if before_raising is not None and not passed_on:
            passed_on = True
            before_raising(signum)
        raised = delivered.signum = signum
        raises += 1
        exc = delivered.as_exception()
        exc.stop_number = raises
        weakref.finalize(exc, send_again, raises).atexit = False  # freed before it reached the block: dropped
        try:
            raise exc
        finally:
            del exc  # no cycle through this frame: a dropped exception is freed at once

    handler.stops = True

    def send_again(number: int) -> None:
        nonlocal raised
        if landed or not raised or number != raises:
            return
        signum, raised = raised, False
        # From another thread a moment later: sent from here it could land where the first one
        # was dropped. Once the block has exited, only to an enclosing block (a sweep's, around
        # its job's); never at exit (a daemon thread).
        timer = threading.Timer(0.01, lambda: (not exited or _handled_by_a_block(signum))
                                and os.kill(os.getpid(), signum))
        timer.daemon = True
        timer.start()

    def unraisable(info):
        """Raised inside a __del__ or weakref callback, the exception is dropped: not printed, sent again."""
        number = getattr(info.exc_value, "stop_number", None)
        if number is None:
            previous_hook(info)
        else:
            send_again(number)

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if current is not signal.SIG_IGN and current is not None:
            previous[signum] = signal.signal(signum, handler)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield delivered
    except BaseException:
        landed = True
        raise
    finally:
        exited = True
        sys.unraisablehook = previous_hook
        for signum, old in previous.items():
            signal.signal(signum, old)


def quiet_worker_signals() -> None:
    """For worker processes of a pool: Ctrl-C (sent to the whole terminal group) is left to the
    main process, which stops the workers; SIGTERM ends a worker at once, without a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stopped(exc: KeyboardInterrupt) -> None:
    """Print the one line of an interrupted command (what it kept, if it said) and exit 130/143.

    A command running in a worker process of another one (a Hydra launcher's job) prints
    nothing and ends its process once cleaned up, so the pool takes no further job: the process
    that started it prints the line."""
    import multiprocessing

    terminated = isinstance(exc, Terminated)
    code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    if multiprocessing.parent_process() is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    line = "terminated (SIGTERM)" if terminated else "interrupted"
    kept = getattr(exc, "kept", None)
    print(f"{line}: {kept}" if kept else line, file=sys.stderr)
    # CPython marks a KeyboardInterrupt that ends code run from a string (exec(str): dataclasses and
    # namedtuple build methods so) as unhandled, even once caught, and `python -m` then ends by
    # killing itself with SIGINT (-2) instead of this exit code. A string exec clears that mark.
    exec("")  # noqa: S102 (an empty string, on purpose)
    raise SystemExit(code)


def fail(message: str) -> None:
    """Print one line on stderr and exit with the bad-input code."""
    print(f"error: {readable(message)}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def reports_errors(func):
    """Turn a PipelineError (or a full disk) raised by a command into one stderr line and exit
    code 2; SIGINT and SIGTERM into one line and exit code 130 or 143 (see `stopping_signals`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings(), stopping_signals():
                warnings.showwarning = _show_warning
                return func(*args, **kwargs)
        except PipelineError as exc:
            fail(str(exc))
        except BrokenPipeError:
            # The reader went away (| head); stop quietly like other Unix tools.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1)
        except KeyboardInterrupt as exc:
            if not hasattr(exc, "kept") and _inside_another_block():
                # A job run inside a sweep's process (Hydra's basic launcher), stopped before it
                # had anything to say: the sweep says what was kept, on its one line.
                raise
            stopped(exc)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG and exc.filename is not None:  # a path any command was given
                fail(f"{exc.filename}: {exc.strerror}")
            if not is_disk_full(exc):
                raise
            # A write no stage wrapped: name the file when the error does.
            fail(str(DiskFull(exc.filename or "a file being written", exc)))
        finally:
            _between_jobs()

    return wrapper


def _handled_by_a_block(signum: int) -> bool:
    """Whether a `stopping_signals` block's handler takes this signal now."""
    return getattr(signal.getsignal(signum), "stops", False)


def _inside_another_block() -> bool:
    """Whether a `stopping_signals` block of an enclosing command (a sweep's) handles signals now."""
    return any(_handled_by_a_block(signum) for signum in (signal.SIGINT, signal.SIGTERM))


def _between_jobs() -> None:
    """In a launcher's worker process (hydra/launcher=joblib), once a job has ended: SIGTERM and
    Ctrl-C end the worker, but never while it hands the job's result back to the launcher. A
    worker killed halfway through that message leaves the pool's reader waiting for the rest
    forever, and the stopped sweep hangs instead of ending."""
    import multiprocessing

    if multiprocessing.parent_process() is None or threading.current_thread() is not threading.main_thread():
        return

    def end_worker(signum, frame):
        code = 128 + signum
        if not _handing_back(frame):
            os._exit(code)
        main = threading.main_thread().ident

        def end_once_handed_back():
            while _handing_back(sys._current_frames().get(main)):
                time.sleep(0.005)
            os._exit(code)

        threading.Thread(target=end_once_handed_back, daemon=True).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, end_worker)


def _handing_back(frame) -> bool:
    """Whether a stack is inside a process queue's `put` (pickling and sending a result)."""
    while frame is not None:
        if frame.f_code.co_name == "put" and os.path.basename(frame.f_code.co_filename) == "queues.py":
            return True
        frame = frame.f_back
    return False


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, PipelineWarning):
        print(f"warning: {readable(str(message))}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
