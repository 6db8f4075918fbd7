"""Spreadsheet exports: every cell passes through `cell()` so a spreadsheet never runs what people typed.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`). OWASP's rule: such text gets a leading `'`,
which spreadsheets show as plain text. Real numbers (int, Decimal, float) are written unchanged, so they
stay numbers; phone numbers are written in the national format (`0912 345 678`), which is text to Excel.
The future XLSX export uses the same `cell()`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | Decimal | None


def neutralise(text: str) -> str:
    """Text as a spreadsheet will show it, never as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Cell) -> str | int | float | Decimal:
    """One exported cell: numbers as numbers, text neutralised, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    return neutralise(str(value))


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A CSV file, UTF-8 with BOM so Excel shows Vietnamese correctly; every cell made safe."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")
