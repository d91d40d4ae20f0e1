"""Reading the text people hand us: byte order marks, stray bytes, binary files, huge lines.

Articles to score are read forgivingly (what can be read is read, and problems are reported);
labeled data is read strictly by pipeline.data.source, which names the line of each problem.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from pipeline.common.errors import PipelineError, warn

# Longer "sentences" are whole documents pasted into one field: scoring looks at their first
# MAX_SENTENCE_CHARS characters (a 10 MB one takes half a minute otherwise); training refuses them.
MAX_SENTENCE_CHARS = 10_000
_SURROGATE = re.compile("[\ud800-\udfff]")

_SAMPLE_BYTES = 8192
_TEXT_CONTROLS = set(b"\t\n\r\f\v\x1b")
_CONTROL_BYTES = set(range(32)) - _TEXT_CONTROLS | {127}


def looks_binary(sample: bytes) -> bool:
    """True for data that is not text in any encoding we read (images, archives, pickles)."""
    if not sample or sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    controls = sum(1 for byte in sample if byte in _CONTROL_BYTES)
    undecodable = sample.decode("utf-8", errors="replace").count("\ufffd")
    # A few stray bytes in a short text are repaired, not refused.
    return (controls >= 8 and controls > 0.05 * len(sample)) or (undecodable >= 8 and undecodable > 0.25 * len(sample))


def check_not_binary(path: Path, sample: bytes, what: str = "text") -> None:
    if looks_binary(sample[:_SAMPLE_BYTES]):
        raise PipelineError(f"{path}: looks like a binary file, not {what}")


def check_not_utf16(path, sample: bytes) -> None:
    """Data files are read as UTF-8 line by line: a UTF-16 one (a spreadsheet's "Unicode text")
    would be read as stray bytes on every line, so it is refused with what to do."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise PipelineError(f"{path}: UTF-16 text, where data files are read as UTF-8: save the file as UTF-8")


def read_forgiving(path: Path) -> str:
    """A text file as str: BOMs honoured, undecodable bytes replaced, NUL bytes read as spaces.

    Each kind of repair is reported in one warning naming the file; a binary file is an error.
    """
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise PipelineError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read: {exc.strerror}") from None
    return decode_forgiving(raw, str(path))


def decode_forgiving(raw: bytes, source: str) -> str:
    check_not_binary(Path(source), raw)
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = raw.decode("utf-16", errors="replace")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    repairs = []
    if text.count("\ufffd") > raw.count(b"\xef\xbf\xbd"):
        repairs.append("bytes that are not UTF-8 were replaced with \ufffd")
    if "\x00" in text:
        repairs.append("NUL bytes were read as spaces")
        text = text.replace("\x00", " ")
    if repairs:
        warn(f"{source}: {'; '.join(repairs)}")
    return text


def check_sentence_length(text: str, where: str) -> None:
    """Warn that an over-long sentence is scored on its first MAX_SENTENCE_CHARS characters."""
    if len(text) > MAX_SENTENCE_CHARS:
        warn(f"{where}: sentence of {len(text):,} characters; scored on its first {MAX_SENTENCE_CHARS:,}")


def without_surrogates(text: str) -> str:
    """Each lone surrogate (a JSON \\ud800 escape: half a character pair) as U+FFFD, as score reads files:
    tokenizers refuse them, and UTF-8 (a cache's keys) cannot hold them."""
    return _SURROGATE.sub("\ufffd", text)
