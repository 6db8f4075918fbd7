"""The streaming XLSX writer, read back with openpyxl: types, formats, the frozen bold header, widths."""

import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl

from bot.services.xlsx import SheetWriter, column_letter


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 701, 702)] == ["A", "Z", "AA", "AZ", "ZZ", "AAA"]


def test_a_sheet_reads_back_as_written() -> None:
    writer = SheetWriter("Nhu cầu & <x>", ["Mã", "Ngày", "Số tiền", "Điện thoại", "Ghi chú"], widths=(10, 12, 14),
                         formats={1: "DD/MM/YYYY"}, text_columns=(3,))
    writer.append(["NC-1", date(2026, 3, 31), Decimal("150.50"), "0912 345 678", "a < b & c\x01\nd"])
    writer.append(["NC-2", datetime(2026, 4, 1, 12, 0), 7, None, ""])
    ws = openpyxl.load_workbook(io.BytesIO(writer.finish())).active
    assert ws.title == "Nhu cầu & <x>"
    assert list(ws.iter_rows(values_only=True)) == [
        ("Mã", "Ngày", "Số tiền", "Điện thoại", "Ghi chú"),
        ("NC-1", datetime(2026, 3, 31), 150.5, "0912 345 678", "a < b & c\nd"),
        ("NC-2", datetime(2026, 4, 1, 12, 0), 7, None, None),
    ]
    assert ws["A1"].font.b and ws.freeze_panes == "A2"
    assert ws["B2"].number_format == "DD/MM/YYYY" and ws["D2"].number_format == "@"
    assert ws.column_dimensions["B"].width == 12
