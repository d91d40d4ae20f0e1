"""One kind of error for bad input, shown to users as a single line."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings


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


class PipelineWarning(UserWarning):
    """Something was read or loaded in a way the user should know about; work goes on."""


def warn(message: str) -> None:
    """Warn once per distinct message; commands print it as one `warning: ...` line."""
    warnings.warn(message, PipelineWarning, stacklevel=2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one `error: ...` line and exit code 2, like bad input."""

    def error(self, message: str):
        fail(f"{message} (see {self.prog} --help)")


EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    """Print one line on stderr and exit with the bad-input code."""
    print(f"error: {readable(message)}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def reports_errors(func):
    """Turn a PipelineError raised by a command into one stderr line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, PipelineWarning):
        print(f"warning: {readable(str(message))}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
