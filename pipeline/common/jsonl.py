"""JSON Lines read strictly: every bad line named by file and line number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from pipeline.common.errors import PipelineError
from pipeline.common.textio import check_not_binary


def check_json_lines(file: Path) -> list[int]:
    """Every non-blank line must be one JSON object; name the first line that is not.

    Returns the line number of each object, in order.
    """
    lines = [number for number, _ in iter_json_lines(file)]
    if not lines:
        raise PipelineError(f"{file}: empty file, no JSON objects")
    return lines


def iter_json_lines(file: Path, problems: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file.

    A bad line raises PipelineError naming it; with a `problems` list, its message is
    appended there instead and reading goes on, so a checker can report every bad line.
    A UTF-8 byte order mark and Windows line ends are read as usual; a binary file is an error.
    """

    def bad(message: str) -> None:
        if problems is None:
            raise PipelineError(message)
        problems.append(message)

    for number, line in _text_lines(file, bad):
        if not line.strip():
            continue
        if "\x00" in line:
            bad(_nul_message(file, number, line))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = " (a JSON array? write one JSON object per line)" if number == 1 and line.lstrip().startswith("[") else ""
            bad(f"{file}: line {number}: not valid JSON ({exc.msg} at column {exc.colno}){hint}")
            continue
        if not isinstance(record, dict):
            hint = "; the file holds a JSON array, not JSON Lines" if isinstance(record, list) else ""
            bad(f"{file}: line {number}: expected one JSON object per line, got {type(record).__name__}{hint}")
            continue
        yield number, record


def check_text_lines(file: Path) -> None:
    """A CSV file must be UTF-8 text without NUL bytes, with at least one line."""

    def bad(message: str) -> None:
        raise PipelineError(message)

    filled = 0
    for number, line in _text_lines(file, bad):
        if "\x00" in line:
            bad(_nul_message(file, number, line))
        filled += bool(line.strip())
    if filled == 0:
        raise PipelineError(f"{file}: empty file")
    if filled == 1:
        raise PipelineError(f"{file}: no rows below the header line")


def _nul_message(file: Path, number: int, line: str) -> str:
    return f"{file}: line {number}: NUL byte at column {line.index(chr(0)) + 1}"


def _text_lines(file: Path, bad) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file, the byte order mark dropped; an undecodable line goes to `bad`."""
    try:
        with open(file, "rb") as handle:
            check_not_binary(file, handle.read(8192), "a data file")
            handle.seek(0)
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad(f"{file}: line {number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
                    continue
                yield number, line
    except IsADirectoryError:
        raise PipelineError(f"{file}: is a folder, not a file") from None
    except OSError as exc:
        raise PipelineError(f"{file}: cannot read: {exc.strerror}") from None
