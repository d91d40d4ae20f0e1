"""The one JSON Lines reader, strict for labeled data and forgiving for text to score, and the
one way records are written as JSON lines (json_line).

Both modes read one JSON object per non-blank line, drop a UTF-8 byte order mark, read Windows
line ends as usual, refuse a binary file, and name the file and line of a line that is not a
JSON object. They differ in what they do with bytes that are not text:

- strict (labeled data: training, validation, agreement, --exclude): a line that is not UTF-8,
  holds a NUL byte or a lone surrogate escape is an error naming it;
- forgiving (sentences to score: score, suggest): undecodable bytes and lone surrogates
  (`\\ud800` escapes, which no UTF-8 output can hold) are replaced with U+FFFD and NUL bytes read
  as spaces, each kind reported once per file as a warning, since what can be read should be scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

from pipeline.common.errors import PATH_CHARS, PipelineError, cut, quote, warn
from pipeline.common.textio import check_not_binary, check_not_utf16, without_surrogates

_BOM = b"\xef\xbb\xbf"
_REPLACEMENT = b"\xef\xbf\xbd"  # U+FFFD already in the file: not a repair of ours


# Characters str.splitlines() (and JavaScript before ES2019) read as line ends that json.dumps leaves
# raw: a sentence holding one broke its record in two for such readers.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(record) -> str:
    """`record` as one line of JSON Lines, newline included: UTF-8 text kept as written, except the
    characters other readers take for line ends, which are escaped."""
    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


def read_json_lines(
    file: Path,
    *,
    forgiving: bool = False,
    problems: list[str] | None = None,
    start_byte: int = 0,
    first_line: int = 1,
    max_records: int | None = None,
) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON Lines file (see the module doc).

    A bad line raises PipelineError naming file and line; with a `problems` list its message is
    appended there instead and reading goes on, so a checker can report every bad line. A
    partition of a file starts at `start_byte`, on line `first_line`, and holds at most
    `max_records` non-blank lines.
    """

    def bad(message: str) -> None:
        if problems is None:
            raise PipelineError(message)
        problems.append(message)

    records = 0
    for number, line in _text_lines(Path(file), bad, forgiving, start_byte, first_line):
        if not line.strip():
            continue
        if max_records is not None and records >= max_records:
            return
        records += 1
        if "\x00" in line:  # forgiving reading has made them spaces already
            bad(_nul_message(file, number, line))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = " (a JSON array? write one JSON object per line)" if number == 1 and line.lstrip().startswith("[") else ""
            bad(f"{_where(file, number)}: not valid JSON ({exc.msg} at column {exc.colno}){hint}")
            continue
        except (ValueError, RecursionError) as exc:  # json's limits, which raise no JSONDecodeError
            limit = "nested too deeply" if isinstance(exc, RecursionError) else "a number of over 4,300 digits"
            bad(f"{_where(file, number)}: not valid JSON ({limit})")
            continue
        if not isinstance(record, dict):
            hint = "; the file holds a JSON array, not JSON Lines" if isinstance(record, list) and number == 1 else ""
            bad(f"{_where(file, number)}: expected one JSON object per line, got {type(record).__name__}{hint}")
            continue
        if ("\\ud" in line or "\\uD" in line) and (repaired := _without_surrogates(record)) != record:
            if not forgiving:  # datasets (Arrow) cannot read it either
                bad(f"{_where(file, number)}: a lone surrogate escape (\\ud800-\\udfff: half of a character pair)")
                continue
            warn(f"{cut(file, PATH_CHARS)}: lone surrogates (\\ud800-\\udfff escapes) were replaced with \ufffd")
            record = repaired
        yield number, record


def _without_surrogates(value):
    """A parsed JSON value with each lone surrogate replaced with U+FFFD (json.loads joins true pairs)."""
    if isinstance(value, str):
        return without_surrogates(value)
    if isinstance(value, dict):
        return {_without_surrogates(key): _without_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    return value


def check_json_lines(file: Path) -> list[int]:
    """Every non-blank line must be one JSON object (read strictly); name the first line that is not.

    Returns the line number of each object, in order.
    """
    lines = [number for number, _ in read_json_lines(file)]
    if not lines:
        raise PipelineError(f"{cut(file, PATH_CHARS)}: empty file, no JSON objects")
    return lines


def mixed_kinds(file: Path) -> str | None:
    """Where a field holds another kind of value than on most lines (5 among strings), as an error
    message naming that line and one of the others, or None. `datasets` reads such a field as JSON
    text, but not from a file with a blank line: it fails on the blank line and names none."""
    seen: dict[str, dict[str, tuple[int, int, object]]] = {}  # field: kind: (lines, first line, first value)
    for number, record in read_json_lines(file):
        for name, value in record.items():
            if value is not None:
                kinds = seen.setdefault(name, {})
                count, first, example = kinds.get(_kind(value), (0, number, value))
                kinds[_kind(value)] = (count + 1, first, example)
    odd = []  # (line, field, its kind there, its value, the usual kind, a line of it)
    for name, kinds in seen.items():
        if len(kinds) > 1:
            usual = max(kinds, key=lambda k: (kinds[k][0], -kinds[k][1]))
            rare = min((k for k in kinds if k != usual), key=lambda k: kinds[k][1])
            odd.append((kinds[rare][1], name, rare, kinds[rare][2], usual, kinds[usual][1]))
    if not odd:
        return None
    number, name, kind, value, usual, line = min(odd, key=lambda o: o[0])
    return f"{_where(file, number)}: field {quote(name)} holds {kind} here ({quote(value)}) and {usual} on line {line}"


def _kind(value) -> str:
    """A JSON value's kind as a reader says it (1 and 1.5 are both numbers)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}[type(value)]


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
        raise PipelineError(f"{cut(file, PATH_CHARS)}: empty file")
    if filled == 1:
        raise PipelineError(f"{cut(file, PATH_CHARS)}: no rows below the header line")


def _where(file, number: int) -> str:
    return f"{cut(file, PATH_CHARS)}: line {number}"


def _nul_message(file: Path, number: int, line: str) -> str:
    return f"{_where(file, number)}: NUL byte at column {line.index(chr(0)) + 1}"


def _text_lines(file: Path, bad: Callable[[str], None], forgiving: bool = False, start_byte: int = 0,
                first_line: int = 1) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file from `start_byte`, the byte order mark dropped.

    Strict: an undecodable line goes to `bad`. Forgiving: its bytes are replaced and NUL bytes
    read as spaces, each kind of repair warned about once.
    """
    repaired: set[str] = set()

    def repair(what: str) -> None:
        if what not in repaired:
            repaired.add(what)
            warn(f"{cut(file, PATH_CHARS)}: {what}")

    try:
        with open(file, "rb") as handle:
            if start_byte == 0:
                sample = handle.read(8192)
                check_not_utf16(cut(file, PATH_CHARS), sample)
                check_not_binary(file, sample, "a data file")
            handle.seek(start_byte)
            for number, raw in enumerate(handle, start=first_line):
                if number == 1 and start_byte == 0 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                if forgiving:
                    line = raw.decode("utf-8", errors="replace")
                    if "\ufffd" in line and line.count("\ufffd") > raw.count(_REPLACEMENT):
                        repair("bytes that are not UTF-8 were replaced with \ufffd")
                    if "\x00" in line:
                        repair("NUL bytes were read as spaces")
                        line = line.replace("\x00", " ")
                    yield number, line
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad(f"{_where(file, number)}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
                    continue
                yield number, line
    except IsADirectoryError:
        raise PipelineError(f"{cut(file, PATH_CHARS)}: is a folder, not a file") from None
    except OSError as exc:
        raise PipelineError(f"{cut(file, PATH_CHARS)}: cannot read: {exc.strerror}") from None
