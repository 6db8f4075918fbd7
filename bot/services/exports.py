"""Spreadsheet exports: every cell passes through `cell()` so a spreadsheet never runs what people typed.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`). OWASP's rule: such text gets a leading `'`,
which spreadsheets show as plain text. Real numbers (int, Decimal, float) are written unchanged, so they
stay numbers; phone numbers are written in the national format (`0912 345 678`), which is text to Excel
(a `Phone` that would still read as a number is grouped with spaces). The future XLSX export uses the
same `cell()`.

Files open in Excel whatever the regional settings: UTF-8 with a BOM (Vietnamese letters), and a first
line `sep=,` (Vietnamese Windows lists with `;`, so without it a comma file opens in one column).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bot.services.validation import fold

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

SEP_LINE = "sep=,"


class Phone(str):
    """A phone number cell: always text to a spreadsheet (a leading 0 and the + are kept)."""


Cell = str | int | float | Decimal | None


def neutralise(text: str) -> str:
    """Text as a spreadsheet will show it, never as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Cell) -> str | int | float | Decimal:
    """One exported cell: numbers as numbers, text neutralised, nothing as empty."""
    if type(value) is str:  # most cells (a Phone is a subclass: below)
        return neutralise(value)
    if value is None:
        return ""
    if isinstance(value, Phone):
        return neutralise(_grouped(value))
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    return neutralise(str(value))


def _grouped(phone: str) -> str:
    """Digits only would become a number in Excel (0912345678 → 912345678): group them as people write them."""
    if not phone.isdigit():
        return phone
    return " ".join(phone[i:i + 3] for i in range(0, len(phone), 3)) if len(phone) < 10 else \
        f"{phone[:4]} {phone[4:7]} {phone[7:]}"


def file_name(*parts: str, ext: str = "csv") -> str:
    """A file name that says what the file holds, in plain ASCII: "nhu-cau_da-duyet_2026-03-02.csv"."""
    slugs = [re.sub(r"[^a-z0-9]+", "-", fold(part)).strip("-") for part in parts]
    return "_".join(slug for slug in slugs if slug)[:120] + "." + ext


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A CSV file for Excel: UTF-8 with BOM, a `sep=,` first line, every cell made safe."""
    buf = io.StringIO()
    buf.write(SEP_LINE + "\r\n")
    writer = csv.writer(buf)
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


# --- workbooks of several sheets (the report figures) ---

AMOUNT_FORMAT = "#,##0.##"
COLUMN_FORMATS = {"date": "DD/MM/YYYY", "amount": AMOUNT_FORMAT, "phone": "@", "count": "0"}


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    kind: str = "text"  # text | date | amount | phone | count


@dataclass(frozen=True)
class Sheet:
    title: str  # at most 31 characters, none of []:*?/\
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell | date]]


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """One sheet per table: a bold, frozen header row, widths set, numbers as numbers, dates as dates, phones
    as text (so a leading 0 stays), every text cell made safe."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.title[:31])
        ws.freeze_panes = "A2"
        for index, column in enumerate(sheet.columns, start=1):
            ws.column_dimensions[get_column_letter(index)].width = column.width
        ws.append([_styled(ws, neutralise(c.header), bold=True) for c in sheet.columns])
        for row in sheet.rows:
            ws.append([_sheet_cell(ws, column, value) for column, value in zip(sheet.columns, row, strict=True)])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _styled(ws: Any, value: Any, *, bold: bool = False, number_format: str | None = None) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    c = WriteOnlyCell(ws, value=value)
    if bold:
        c.font = Font(bold=True)
    if number_format:
        c.number_format = number_format
    return c


def _sheet_cell(ws: Any, column: Column, value: Cell | date) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return _styled(ws, value, number_format=COLUMN_FORMATS["date"])
    if column.kind == "phone":
        return _styled(ws, cell(Phone(value)), number_format="@")
    return _styled(ws, cell(value), number_format=COLUMN_FORMATS.get(column.kind))
