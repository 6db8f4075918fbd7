"""Parsing of what people type: free text, phone numbers, amounts in million đồng, month/year."""

import unicodedata
from datetime import date
from decimal import Decimal

import pytest

from bot.services.validation import (
    Invalid,
    TextRules,
    clean_text,
    fold,
    format_million,
    format_phone,
    parse_million,
    parse_month,
    parse_phone,
)

EMPTY = "Please type something — an empty answer can't be saved."
TOO_LONG = "That is too long ({length} characters). Please keep it under {limit} characters."
ONLY_SYMBOLS = "Please write it with letters or digits, not only symbols or emoji."
NOT_A_PHONE = "That doesn't look like a phone number. Please type it like 0912 345 678."
PHONE_INVALID = "This phone number is not valid. Please check the digits, e.g. 0912 345 678."
AMOUNT_HINT = "Please type the amount in million đồng using digits, e.g. 150 or 12,5."
AMOUNT_POSITIVE = "The amount must be greater than zero."
AMOUNT_NOT_NEGATIVE = "The amount cannot be negative. Please type 0 or more, in million đồng."
AMOUNT_TOO_LARGE = "That is more than {limit} million đồng. Please check the amount (in million đồng)."
NOT_A_DATE = "{day}/{month}/{year} is not a real date. Please check it, or type only month/year."
NO_SUCH_MONTH = "There is no month {month}. Please type a month from 1 to 12, like {example}."
MONTH_PASSED = "Month {month}/{year} has already passed; please type a month from {earliest}."
TOO_FAR = "That is too far ahead. Please choose a time within the next five years."
MONTH_FORMAT = "Please type the month and year like {example}."

TODAY = date(2026, 3, 2)
RULES = TextRules(max_length=200)
NAME_RULES = TextRules(max_length=200, needs_letters=True)


def refused(fn, *args):
    """The Text a parser refuses with (fails the test when the input is accepted)."""
    with pytest.raises(Invalid) as exc:
        fn(*args)
    return exc.value.message


# --- clean_text ---


@pytest.mark.parametrize("raw", ["", "   ", "\t \n ", "\u200b\u200d\ufeff", "\x00\x07"])
def test_clean_text_refuses_empty_and_blank(raw: str) -> None:
    assert refused(clean_text, raw, RULES).msgid == EMPTY


def test_clean_text_refuses_5000_characters_with_length_and_limit() -> None:
    message = refused(clean_text, "a" * 5000, RULES)
    assert message.msgid == TOO_LONG
    assert message.params == {"length": 5000, "limit": 200}


def test_clean_text_accepts_exactly_the_limit() -> None:
    assert clean_text("a" * 200, RULES) == "a" * 200


def test_emoji_only_is_refused_when_letters_are_needed() -> None:
    assert refused(clean_text, "😀🎉👍", NAME_RULES).msgid == ONLY_SYMBOLS


def test_emoji_only_is_accepted_without_letter_rule() -> None:
    assert clean_text("😀🎉👍", RULES) == "😀🎉👍"


@pytest.mark.parametrize(
    "raw",
    ["<b>x</b>", "<script>alert(1)</script>", "&amp;", "'; DROP TABLE needs; --", 'Cơ sở "Hưng Thịnh" & Co <3'],
)
def test_markup_and_sql_are_kept_verbatim(raw: str) -> None:
    # Escaping happens when the text is shown, never when it is stored.
    assert clean_text(raw, RULES) == raw


@pytest.mark.parametrize("raw", ["مرحبا بالعالم", "שלום עולם", "Cơ sở مرحبا 2026"])
def test_right_to_left_text_is_accepted(raw: str) -> None:
    assert clean_text(raw, NAME_RULES) == raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ng\u200buyễn\u200c Văn\u200d A", "Nguyễn Văn A"),
        ("\ufeffLan", "Lan"),
        ("Hưng \u202eThịnh\u202c", "Hưng Thịnh"),  # right-to-left override: would show the name reversed
        ("\u2066Lan\u2069 \u200f\u200eAn\u2060", "Lan An"),
    ],
)
def test_zero_width_and_bidi_controls_are_stripped(raw: str, expected: str) -> None:
    assert clean_text(raw, NAME_RULES) == expected


def test_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Hòa")
    assert decomposed != "Hòa"
    assert clean_text(decomposed, RULES) == "Hòa"
    assert clean_text(unicodedata.normalize("NFD", "Xã Mỹ Hòa Hưng"), RULES) == "Xã Mỹ Hòa Hưng"


MULTILINE = TextRules(max_length=200, multiline=True)
ONE_LINE = "Please write this on one line, without line breaks."
ZALGO = "This text has too many accent marks piled on one letter. Please type it again with ordinary letters."
FAKE_FIELDS = "Cơ sở A\nĐiện thoại: 0900 000 000\nTrạng thái: Đã duyệt"


def test_control_characters_are_removed_but_newlines_kept_in_multiline_fields() -> None:
    assert clean_text("a\x00b\x07c\x1bd\x7f", RULES) == "abcd"
    assert clean_text("dòng 1\ndòng 2", MULTILINE) == "dòng 1\ndòng 2"


@pytest.mark.parametrize("raw", [FAKE_FIELDS, "Cơ sở A\r\nTrạng thái: Đã duyệt", "Cơ sở A\rB", "Cơ sở A\u2028B",
                                 "Cơ sở A\u2029B", "Cơ sở A\x85B", "Cơ sở A\x0bB", "Cơ sở A\x0cB"])
def test_single_line_fields_refuse_every_kind_of_line_break(raw: str) -> None:
    assert refused(clean_text, raw, NAME_RULES).msgid == ONE_LINE


@pytest.mark.parametrize(("raw", "expected"), [
    (FAKE_FIELDS, FAKE_FIELDS), ("a\r\nb", "a\nb"), ("a\rb", "a\nb"), ("a\u2028b\u2029c", "a\nb\nc")])
def test_multiline_fields_keep_line_breaks_as_newlines(raw: str, expected: str) -> None:
    assert clean_text(raw, MULTILINE) == expected


def test_a_trailing_newline_is_not_a_line_break() -> None:
    assert clean_text("  Cơ sở A \n", NAME_RULES) == "Cơ sở A"


@pytest.mark.parametrize("raw", ["Z\u0351\u0308\u0303algo", "C\u0300\u0301\u0302\u0303\u0304\u0305ơ sở",
                                 "a" + "\u0336" * 40, "x\u20dd\u20de\u20df"])
def test_piles_of_combining_marks_are_refused(raw: str) -> None:
    for rules in (NAME_RULES, MULTILINE):
        assert refused(clean_text, raw, rules).msgid == ZALGO


@pytest.mark.parametrize("raw", ["Nguyễn Thị Ngọc Diệp", "Xưởng cơ khí Đức Thịnh", "क्षत्रिय", "ที่นี่", "e\u0301\u0323"])
def test_ordinary_accents_pass(raw: str) -> None:
    assert clean_text(unicodedata.normalize("NFD", raw), NAME_RULES) == unicodedata.normalize("NFC", raw)


@pytest.mark.parametrize(("raw", "limit", "expected"), [
    ("Lan\x00 An", 120, "Lan An"), ("Lan\nTrạng thái: Đã duyệt", 120, "Lan Trạng thái: Đã duyệt"),
    ("A" * 300, 120, "A" * 120), ("x" * 300 + ".pdf", 255, "x" * 251 + ".pdf"), ("\x00\u200b ", 64, None),
    (None, 64, None), ("Hòa", 10, "Hòa")])
def test_channel_text_is_made_storable(raw: str | None, limit: int, expected: str | None) -> None:
    from bot.services.validation import channel_text

    assert channel_text(raw, limit) == expected
    if raw:
        assert channel_text(unicodedata.normalize("NFD", raw), limit) == expected


def test_runs_of_spaces_and_tabs_collapse_and_ends_are_trimmed() -> None:
    assert clean_text("  Cơ  sở\t\tHưng   Thịnh  ", RULES) == "Cơ sở Hưng Thịnh"


def test_length_is_checked_after_cleaning() -> None:
    # 10 letters padded with invisible characters fit a 10-character limit.
    assert clean_text("\u200b" * 50 + "abcdefghij" + "   ", TextRules(max_length=10)) == "abcdefghij"


# --- phones ---


@pytest.mark.parametrize("raw", ["0912 345 678", "+84912345678", "84912345678", "0912.345.678", " 0912-345-678 "])
def test_mobile_numbers_normalise_to_e164(raw: str) -> None:
    assert parse_phone(raw) == "+84912345678"


def test_landline_number() -> None:
    assert parse_phone("0296 3852 123") == "+842963852123"


@pytest.mark.parametrize("raw", ["12345", "abc", "0912", "+1 202", "+1 202 abc", "0912 345 678 ext 9"])
def test_garbage_is_not_a_phone(raw: str) -> None:
    assert refused(parse_phone, raw).msgid == NOT_A_PHONE


def test_right_shape_wrong_digits_is_invalid() -> None:
    assert refused(parse_phone, "0000 000 000").msgid == PHONE_INVALID
    assert refused(parse_phone, "0112 345 678").msgid == PHONE_INVALID


def test_format_phone_round_trip() -> None:
    assert format_phone(parse_phone("0912 345 678")) == "0912 345 678"
    assert format_phone(parse_phone("+84 296 3852 123")) == "0296 3852 123"
    assert format_phone(None) == ""


# --- amounts in million đồng ---


def test_amount_in_words_gets_the_digits_hint() -> None:
    assert refused(parse_million, "năm trăm").msgid == AMOUNT_HINT


def test_negative_amount() -> None:
    assert refused(parse_million, "-5").msgid == AMOUNT_POSITIVE


@pytest.mark.parametrize("raw", ["1e9", "12,5,3", "1..5", "abc 150", "150 đô"])
def test_malformed_amounts_are_refused(raw: str) -> None:
    assert refused(parse_million, raw).msgid == AMOUNT_HINT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12,5", Decimal("12.5")),
        ("12.5", Decimal("12.5")),
        ("1.500", Decimal("1500")),
        ("1 500", Decimal("1500")),
        ("150 triệu", Decimal("150")),
        ("150 trieu", Decimal("150")),
        ("150tr", Decimal("150")),
        ("0,5", Decimal("0.5")),
        ("100000", Decimal("100000")),
    ],
)
def test_amounts_parse(raw: str, expected: Decimal) -> None:
    assert parse_million(raw) == expected


@pytest.mark.parametrize("raw", ["0", "00", "0,0"])
def test_zero_is_refused(raw: str) -> None:
    assert refused(parse_million, raw).msgid == AMOUNT_POSITIVE


@pytest.mark.parametrize(("raw", "expected"), [("0", Decimal("0")), ("0,0", Decimal("0")), ("0,004", Decimal("0")),
                                             ("12,5", Decimal("12.5"))])
def test_zero_is_an_answer_where_zero_is_allowed(raw: str, expected: Decimal) -> None:
    assert parse_million(raw, zero_ok=True) == expected  # a facility's own contribution can be nothing


def test_negative_amount_where_zero_is_allowed() -> None:
    assert refused(lambda raw: parse_million(raw, zero_ok=True), "-5").msgid == AMOUNT_NOT_NEGATIVE


def test_amount_over_100_billion_is_refused() -> None:
    message = refused(parse_million, "100001")
    assert message.msgid == AMOUNT_TOO_LARGE
    assert message.params == {"limit": "100.000"}


@pytest.mark.parametrize("raw", ["0,001", "0,004"])
def test_amount_rounding_to_zero_is_refused(raw: str) -> None:
    assert refused(parse_million, raw).msgid == AMOUNT_POSITIVE


def test_format_million() -> None:
    assert format_million(1500) == "1.500"
    assert format_million(Decimal("1500.00")) == "1.500"
    assert format_million(Decimal("12.5")) == "12,5"
    assert format_million(Decimal("12.50")) == "12,5"
    assert format_million(Decimal("1234567.25")) == "1.234.567,25"
    assert format_million(None) == ""


@pytest.mark.parametrize("raw", ["1.500", "12,5", "150"])
def test_format_then_parse_gives_the_same_amount(raw: str) -> None:
    value = parse_million(raw)
    assert parse_million(format_million(value)) == value


# --- month/year ---


def test_impossible_day_is_not_a_real_date() -> None:
    message = refused(parse_month, "31/2/2026", TODAY)
    assert message.msgid == NOT_A_DATE
    assert message.params == {"day": 31, "month": 2, "year": 2026}


@pytest.mark.parametrize(("raw", "month"), [("13/2026", 13), ("0/2026", 0)])
def test_no_such_month(raw: str, month: int) -> None:
    message = refused(parse_month, raw, TODAY)
    assert message.msgid == NO_SUCH_MONTH
    assert message.params == {"month": month, "example": "4/2026"}  # an example from today (2/3/2026)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5/2026", date(2026, 5, 1)),
        ("tháng 12/2026", date(2026, 12, 1)),
        ("thang 5/2026", date(2026, 5, 1)),
        ("05-2026", date(2026, 5, 1)),
        ("5.2026", date(2026, 5, 1)),
        ("3/2026", date(2026, 3, 1)),  # the current month is fine
        ("31/3/2026", date(2026, 3, 1)),  # a full date gives its month
        ("1/2031", date(2031, 1, 1)),
    ],
)
def test_months_parse_to_the_first_day(raw: str, expected: date) -> None:
    assert parse_month(raw, TODAY) == expected


def test_past_month_is_refused() -> None:
    refusal = refused(parse_month, "2/2026", TODAY)
    assert refusal.msgid == MONTH_PASSED and refusal.params == {"month": 2, "year": 2026, "earliest": "3/2026"}
    assert refused(parse_month, "12/2025", TODAY).msgid == MONTH_PASSED


@pytest.mark.parametrize(("raw", "expected"), [
    ("thang 1 2027", date(2027, 1, 1)), ("tháng 9 năm nay", date(2026, 9, 1)), ("Tháng 3 năm sau", date(2027, 3, 1)),
    ("cuối năm", date(2026, 12, 1)), ("đầu năm sau", date(2027, 1, 1)), ("1/27", date(2027, 1, 1)),
    ("01-2027", date(2027, 1, 1)), ("5/26", date(2026, 5, 1)),
])
def test_months_as_people_say_them(raw: str, expected: date) -> None:
    assert parse_month(raw, TODAY) == expected


def test_too_far_ahead_is_refused() -> None:
    assert refused(parse_month, "1/2040", TODAY).msgid == TOO_FAR
    assert refused(parse_month, "1/2032", TODAY).msgid == TOO_FAR


def test_more_than_five_years_ahead_within_the_fifth_year_is_refused() -> None:
    assert refused(parse_month, "12/2031", TODAY).msgid == TOO_FAR


@pytest.mark.parametrize("raw", ["tháng năm", "5/2", "2026", "5/2026/1", "", "tháng 9 năm kia"])
def test_unreadable_month(raw: str) -> None:
    assert refused(parse_month, raw, TODAY).msgid == MONTH_FORMAT


# --- fold ---


def test_fold_drops_accents_and_case() -> None:
    assert fold("Xã Mỹ Hòa Hưng") == "xa my hoa hung"
    assert fold("PHƯỜNG CHÂU ĐỐC") == "phuong chau doc"


def test_fold_turns_d_with_stroke_into_d() -> None:
    assert fold("Đ") == "d"
    assert fold("đường Đồng Khởi") == "duong dong khoi"
    assert fold("Đặc khu Phú Quốc") == "dac khu phu quoc"


def test_fold_collapses_punctuation_and_nfd_input() -> None:
    assert fold("  Long-Xuyên,  An Giang! ") == "long xuyen an giang"
    assert fold(unicodedata.normalize("NFD", "Hòa")) == "hoa"


# --- whole numbers: ASCII digits only, with bounds ---

COUNT_HINT = "Please type a whole number from 0 to {limit} with the digits 0–9, e.g. 12."
COUNT_TOO_LARGE = "That number is too large (at most {limit})."
DAYS_HINT = ("Please type up to 10 numbers of days from 1 to {limit} with the digits 0–9, "
             "separated by commas, like 7, 3, 1.")


@pytest.mark.parametrize("raw", ["²", "٣", "１２", "1²", "mười hai", "3.5e2", ""])
def test_counts_take_only_ascii_digits(raw: str) -> None:
    from bot.services.validation import parse_count

    message = refused(parse_count, raw)
    assert message.msgid == COUNT_HINT and message.params == {"limit": 100_000}


@pytest.mark.parametrize("raw", ["9" * 5000, "1" * 10, "100001"])
def test_huge_counts_are_too_large_not_a_crash(raw: str) -> None:
    from bot.services.validation import parse_count

    message = refused(parse_count, raw)
    assert message.msgid == COUNT_TOO_LARGE and message.params == {"limit": 100_000}


def test_counts_parse_with_groups_and_bounds() -> None:
    from bot.services.validation import parse_count

    assert parse_count(" 1.200 ") == 1200
    assert parse_count("0") == 0
    assert parse_count("28", maximum=28) == 28
    assert refused(parse_count, "-3").msgid == "The number cannot be negative."


@pytest.mark.parametrize("raw", ["²", "7, ٣", "7, 3, 1²", "9" * 5000, ",".join(["1"] * 11)])
def test_days_take_only_ascii_digits(raw: str) -> None:
    from bot.services.validation import parse_days_list

    message = refused(parse_days_list, raw)
    assert message.msgid == DAYS_HINT and message.params == {"limit": 60}


def test_days_parse() -> None:
    from bot.services.validation import parse_days_list

    assert parse_days_list("7, 3,1 3") == [7, 3, 1]
    assert refused(parse_days_list, "0, 3").msgid == "Each number of days must be between 1 and {limit}."


@pytest.mark.parametrize("raw", ["٣/2026", "5/２０２６", "5/2026²"])
def test_month_takes_only_ascii_digits(raw: str) -> None:
    assert refused(parse_month, raw, TODAY).msgid == MONTH_FORMAT


@pytest.mark.parametrize("raw", ["١٥٠", "150²"])
def test_amount_takes_only_ascii_digits(raw: str) -> None:
    assert refused(parse_million, raw).msgid == AMOUNT_HINT


def test_ascii_int_for_ids_and_list_numbers() -> None:
    from bot.services.validation import ascii_int

    assert ascii_int("12") == 12
    assert [ascii_int(v) for v in ("²", "٣", "", "-1", "1" * 10, "9" * 5000)] == [None] * 6
