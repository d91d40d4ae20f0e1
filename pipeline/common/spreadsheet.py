"""CSV cells that a spreadsheet would run as formulas, written so that it shows them as text.

A news sentence can start with `=`, `+`, `-` or `@` (a dash before a list item, a handle), and a
spreadsheet opening the CSV reads such a cell as a formula: it shows `#NAME?` instead of the text,
and a crafted one (`=HYPERLINK(...)`, `=cmd|...`) can reach outside the sheet. Such cells are
written with a leading apostrophe, which spreadsheets read as "text follows". `score` takes it off
again when it reads a CSV, so its output scores as it was; labeled data for training is read as
written. A text that already starts with apostrophes before one of those characters gets one more,
so that round trip holds for it too.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_cell(value):
    """The value as a CSV cell: a text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def from_cell(value):
    """What `to_cell` wrote, read back: the apostrophe before a formula-like text taken off."""
    if isinstance(value, str) and value.startswith("'") and value.lstrip("'").startswith(FORMULA_STARTS):
        return value[1:]
    return value
