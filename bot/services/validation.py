"""Parsing of what people type: free text, phone numbers, amounts, month/year. Pure functions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import phonenumbers

from bot.i18n_marker import N_, Text
from bot.text import fold as fold  # re-exported: accent folding lives in bot.text (storage uses it too)

# Zero-width and bidi-control characters: invisible, and able to make a name display reversed.
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F]
)
# Every way of breaking a line: CR LF, CR, vertical tab, form feed, NEL, line and paragraph separators.
_LINE_BREAK = re.compile(r"\r\n|[\r\v\f\x85\u2028\u2029]")
# Combining marks on one letter: Vietnamese needs none after NFC (every letter is precomposed), other
# scripts at most two; a pile of them ("Zalgo" text) spills over the lines above and below.
MAX_COMBINING_MARKS = 2
MAX_COST_MILLION = Decimal(100_000)  # 100 billion đồng: above any khuyến công grant by far


class Invalid(ValueError):
    """Input refused; carries the message to show."""

    def __init__(self, message: Text) -> None:
        super().__init__(message.msgid)
        self.message = message


@dataclass(frozen=True)
class TextRules:
    max_length: int
    min_length: int = 1
    needs_letters: bool = False
    # Descriptions, notes and answers keep their line breaks; names, titles, places and products are one
    # line, so that a name cannot fake further fields ("Trạng thái: Đã duyệt") on the lines below it.
    multiline: bool = False


def clean_text(raw: str, rules: TextRules) -> str:
    """Normalise free text (NFC, no invisible or control characters, trimmed) and check its length."""
    text = _LINE_BREAK.sub("\n", unicodedata.normalize("NFC", raw).translate(_INVISIBLE))
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[ \t]+", " ", text).strip()
    if not text:
        raise Invalid(Text(N_("Please type something — an empty answer can't be saved.")))
    if not rules.multiline and "\n" in text:
        raise Invalid(Text(N_("Please write this on one line, without line breaks.")))
    if _stacked_marks(text) > MAX_COMBINING_MARKS:
        raise Invalid(Text(N_("This text has too many accent marks piled on one letter. "
                              "Please type it again with ordinary letters.")))
    if len(text) > rules.max_length:
        raise Invalid(
            Text(
                N_("That is too long ({length} characters). Please keep it under {limit} characters."),
                {"length": len(text), "limit": rules.max_length},
            )
        )
    if len(text) < rules.min_length:
        raise Invalid(Text(N_("That is too short. Please type at least {limit} characters."),
                           {"limit": rules.min_length}))
    if rules.needs_letters and not any(ch.isalnum() for ch in text):
        raise Invalid(Text(N_("Please write it with letters or digits, not only symbols or emoji.")))
    return text


def _stacked_marks(text: str) -> int:
    """The longest run of combining marks on one base character."""
    longest = run = 0
    for ch in text:
        run = run + 1 if unicodedata.category(ch) in ("Mn", "Me") else 0
        longest = max(longest, run)
    return longest


def channel_text(raw: str | None, max_length: int) -> str | None:
    """Text that comes from the channel, not typed in answer to us (a Telegram name, a file name): made
    storable rather than refused — NFC, no control characters (NUL included) or line breaks, cut to the
    column's length (a file name keeps its extension). None when nothing is left."""
    if not raw:
        return None
    text = _LINE_BREAK.sub(" ", unicodedata.normalize("NFC", raw).translate(_INVISIBLE))
    text = "".join(" " if ch in "\n\t" else ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > max_length:
        stem, dot, ext = text.rpartition(".")
        keep = dot + ext if dot and stem and 0 < len(ext) <= 10 else ""
        text = text[: max_length - len(keep)].rstrip() + keep
    return text or None


def parse_phone(raw: str) -> str:
    """Validate a Vietnamese (or +country) phone number; returns E.164, e.g. +84912345678."""
    candidate = raw.strip()
    if not re.fullmatch(r"[+0-9\s().\-]{8,20}", candidate):
        raise Invalid(Text(N_("That doesn't look like a phone number. Please type it like 0912 345 678.")))
    try:
        number = phonenumbers.parse(candidate, "VN")
    except phonenumbers.NumberParseException:
        raise Invalid(
            Text(N_("That doesn't look like a phone number. Please type it like 0912 345 678."))
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise Invalid(Text(N_("This phone number is not valid. Please check the digits, e.g. 0912 345 678.")))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str | None) -> str:
    """Show a stored number the way people write it at home: 0912 345 678."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, "VN")
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 84:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_AMOUNT = re.compile(r"^(?P<num>[0-9][0-9.,\s]*)\s*(?:triệu|trieu|tr|million|m)?\.?$", re.IGNORECASE)


def parse_million(raw: str, *, zero_ok: bool = False) -> Decimal:
    """Parse an amount in million đồng.

    Accepts digits with a decimal comma or point ("12,5", "12.5"), dot/space thousand groups
    ("1.500" = 1500) and an optional unit word ("150 triệu"). Words, signs and exponents are refused.
    `zero_ok`: 0 is an answer (a facility's own contribution can be nothing); else the amount must be above 0.
    """
    text = raw.strip()
    match = _AMOUNT.match(text)
    hint = Text(N_("Please type the amount in million đồng using digits, e.g. 150 or 12,5."))
    not_negative = Text(N_("The amount cannot be negative. Please type 0 or more, in million đồng."))
    if not match:
        if text.startswith("-"):
            raise Invalid(not_negative if zero_ok else Text(N_("The amount must be greater than zero.")))
        raise Invalid(hint)
    num = re.sub(r"\s+", "", match.group("num"))
    if re.fullmatch(r"[0-9]{1,3}(\.[0-9]{3})+", num):
        num = num.replace(".", "")  # Vietnamese thousand groups: 1.500 = 1500
    elif re.fullmatch(r"[0-9]+[.,][0-9]+", num):
        num = num.replace(",", ".")  # decimal comma or point: 12,5 = 12.5
    elif not (num.isascii() and num.isdigit()):
        raise Invalid(hint)
    try:
        value = Decimal(num).quantize(Decimal("0.01"))  # amounts are kept to the 10,000 đồng
    except InvalidOperation:
        raise Invalid(hint) from None
    if value < 0 or (value == 0 and not zero_ok):
        raise Invalid(not_negative if zero_ok else Text(N_("The amount must be greater than zero.")))
    if value > MAX_COST_MILLION:
        raise Invalid(
            Text(N_("That is more than {limit} million đồng. Please check the amount (in million đồng)."),
                 {"limit": f"{MAX_COST_MILLION:,.0f}".replace(",", ".")})
        )
    return value


def format_million(value: Decimal | None) -> str:
    """1500 → '1.500', 12.5 → '12,5' (Vietnamese number style)."""
    if value is None:
        return ""
    integral, _, frac = f"{value:,.2f}".partition(".")
    integral = integral.replace(",", ".")
    frac = frac.rstrip("0")
    return f"{integral},{frac}" if frac else integral


_MONTH = re.compile(
    r"^(?:(?:tháng|thang|th)\s*)?(?:(?P<d>[0-9]{1,2})\s*[/.\-]\s*)?(?P<m>[0-9]{1,2})\s*[/.\-]\s*(?P<y>[0-9]{4})$",
    re.IGNORECASE,
)


def month_example(today: date) -> str:
    """Next month as month/year: an example that is never in the past."""
    nxt = today.replace(day=1) + timedelta(days=32)
    return f"{nxt.month}/{nxt.year}"


def date_example(today: date, days: int = 30) -> str:
    return format_date(today + timedelta(days=days))


_NATURAL_MONTH = re.compile(
    r"^(?:thang|th)\s*(?P<m>[0-9]{1,2})\s*(?:[/.\-]\s*|\s+)(?:nam\s*)?(?P<y>[0-9]{2,4}|nay|sau|toi)$")
_SHORT_MONTH = re.compile(r"^(?P<m>[0-9]{1,2})\s*[/.\-]\s*(?P<y>[0-9]{2})$")
_YEAR_WORDS = {"nay": 0, "sau": 1, "toi": 1}


def _natural_month(raw: str, today: date) -> tuple[int, int] | None:
    """Month phrasings people type: "tháng 1 2027", "tháng 9 năm nay", "tháng 3 năm sau", "cuối năm",
    "đầu năm sau", "1/27" (a two-digit year)."""
    folded = fold(raw).strip()
    if folded in ("cuoi nam", "cuoi nam nay"):
        return 12, today.year
    if folded in ("dau nam sau", "dau nam toi"):
        return 1, today.year + 1
    match = _NATURAL_MONTH.match(folded) or _SHORT_MONTH.match(raw.strip())
    if not match:
        return None
    year_text = match.group("y")
    year = today.year + _YEAR_WORDS[year_text] if year_text in _YEAR_WORDS else int(year_text)
    return int(match.group("m")), (2000 + year if year < 100 else year)


def parse_month(raw: str, today: date) -> date:
    """Parse a desired time as month/year ("5/2027", "05-2027", "tháng 5/2027", "tháng 9 năm nay", "cuối năm",
    or a full date 31/3/2027).

    Returns the first day of that month; the month must not be in the past, nor more than 5 years ahead.
    """
    example = month_example(today)
    match = _MONTH.match(raw.strip())
    natural = None if match else _natural_month(raw, today)
    if not match and natural is None:
        raise Invalid(Text(N_("Please type the month and year like {example}."), {"example": example}))
    month, year = (int(match.group("m")), int(match.group("y"))) if match else natural  # type: ignore[misc]
    if not 1 <= month <= 12:
        raise Invalid(Text(N_("There is no month {month}. Please type a month from 1 to 12, like {example}."),
                           {"month": month, "example": example}))
    if match and match.group("d"):
        try:
            date(year, month, int(match.group("d")))
        except ValueError:
            raise Invalid(
                Text(N_("{day}/{month}/{year} is not a real date. Please check it, or type only month/year."),
                     {"day": int(match.group("d")), "month": month, "year": year})
            ) from None
    first = date(year, month, 1)
    if first < today.replace(day=1):
        raise Invalid(Text(N_("Month {month}/{year} has already passed; please type a month from {earliest}."),
                           {"month": month, "year": year, "earliest": f"{today.month}/{today.year}"}))
    if (year, month) > (today.year + 5, today.month):
        raise Invalid(Text(N_("That is too far ahead. Please choose a time within the next five years.")))
    return first


def format_month(value: date | None) -> str:
    return f"{value.month}/{value.year}" if value else ""


# One date format wherever people read a date (chat, notifications, exports): dd/mm/yyyy, zero-padded.
DATE_FORMAT = "%d/%m/%Y"


def format_date(value: date | None) -> str:
    """A date as people read it everywhere: 05/01/2027 (a moment: give it in local time first)."""
    return value.strftime(DATE_FORMAT) if value else ""


def format_datetime(value: datetime | None) -> str:
    """A local moment: 05/01/2027 08:30."""
    return value.strftime(DATE_FORMAT + " %H:%M") if value else ""


_DATE = re.compile(r"^(?P<d>[0-9]{1,2})\s*[/.\-]\s*(?P<m>[0-9]{1,2})\s*[/.\-]\s*(?P<y>[0-9]{4})$")
_DATETIME = re.compile(
    r"^(?P<d>[0-9]{1,2})\s*[/.\-]\s*(?P<m>[0-9]{1,2})\s*[/.\-]\s*(?P<y>[0-9]{4})\s+(?:lúc\s+)?(?P<H>[0-9]{1,2})\s*[:hg]\s*(?P<M>[0-9]{2})?$",
    re.IGNORECASE,
)


def parse_date(raw: str, today: date) -> date:
    """A day/month/year date (31/3/2026), today or later."""
    match = _DATE.match(raw.strip())
    if not match:
        raise Invalid(Text(N_("Please type the date as day/month/year, like {example}."),
                           {"example": date_example(today)}))
    day, month, year = int(match.group("d")), int(match.group("m")), int(match.group("y"))
    try:
        value = date(year, month, day)
    except ValueError:
        raise Invalid(Text(N_("{day}/{month}/{year} is not a real date. Please check it."),
                           {"day": day, "month": month, "year": year})) from None
    if value < today:
        raise Invalid(Text(N_("That date has already passed. Please choose today or a later date.")))
    if value > _years_later(today, 5):
        raise Invalid(Text(N_("That is too far ahead. Please choose a time within the next five years.")))
    return value


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def parse_local_datetime(raw: str, now_local: datetime) -> datetime:
    """'31/3/2026 08:00' (also '8h', '8:30') in local time; must be in the future. Returns local aware time."""
    match = _DATETIME.match(raw.strip())
    if not match:
        raise Invalid(Text(N_("Please type the date and time like 31/3/2026 08:00.")))
    try:
        value = datetime(int(match.group("y")), int(match.group("m")), int(match.group("d")),
                         int(match.group("H")), int(match.group("M") or 0), tzinfo=now_local.tzinfo)
    except ValueError:
        raise Invalid(Text(N_("That date or time does not exist. Please check it, like 31/3/2026 08:00."))) from None
    if value <= now_local:
        raise Invalid(Text(N_("That time has already passed. Please choose a time in the future.")))
    if value.year > now_local.year + 1:
        raise Invalid(Text(N_("Please schedule within the next year.")))
    return value


_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler",
                 "blockquote", "span"}


def check_staff_html(text: str) -> str:
    """Staff may format with Telegram's HTML subset; returns it re-serialised so stray <, > and & are
    escaped. Other tags or unclosed ones are refused rather than sent broken."""
    import html as _html
    from html.parser import HTMLParser

    errors: list[str] = []
    stack: list[str] = []
    out: list[str] = []

    class _Check(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in _ALLOWED_TAGS or (tag == "span" and ("class", "tg-spoiler") not in attrs):
                errors.append(tag)
                return
            stack.append(tag)
            out.append(self.get_starttag_text() or "")

        def handle_endtag(self, tag: str) -> None:
            if not stack or stack.pop() != tag:
                errors.append(tag)
            out.append(f"</{tag}>")

        def handle_data(self, data: str) -> None:
            out.append(_html.escape(data, quote=False))

    parser = _Check(convert_charrefs=True)
    parser.feed(text)
    parser.close()
    if errors or stack:
        raise Invalid(Text(N_("The formatting is not valid. Use only <b>, <i>, <u>, <s>, <a href=…>, <code> and "
                              "<blockquote>, and close every tag — or write plain text.")))
    return "".join(out)


_ASCII_INT = re.compile(r"[0-9]{1,9}")  # digits 0–9 only: "²" or "٣" are digits to str.isdigit(), not to people


def ascii_int(value: str) -> int | None:
    """An id or list number typed or sent back by a button: digits 0–9 only, at most 9 of them; else None."""
    return int(value) if _ASCII_INT.fullmatch(value) else None


def parse_count(raw: str, *, maximum: int = 100_000) -> int:
    """A whole number from 0 to `maximum`, typed with the digits 0–9 ("12", "1.200")."""
    text = raw.strip().replace(".", "").replace(",", "").replace(" ", "")
    hint = Text(N_("Please type a whole number from 0 to {limit} with the digits 0–9, e.g. 12."), {"limit": maximum})
    if not text.isascii() or not text.isdigit():
        if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
            raise Invalid(Text(N_("The number cannot be negative.")))
        raise Invalid(hint)
    if not _ASCII_INT.fullmatch(text) or int(text) > maximum:
        raise Invalid(Text(N_("That number is too large (at most {limit})."), {"limit": maximum}))
    return int(text)


def parse_days_list(raw: str, *, maximum: int = 60) -> list[int]:
    """Reminder offsets in days, e.g. "7, 3, 1" → [7, 3, 1] (distinct, largest first; digits 0–9 only)."""
    parts = [p for p in re.split(r"[\s,;]+", raw.strip()) if p]
    if not parts or len(parts) > 10 or not all(_ASCII_INT.fullmatch(p) for p in parts):
        raise Invalid(Text(N_("Please type up to 10 numbers of days from 1 to {limit} with the digits 0–9, "
                              "separated by commas, like 7, 3, 1."), {"limit": maximum}))
    days = sorted({int(p) for p in parts}, reverse=True)
    if days[0] > maximum or days[-1] < 1:
        raise Invalid(Text(N_("Each number of days must be between 1 and {limit}."), {"limit": maximum}))
    return days
