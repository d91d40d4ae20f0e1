"""One kind of error for bad input, shown to users as a single line."""

from __future__ import annotations

import functools
import os
import sys


class PipelineError(Exception):
    """Bad input or configuration; the message names the file, line or key."""


EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    """Print one line on stderr and exit with the bad-input code."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def reports_errors(func):
    """Turn a PipelineError raised by a command into one stderr line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            fail(str(exc))
        except BrokenPipeError:
            # The reader went away (| head); stop quietly like other Unix tools.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130)

    return wrapper
