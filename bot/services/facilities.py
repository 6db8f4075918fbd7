"""Facilities in the staff console: the directory (accent-insensitive search, filters), possible duplicates
(the same phone, or nearly the same name in the same commune), editing, merging two records of one facility,
and importing a spreadsheet (the columns mapped to fields, a dry run saying what is accepted, fixed and
refused, then the write). Every change is written to the audit log. No markup here: the pages say it."""

from __future__ import annotations

import csv
import difflib
import io
import re
import unicodedata
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import SUPPORTED_LOCALES
from bot.domain import SECTOR_LABELS, Sector
from bot.errors import DomainError, NotFound
from bot.i18n_marker import N_, Text
from bot.services.communes import Commune, CommuneDirectory
from bot.services.staff_auth import audit
from bot.services.validation import Invalid, TextRules, ascii_int, clean_text, fold, format_phone, parse_phone
from bot.text import digits_of, search_words
from storage import console_repos
from storage.console_repos import FacilityKey
from storage.models import Facility, Need, Signup, User

PAGE_SIZE = 25
Translate = Callable[[str, str], str]  # (message id, locale) → text
SIMILAR = 0.9  # difflib ratio of two folded names at or above which they may be one facility
# The fields a facility has, in the order the forms and the import show them; the labels name them.
FIELDS = ("name", "owner_name", "phone", "commune", "sector", "products")
FIELD_LABELS = {
    "name": N_("Facility"), "owner_name": N_("Owner"), "phone": N_("Phone"), "commune": N_("Commune/ward"),
    "sector": N_("Sector"), "products": N_("Products"),
}
REQUIRED = ("name", "commune")
NAME_RULES = TextRules(max_length=120, needs_letters=True)
OWNER_RULES = TextRules(max_length=80, needs_letters=True)
PRODUCTS_RULES = TextRules(max_length=300)

# --- names compared for duplicates ---

# Words of a legal form or a kind of business that say nothing about which facility it is: "Cơ sở Hưng
# Thịnh" and "HKD Hưng Thịnh" are one name.
_FORM_WORDS = re.compile(
    r"^(?:co so(?: san xuat)?|ho kinh doanh|ho kd|hkd|cong ty(?: tnhh| co phan| cp)?|tnhh|"
    r"doanh nghiep tu nhan|dntn|hop tac xa|htx|to hop tac|tht|cssx|cs)\s+")


def name_key(name: str) -> str:
    """A name as compared for duplicates: folded, without a leading legal form ("Cơ sở", "HKD", "Công ty TNHH")."""
    folded = fold(name)
    stripped = _FORM_WORDS.sub("", folded)
    return stripped or folded


def _window(length: int) -> tuple[int, int]:
    """The lengths another name may have and still reach SIMILAR (ratio ≤ 2·min/(a+b))."""
    low = int(length * SIMILAR / (2 - SIMILAR)) if length else 0
    high = int(length * (2 - SIMILAR) / SIMILAR) + 1
    return low, high


@dataclass(frozen=True)
class Duplicate:
    """Another record that may be the same facility: an existing one (`facility_id`) or an earlier row of an
    imported file (`line`); `reason` is "phone" or "name"."""

    reason: str
    facility_id: int | None = None
    line: int | None = None
    name: str = ""
    commune_code: int | None = None


class DuplicateIndex:
    """Facilities by phone and, per commune, by the length of their compared name: a record is checked against
    the few that could match, not against all of them. A commune's names are folded when first needed."""

    def __init__(self) -> None:
        self._by_phone: dict[str, list[Duplicate]] = {}
        self._unsorted: dict[int, list[tuple[str, Duplicate]]] = {}
        self._by_commune: dict[int, list[Entry]] = {}
        self._serial = 0

    def _entry(self, name: str, ref: Duplicate) -> Entry:
        key = name_key(name)
        self._serial += 1  # keeps the order total without comparing Duplicates (or the counts)
        return (len(key), key, self._serial, ref, _letters(key))

    def add(self, ref: Duplicate, *, name: str, phone: str | None, commune_code: int | None) -> None:
        if phone:
            self._by_phone.setdefault(phone, []).append(ref)
        if commune_code is None:
            return
        if commune_code in self._by_commune:
            insort(self._by_commune[commune_code], self._entry(name, ref))
        else:
            self._unsorted.setdefault(commune_code, []).append((name, ref))

    def _bucket(self, commune_code: int) -> list[Entry]:
        if commune_code not in self._by_commune:
            self._by_commune[commune_code] = sorted(self._entry(name, ref)
                                                    for name, ref in self._unsorted.pop(commune_code, []))
        return self._by_commune[commune_code]

    def matches(self, *, name: str, phone: str | None, commune_code: int | None,
                itself: Duplicate | None = None) -> list[Duplicate]:
        """Every indexed record with the same phone, or a name at least SIMILAR in the same commune."""
        found: dict[tuple[int | None, int | None], Duplicate] = {}
        for other in self._by_phone.get(phone or "", ()) if phone else ():
            found.setdefault((other.facility_id, other.line), replace(other, reason="phone"))
        key = name_key(name)
        if commune_code is not None and key:  # a name of no Latin letter or digit folds to nothing
            bucket = self._bucket(commune_code)
            low, high = _window(len(key))
            matcher = difflib.SequenceMatcher(None, autojunk=False)
            matcher.set_seq2(key)
            letters, pieces = _letters(key), _pieces(key, high)
            for _length, other_key, _serial, other, other_letters in bucket[bisect_left(bucket, (low,)):
                                                                            bisect_right(bucket, (high, "\uffff"))]:
                ident = (other.facility_id, other.line)
                if ident not in found and _similar(matcher, key, letters, pieces, other_key, other_letters):
                    found[ident] = replace(other, reason="name")
        if itself is not None:
            found.pop((itself.facility_id, itself.line), None)
        return list(found.values())

    def all_duplicates(self) -> dict[int, list[Duplicate]]:
        """Every indexed facility that has a possible duplicate, with them; each pair is compared once."""
        out: dict[int, dict[int, Duplicate]] = {}

        def pair(a: Duplicate, b: Duplicate, reason: str) -> None:
            if a.facility_id is None or b.facility_id is None or a.facility_id == b.facility_id:
                return
            out.setdefault(a.facility_id, {}).setdefault(b.facility_id, replace(b, reason=reason))
            out.setdefault(b.facility_id, {}).setdefault(a.facility_id, replace(a, reason=reason))

        for group in self._by_phone.values():
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    pair(a, b, "phone")
        for commune_code in list(self._unsorted):
            self._bucket(commune_code)
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        for bucket in self._by_commune.values():
            for i, (length, key, _serial, a, letters) in enumerate(bucket):
                if not key:
                    continue
                _low, high = _window(length)
                matcher.set_seq2(key)
                pieces = _pieces(key, high)
                for j in range(i + 1, len(bucket)):
                    other_length, other_key, _s, b, other_letters = bucket[j]
                    if other_length > high:
                        break
                    if _similar(matcher, key, letters, pieces, other_key, other_letters):
                        pair(a, b, "name")
        return {fid: list(found.values()) for fid, found in out.items()}


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 "  # what a folded name is made of


def _letters(key: str) -> tuple[int, ...]:
    return tuple(key.count(ch) for ch in _ALPHABET)


def _pieces(key: str, longest: int) -> tuple[str, ...]:
    """`key` cut into one piece more than the characters two names may differ by (E = (1 − SIMILAR)·(a + b),
    with b at most `longest`): difflib's matching blocks leave at most E pieces broken, so two names at least
    SIMILAR always share a whole piece."""
    count = min(len(key), int((1 - SIMILAR) * (len(key) + longest)) + 1)
    step = len(key) / count
    return tuple({key[round(k * step):round((k + 1) * step)] for k in range(count)})


def _similar(matcher: difflib.SequenceMatcher[str], key: str, letters: tuple[int, ...], pieces: tuple[str, ...],
             other_key: str, other_letters: tuple[int, ...]) -> bool:
    """Is difflib's ratio of the two keys at least SIMILAR? `matcher` holds `key` as its second sequence. Two
    bounds in C first: a piece of `key` in the other name (`_pieces`), and the letters both names share
    (difflib's quick_ratio): most pairs stop there."""
    if other_key == key:
        return True
    if not any(piece in other_key for piece in pieces):
        return False
    if 2 * sum(map(min, letters, other_letters)) < SIMILAR * (len(key) + len(other_key)):
        return False
    matcher.set_seq1(other_key)
    return matcher.ratio() >= SIMILAR


Entry = tuple[int, str, int, Duplicate, tuple[int, ...]]  # (length of the key, key, serial, record, letters)


def index_of(keys: Iterable[FacilityKey]) -> DuplicateIndex:
    index = DuplicateIndex()
    for fid, name, _owner, phone, commune_code, _sector in keys:
        index.add(Duplicate("", facility_id=fid, name=name, commune_code=commune_code), name=name, phone=phone,
                  commune_code=commune_code)
    return index


def _duplicates_of(index: DuplicateIndex, key: FacilityKey) -> list[Duplicate]:
    fid, name, _owner, phone, commune_code, _sector = key
    return index.matches(name=name, phone=phone, commune_code=commune_code, itself=Duplicate("", facility_id=fid))


# --- the directory ---


@dataclass(frozen=True)
class DirectoryQuery:
    q: str = ""
    commune_code: int | None = None
    sector: str | None = None
    duplicates_only: bool = False
    page: int = 1


@dataclass
class DirectoryRow:
    facility: Facility
    needs: int
    duplicates: list[Duplicate]


@dataclass
class DirectoryPage:
    rows: list[DirectoryRow]
    total: int
    page: int
    pages: int


async def directory(session: AsyncSession, *, query: DirectoryQuery) -> DirectoryPage:
    """One page of the facilities matching the search and filters, by name (accents ignored), each with its
    number of needs and the records it may duplicate. The database filters, counts and pages; duplicates are
    looked for only among the facilities of the page's communes and phones (or among all of them, once, when
    only facilities with a possible duplicate are asked for)."""
    words = search_words(query.q)
    search = None if words is None else console_repos.TextSearch(words=tuple(words[0]), digits=words[1])
    filters: dict[str, Any] = {"commune_code": query.commune_code, "sector": query.sector, "search": search}
    duplicates: dict[int, list[Duplicate]] | None = None
    if query.duplicates_only:
        duplicates = index_of(await console_repos.facility_keys(session)).all_duplicates()
        filters["ids"] = sorted(duplicates)
    page = max(1, query.page)
    shown, total = await console_repos.facilities_page(session, **filters, offset=(page - 1) * PAGE_SIZE,
                                                       limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:  # past the end (the list shrank, or a typed address): the last page
        page = pages
        shown, total = await console_repos.facilities_page(session, **filters, offset=(page - 1) * PAGE_SIZE,
                                                           limit=PAGE_SIZE)
    ids = [f.id for f in shown if f.id is not None]
    counts = await console_repos.need_counts(session, facility_ids=ids)
    if duplicates is None:
        near = await console_repos.facility_keys_near(
            session, communes=[f.commune_code for f in shown if f.commune_code is not None],
            phones=[f.phone for f in shown if f.phone])
        index = index_of(near)
        duplicates = {f.id: _duplicates_of(index, _key(f)) for f in shown if f.id is not None}
    rows = [DirectoryRow(f, counts.get(f.id, 0), duplicates.get(f.id, [])) for f in shown if f.id is not None]
    return DirectoryPage(rows=rows, total=total, page=page, pages=pages)


def _key(facility: Facility) -> FacilityKey:
    return (facility.id or 0, facility.name, facility.owner_name, facility.phone, facility.commune_code,
            facility.sector)


# --- a facility's page ---


@dataclass
class FacilityView:
    facility: Facility
    needs: Sequence[Need]
    signups: Sequence[tuple[Signup, Any]]
    owner: User | None
    created_by: User | None
    duplicates: list[Duplicate]
    audit: Sequence[Any]
    people: dict[int, User]


async def get(session: AsyncSession, *, facility_id: int) -> Facility:
    facility = await session.get(Facility, facility_id)
    if facility is None:
        raise NotFound()
    return facility


async def duplicates_of(session: AsyncSession, *, facility: Facility) -> list[Duplicate]:
    keys = await console_repos.facility_keys(session)
    return _duplicates_of(index_of(keys), (facility.id or 0, facility.name, facility.owner_name, facility.phone,
                                           facility.commune_code, facility.sector))


async def view(session: AsyncSession, *, facility_id: int) -> FacilityView:
    """A facility with its needs, its owner's sign-ups (they are the person's), possible duplicates and the
    staff actions on it."""
    facility = await get(session, facility_id=facility_id)
    needs = await console_repos.needs_of_facility(session, facility_id=facility_id)
    signups = (await console_repos.signups_of_user(session, user_id=facility.owner_user_id)
               if facility.owner_user_id else [])
    entries, _ = await console_repos.audit_entries(session, target_kind="facility", target_id=facility_id)
    ids = [i for i in (facility.owner_user_id, facility.created_by_user_id, *(e.actor_user_id for e in entries)) if i]
    people = await console_repos.users_by_ids(session, ids=ids)
    return FacilityView(facility=facility, needs=needs, signups=signups,
                        owner=people.get(facility.owner_user_id or 0),
                        created_by=people.get(facility.created_by_user_id or 0),
                        duplicates=await duplicates_of(session, facility=facility), audit=entries, people=people)


# --- editing ---


class FieldErrors(DomainError):
    """Some fields of a form were refused; `errors` says which and why."""

    def __init__(self, errors: Mapping[str, Text]) -> None:
        super().__init__(N_("Please correct the fields marked below."))
        self.errors = dict(errors)


def _optional(raw: str, rules: TextRules) -> str | None:
    return clean_text(raw, rules) if raw.strip() else None


def validate(raw: Mapping[str, str], *, communes: CommuneDirectory) -> dict[str, Any]:
    """The edit form's values checked as the bot checks them (one line, lengths, a valid phone stored as
    E.164, a commune of the province, a known sector); FieldErrors names every field refused."""
    values: dict[str, Any] = {}
    errors: dict[str, Text] = {}
    checks = {
        "name": lambda v: clean_text(v, NAME_RULES),
        "owner_name": lambda v: _optional(v, OWNER_RULES),
        "phone": lambda v: parse_phone(v) if v.strip() else None,
        "products": lambda v: _optional(v, PRODUCTS_RULES),
    }
    for name, check in checks.items():
        try:
            values[name] = check(raw.get(name, ""))
        except Invalid as exc:
            errors[name] = exc.message
    code = ascii_int(raw.get("commune", "").strip())
    if communes.get(code) is None:
        errors["commune"] = Text(N_("Please choose a commune or ward of the province."))
    values["commune_code"] = code
    sector = raw.get("sector", "")
    if sector not in set(Sector):
        errors["sector"] = Text(N_("Please choose a sector."))
    values["sector"] = sector
    if errors:
        raise FieldErrors(errors)
    return values


async def edit(session: AsyncSession, *, clock: Clock, actor: User, facility_id: int, raw: Mapping[str, str],
               communes: CommuneDirectory) -> dict[str, list[Any]]:
    """Save the edit form; the changes (field: [before, after]) are audited and returned (empty: none)."""
    facility = await get(session, facility_id=facility_id)
    values = validate(raw, communes=communes)
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        before = getattr(facility, name)
        if before != value:
            changes[name] = [before, value]
            setattr(facility, name, value)
    if changes:
        facility.updated_at = clock.now()
        session.add(facility)
        await audit(session, clock=clock, actor=actor, action="facility_edit", target_kind="facility",
                    target_id=facility_id, detail={"changes": changes})
        await session.flush()
    return changes


# --- merging two records of one facility ---


FILLABLE = ("owner_name", "phone", "products")
NEED_PROXY_FORM = "need_proxy"  # a collaborator's open form may name the facility that goes away


@dataclass
class MergePlan:
    keep: Facility
    remove: Facility
    needs: int  # of the removed facility, moving to the kept one
    owner_moves: bool  # the removed facility's chat account (and so its sign-ups) moves to the kept one
    fills: dict[str, Any]  # blank fields of the kept facility filled from the removed one
    refusal: Text | None = None


async def need_counts(session: AsyncSession, *, facility_ids: Sequence[int]) -> dict[int, int]:
    return await console_repos.need_counts(session, facility_ids=facility_ids)


def default_keep(a: Facility, b: Facility, needs: Mapping[int, int]) -> Facility:
    """The record to keep unless staff choose: the one on a chat, else the one with more needs, else the older."""
    def rank(f: Facility) -> tuple[int, int, int]:
        return (0 if f.owner_user_id else 1, -needs.get(f.id or 0, 0), f.id or 0)
    return min((a, b), key=rank)


async def merge_plan(session: AsyncSession, *, keep_id: int, remove_id: int) -> MergePlan:
    if keep_id == remove_id:
        raise DomainError(N_("A facility cannot be merged with itself."))
    keep = await get(session, facility_id=keep_id)
    remove = await get(session, facility_id=remove_id)
    counts = await console_repos.need_counts(session, facility_ids=[remove_id])
    refusal = None
    if keep.owner_user_id and remove.owner_user_id:
        refusal = Text(N_("Both facilities are registered by a person on the chat. Merging them would take one "
                          "person's facility away: they cannot be merged here."))
    fills = {name: getattr(remove, name) for name in FILLABLE
             if not getattr(keep, name) and getattr(remove, name)}
    return MergePlan(keep=keep, remove=remove, needs=counts.get(remove_id, 0),
                     owner_moves=bool(remove.owner_user_id and not keep.owner_user_id), fills=fills, refusal=refusal)


async def merge(session: AsyncSession, *, clock: Clock, actor: User, keep_id: int, remove_id: int) -> MergePlan:
    """Keep one record: the other's needs move to it (and its chat account with the sign-ups, when it has
    one and the kept record has none), its blank fields are filled, an open form naming the other is pointed
    at it, and the other is deleted. Audited on the kept facility."""
    plan = await merge_plan(session, keep_id=keep_id, remove_id=remove_id)
    if plan.refusal is not None:
        raise DomainError(plan.refusal.msgid)
    keep, remove = plan.keep, plan.remove
    owner = remove.owner_user_id if plan.owner_moves else None
    moved = await console_repos.move_needs(session, from_id=remove_id, to_id=keep_id,
                                           commune_code=keep.commune_code,
                                           registrant_user_id=keep.owner_user_id or owner)
    for conversation in await console_repos.conversations_in_form(session, form=NEED_PROXY_FORM):
        if conversation.data.get("facility") == str(remove_id):
            data = dict(conversation.data)  # a new dict, so the JSON column is seen as changed
            data["facility"] = str(keep_id)
            if "facility__label" in data:
                data["facility__label"] = keep.name
            conversation.data = data
            session.add(conversation)
    removed = {"id": remove_id, "name": remove.name, "phone": remove.phone, "owner_name": remove.owner_name,
               "commune_code": remove.commune_code}
    consent = remove.consent_at
    await session.flush()
    session.expunge(remove)
    await console_repos.delete_facility(session, facility_id=remove_id)
    await session.flush()  # the unique owner_user_id is free before the kept record takes it
    for name, value in plan.fills.items():
        setattr(keep, name, value)
    if owner is not None:
        keep.owner_user_id = owner
        keep.consent_at = keep.consent_at or consent
    keep.updated_at = clock.now()
    session.add(keep)
    await audit(session, clock=clock, actor=actor, action="merge", target_kind="facility", target_id=keep_id,
                detail={"removed": removed, "needs": moved, "owner_moved": owner is not None,
                        "filled": sorted(plan.fills)})
    await session.flush()
    plan.needs = moved
    return plan


# --- import: reading the file ---

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000


class FileRefused(DomainError):
    default = N_("This file cannot be read. Please upload an Excel workbook (.xlsx) or a CSV file.")


@dataclass(frozen=True)
class Table:
    """A file's header and rows as text; `rows` holds (line number in the file, cells)."""

    header: list[str]
    rows: list[tuple[int, list[str]]]

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "rows": [[n, cells] for n, cells in self.rows]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Table:
        return cls(header=list(data["header"]), rows=[(int(n), list(cells)) for n, cells in data["rows"]])


def _text(value: Any) -> str:
    """A cell as text: whole numbers without ".0" (a phone typed as a number), dates as day/month/year."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


HEADER_SEARCH = 10  # a title and a date above the header row are common: it is looked for in the first rows


def _table(rows: Iterable[tuple[int, list[str]]]) -> Table:
    """The header is the first of the first non-empty rows whose texts name two fields or more (a title row
    above it is skipped), else the first non-empty row; empty rows are left out."""
    filled: list[tuple[int, list[str]]] = []
    for line, cells in rows:
        if any(c.strip() for c in cells):
            filled.append((line, cells))
            if len(filled) > MAX_ROWS + HEADER_SEARCH:
                break
    if not filled:
        raise FileRefused(N_("This file is empty."))
    start = next((i for i, (_line, cells) in enumerate(filled[:HEADER_SEARCH]) if len(guess_mapping(cells)) >= 2), 0)
    header = [c.strip() for c in filled[start][1]]
    body = filled[start + 1:]
    if len(body) > MAX_ROWS:
        raise FileRefused(N_("This file has more than {n} rows. Please split it into smaller files."),
                          n=f"{MAX_ROWS:,}".replace(",", "."))
    if not body:
        raise FileRefused(N_("This file has a header row but no facilities under it."))
    return Table(header=header, rows=body)


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a damaged or foreign zip: openpyxl raises many kinds
        raise FileRefused() from None
    try:
        sheet = workbook.worksheets[0]
        return _table((line, [_text(v) for v in values])
                      for line, values in enumerate(sheet.iter_rows(values_only=True), start=1))
    finally:
        workbook.close()


def _read_csv(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(N_("This CSV file is not in UTF-8. In Excel, save it as “CSV UTF-8 (Comma delimited)”, "
                             "or upload the .xlsx workbook.")) from None
    text = text.replace("\x00", "")
    first, _, rest = text.partition("\n")
    start = 1
    sep = re.fullmatch(r"\s*sep=(.)\s*", first)
    if sep:  # Excel's "sep=;" line
        delimiter, text, start = sep.group(1), rest, 2
    else:
        counts = {d: first.count(d) for d in (";", ",", "\t")}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table((start + i, [c.strip() for c in row]) for i, row in enumerate(reader))
    except csv.Error:
        raise FileRefused() from None


def read_table(data: bytes, filename: str = "") -> Table:
    """The first sheet of an .xlsx workbook, or a CSV file (UTF-8 with or without BOM; comma, semicolon or
    tab); the first non-empty row is the header. Refused: anything else, more than MAX_ROWS rows."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise FileRefused(N_("This file is larger than {n} MB. Please split it into smaller files."),
                          n=MAX_UPLOAD_BYTES // (1024 * 1024))
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if data.startswith(b"\xd0\xcf\x11\xe0") or filename.lower().endswith(".xls"):
        raise FileRefused(N_("Old Excel files (.xls) cannot be read. In Excel, save it as .xlsx and upload that."))
    if not data.strip():
        raise FileRefused(N_("This file is empty."))
    return _read_csv(data)


# --- import: the columns ---

# Header texts (folded) that name each field, in Vietnamese and English; the longest that fits wins.
HEADER_WORDS: dict[str, tuple[str, ...]] = {
    "name": ("ten co so", "ten co so san xuat", "ten cssx", "ten doanh nghiep", "ten ho kinh doanh", "ten don vi",
             "co so", "ten", "facility", "facility name", "name", "business name"),
    "owner_name": ("chu co so", "ho ten chu co so", "ten chu co so", "chu ho", "chu ho kinh doanh",
                   "nguoi dai dien", "dai dien", "ho va ten", "ho ten", "owner", "owner name", "owner s name"),
    "phone": ("so dien thoai", "dien thoai", "sdt", "so dt", "dt", "di dong", "phone", "phone number",
              "telephone", "mobile", "tel"),
    "commune": ("xa phuong", "xa phuong dac khu", "xa phuong thi tran", "phuong xa", "xa", "phuong",
                "dia ban", "don vi hanh chinh", "commune", "ward", "commune ward"),
    "sector": ("nganh nghe", "nganh", "nganh nghe san xuat", "linh vuc", "nganh nghe kinh doanh", "sector",
               "industry", "trade"),
    "products": ("san pham", "san pham chinh", "mat hang", "products", "product", "main products"),
}


def guess_mapping(header: Sequence[str]) -> dict[str, int]:
    """Which column holds which field, from the header texts: an exact header first ("Số điện thoại",
    "Xã/phường"), then a header containing one of the words; each column is used once."""
    folded = [fold(h) for h in header]
    mapping: dict[str, int] = {}
    used: set[int] = set()
    for exact in (True, False):
        for name, words in HEADER_WORDS.items():
            if name in mapping:
                continue
            best: tuple[int, int] | None = None  # (length of the word that fits, column)
            for column, head in enumerate(folded):
                if column in used or not head:
                    continue
                for word in words:
                    fits = head == word if exact else re.search(rf"\b{re.escape(word)}\b", head) is not None
                    if fits and (best is None or len(word) > best[0]):
                        best = (len(word), column)
            if best is not None:
                mapping[name] = best[1]
                used.add(best[1])
    return mapping


def check_mapping(mapping: Mapping[str, int], columns: int) -> Text | None:
    """None when the mapping can be used: the required fields chosen, columns that exist, none twice."""
    if any(name not in mapping for name in REQUIRED):
        return Text(N_("Please choose the columns holding the facility's name and its commune or ward."))
    if any(not 0 <= c < columns for c in mapping.values()):
        return Text(N_("Please choose columns of the file."))
    if len(set(mapping.values())) != len(mapping):
        return Text(N_("Each column can hold one field only."))
    return None


# --- import: the rows ---


@dataclass(frozen=True)
class Fix:
    """A value changed on the way in: `after` is what is stored (a sector's code, a commune's name, a phone as
    shown); `how` says why."""

    field: str
    before: str
    after: str
    how: str


@dataclass(frozen=True)
class Refusal:
    field: str | None
    text: Text


@dataclass
class RowReport:
    line: int
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    fixes: list[Fix] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "refused" if self.refusals else "fixed" if self.fixes else "accepted"


@dataclass
class ImportReport:
    rows: list[RowReport]

    def _of(self, status: str) -> list[RowReport]:
        return [r for r in self.rows if r.status == status]

    @property
    def accepted(self) -> list[RowReport]:
        return self._of("accepted")

    @property
    def fixed(self) -> list[RowReport]:
        return self._of("fixed")

    @property
    def refused(self) -> list[RowReport]:
        return self._of("refused")

    @property
    def duplicates(self) -> list[RowReport]:
        return [r for r in self.rows if r.status != "refused" and r.duplicates]

    def to_write(self, *, include_duplicates: bool) -> list[RowReport]:
        return [r for r in self.rows if r.status != "refused" and (include_duplicates or not r.duplicates)]


FIX_PHONE = N_("phone number written in the usual form")
FIX_PHONE_FIRST = N_("the cell held several numbers: the first is kept")
FIX_COMMUNE = N_("commune or ward recognised without accents, case or unit word")
FIX_COMMUNE_CLOSE = N_("commune or ward read as the closest name: please check")
FIX_SECTOR = N_("sector recognised from its words")
FIX_SECTOR_OTHER = N_("sector not recognised: set to “Other sector”")
FIX_SECTOR_EMPTY = N_("no sector given: set to “Other sector”")
FIX_LINE_BREAK = N_("line breaks in the cell replaced by spaces")

_COMMUNE_PREFIX = re.compile(r"^(?:xa|phuong|p|dac khu|thi tran|tt|thanh pho|tp)\s+")
# Words that place a sector's label ("Chế biến nông sản" is food), folded.
_SECTOR_WORDS: dict[Sector, tuple[str, ...]] = {
    Sector.HANDICRAFT: ("thu cong", "my nghe", "dan lat", "handicraft", "craft"),
    Sector.MECHANICS: ("co khi", "han tien", "sua chua may", "mechanic"),
    Sector.TEXTILE: ("det", "may mac", "theu", "textile", "garment"),
    Sector.CONSTRUCTION: ("vat lieu", "xay dung", "gach", "construction"),
    Sector.FOOD: ("thuc pham", "che bien", "nong san", "thuy san", "luong thuc", "food"),
    Sector.OTHER: ("khac", "other"),
}


class _Reader:
    """Turns one row's cells into a facility's values, recording what it fixed or refused; remembers the
    communes and sectors it has read (a file repeats them thousands of times)."""

    def __init__(self, *, communes: CommuneDirectory, translate: Translate | None = None) -> None:
        self.communes = communes
        self._commune_cache: dict[str, tuple[Commune | None, str | None, Text | None]] = {}
        self._shorts = {c.short: c for c in communes.all()}
        self._fulls = {c.folded: c for c in communes.all()}
        # Names written as they are, without the unit word ("Long Xuyên" for "Phường Long Xuyên"): not a fix.
        self._as_written = {c.name.casefold(): c for c in communes.all()}
        self._as_written.update({_without_unit(c.name).casefold(): c for c in communes.all()})
        self._sector_names: dict[str, Sector] = {}
        for sector in Sector:
            self._sector_names[fold(sector.value)] = sector
            self._sector_names[fold(SECTOR_LABELS[sector])] = sector
            for locale in SUPPORTED_LOCALES if translate is not None else ():
                self._sector_names[fold(translate(SECTOR_LABELS[sector], locale))] = sector

    def commune(self, raw: str) -> tuple[Commune | None, str | None, Text | None]:
        """(commune, why it was changed or None, refusal)."""
        if raw not in self._commune_cache:
            self._commune_cache[raw] = self._commune(raw)
        return self._commune_cache[raw]

    def _commune(self, raw: str) -> tuple[Commune | None, str | None, Text | None]:
        text = " ".join(unicodedata.normalize("NFC", raw).split())
        code = ascii_int(text)
        if code is not None and self.communes.get(code) is not None:
            return self.communes.get(code), None, None
        if text.casefold() in self._as_written:
            return self._as_written[text.casefold()], None, None
        folded = fold(text.split(",")[0])
        short = _COMMUNE_PREFIX.sub("", folded)
        exact = self._fulls.get(folded) or self._shorts.get(short)
        if exact is not None:
            return exact, FIX_COMMUNE, None
        close = difflib.get_close_matches(short, list(self._shorts), n=2, cutoff=0.85)
        if len(close) == 1 or (len(close) == 2 and _ratio(short, close[0]) - _ratio(short, close[1]) >= 0.05):
            return self._shorts[close[0]], FIX_COMMUNE_CLOSE, None
        if close:
            return None, None, Text(N_("“{value}” could be {first} or {second}: please write the full name."),
                                    {"value": raw, "first": self._shorts[close[0]].name,
                                     "second": self._shorts[close[1]].name})
        return None, None, Text(N_("“{value}” is not a commune or ward of the province (2025 units)."),
                                {"value": raw})

    def sector(self, raw: str) -> tuple[Sector, str | None]:
        folded = fold(raw)
        if not folded:
            return Sector.OTHER, FIX_SECTOR_EMPTY
        if folded in self._sector_names:
            return self._sector_names[folded], None
        for sector, words in _SECTOR_WORDS.items():
            if any(re.search(rf"\b{re.escape(w)}\b", folded) for w in words):
                return sector, FIX_SECTOR
        return Sector.OTHER, FIX_SECTOR_OTHER


def _without_unit(name: str) -> str:
    """'Phường Long Xuyên' → 'Long Xuyên'."""
    for unit in ("Xã ", "Phường ", "Đặc khu ", "Thị trấn "):
        if name.startswith(unit):
            return name[len(unit):]
    return name


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


_LINE_BREAKS = re.compile(r"\s*(?:\r\n|[\r\n\v\f\x85\u2028\u2029])\s*")
_PHONE_SPLIT = re.compile(r"\s*(?:[/;,|]|\s-\s|\bhoac\b|\bhoặc\b)\s*", re.IGNORECASE)


def _phone(raw: str) -> tuple[str, str | None]:
    """(E.164, why it was changed or None); Invalid when the number is not valid."""
    parts = [p for p in _PHONE_SPLIT.split(raw.strip()) if p]
    e164 = parse_phone(parts[0] if parts else raw)
    if len(parts) > 1:
        return e164, FIX_PHONE_FIRST
    return e164, None if digits_of(raw) == digits_of(format_phone(e164)) else FIX_PHONE


def read_row(reader: _Reader, line: int, cells: Sequence[str], mapping: Mapping[str, int]) -> RowReport:
    raw = {name: (cells[column] if column < len(cells) else "").strip() for name, column in mapping.items()}
    report = RowReport(line=line, name=raw.get("name", ""))
    for name in ("name", "owner_name", "products"):
        value = raw.get(name, "")
        if _LINE_BREAKS.search(value):
            joined = _LINE_BREAKS.sub(" ", value)
            report.fixes.append(Fix(name, value, joined, FIX_LINE_BREAK))
            value = joined
        if not value:
            if name == "name":
                report.refusals.append(Refusal(name, Text(N_("no name"))))
            report.values[name] = None
            continue
        rules = {"name": NAME_RULES, "owner_name": OWNER_RULES, "products": PRODUCTS_RULES}[name]
        try:
            report.values[name] = clean_text(value, rules)
        except Invalid as exc:
            report.refusals.append(Refusal(name, exc.message))
    report.name = report.values.get("name") or raw.get("name", "")
    phone = raw.get("phone", "")
    report.values["phone"] = None
    if phone:
        try:
            e164, how = _phone(phone)
        except Invalid as exc:
            report.refusals.append(Refusal("phone", Text(N_("“{value}”: {problem}"),
                                                         {"value": phone, "problem": exc.message})))
        else:
            report.values["phone"] = e164
            if how:
                report.fixes.append(Fix("phone", phone, format_phone(e164), how))
    commune_raw = raw.get("commune", "")
    if not commune_raw:
        report.refusals.append(Refusal("commune", Text(N_("no commune or ward"))))
    else:
        commune, how, refusal = reader.commune(commune_raw)
        if refusal is not None:
            report.refusals.append(Refusal("commune", refusal))
        elif commune is not None:
            report.values["commune_code"] = commune.code
            if how:
                report.fixes.append(Fix("commune", commune_raw, commune.name, how))
    if "sector" in mapping:
        sector, how = reader.sector(raw.get("sector", ""))
        if how:
            report.fixes.append(Fix("sector", raw.get("sector", ""), sector.value, how))
    else:
        sector = Sector.OTHER
    report.values["sector"] = sector.value
    return report


def _nested_text(text: Text, gettext: Any) -> str:
    """A Text whose parameters may themselves be Texts (a refusal quoting the validator's message)."""
    params = {k: _nested_text(v, gettext) if isinstance(v, Text) else v for k, v in text.params.items()}
    return Text(text.msgid, params).render(gettext)


def render_refusal(refusal: Refusal, gettext: Any) -> str:
    return _nested_text(refusal.text, gettext)


async def dry_run(session: AsyncSession, *, table: Table, mapping: Mapping[str, int], communes: CommuneDirectory,
                  translate: Translate | None = None) -> ImportReport:
    """What importing the file would do, row by row, without writing: accepted, fixed (and how), refused (and
    why), and the rows that may duplicate an existing facility or an earlier row of the file. One query."""
    reader = _Reader(communes=communes, translate=translate)
    index = index_of(await console_repos.facility_keys(session))
    rows: list[RowReport] = []
    for line, cells in table.rows:
        row = read_row(reader, line, cells, mapping)
        if not row.refusals:
            values = row.values
            row.duplicates = index.matches(name=values["name"], phone=values["phone"],
                                           commune_code=values["commune_code"])
            index.add(Duplicate("", line=line, name=values["name"], commune_code=values["commune_code"]),
                      name=values["name"], phone=values["phone"], commune_code=values["commune_code"])
        rows.append(row)
    return ImportReport(rows=rows)


@dataclass(frozen=True)
class ImportResult:
    written: int
    skipped_duplicates: int
    refused: int


async def run_import(session: AsyncSession, *, clock: Clock, actor: User, table: Table, mapping: Mapping[str, int],
                     communes: CommuneDirectory, include_duplicates: bool, file_name: str,
                     translate: Translate | None = None) -> ImportResult:
    """The dry run again (the directory may have changed since), then its rows written in batches; audited."""
    report = await dry_run(session, table=table, mapping=mapping, communes=communes, translate=translate)
    rows = report.to_write(include_duplicates=include_duplicates)
    now = clock.now()
    await console_repos.insert_facilities(session, rows=[
        {"name": r.values["name"], "owner_name": r.values["owner_name"], "phone": r.values["phone"],
         "commune_code": r.values["commune_code"], "sector": r.values["sector"], "products": r.values["products"],
         "owner_user_id": None, "created_by_user_id": actor.id, "consent_at": None, "created_at": now,
         "updated_at": now}
        for r in rows])
    result = ImportResult(written=len(rows), refused=len(report.refused),
                          skipped_duplicates=0 if include_duplicates else len(report.duplicates))
    await audit(session, clock=clock, actor=actor, action="import", target_kind="facilities",
                detail={"file": file_name[:200], "rows": result.written, "refused": result.refused,
                        "skipped_duplicates": result.skipped_duplicates, "fixed": len(report.fixed)})
    await session.flush()
    return result
