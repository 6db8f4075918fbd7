"""What the staff console shows and does with needs: the searchable table, its exports (XLSX, CSV), a need's
page, notes, and the dashboard figures. Status changes go through `bot.services.needs` (the registrant is
told through the outbox); every action is written to the audit log."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.domain import CATEGORY_LABELS, SECTOR_LABELS, STATUS_LABELS, NeedStatus, shown
from bot.errors import DomainError
from bot.i18n_marker import N_
from bot.services import needs as needs_service
from bot.services.communes import CommuneDirectory
from bot.services.exports import cell, neutralise
from bot.services.staff_auth import audit
from bot.services.validation import format_phone
from bot.services.xlsx import SheetWriter
from bot.text import search_words
from storage import console_repos, repos
from storage.console_repos import NeedFilter, TextSearch
from storage.models import AuditEntry, Facility, Need, NeedEvent, NeedNote, User

PAGE_SIZE = 25
EXPORT_CHUNK = 1000  # needs read from the database and written to the file at a time
NOTE_MAX = 2000
Gettext = Callable[[str], str]


@dataclass(frozen=True)
class NeedQuery:
    """The needs table as the staff member asked for it (from the page's query string)."""

    q: str = ""
    filters: NeedFilter = field(default_factory=NeedFilter)
    sort: str = "created"
    descending: bool = True
    page: int = 1


def local_day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def text_search(q: str) -> TextSearch | None:
    """Accent- and case-insensitive search over the code, facility, owner and phone ('nuoc mam' finds
    'Nước mắm'); a number typed with or without spaces or a leading 0/+84 finds the phone. None: no search.
    The database matches it (facilities.search_folded), so no page ever reads every row."""
    found = search_words(q)
    return None if found is None else TextSearch(words=tuple(found[0]), digits=found[1])


async def matching_ids(session: AsyncSession, *, query: NeedQuery) -> list[int]:
    """The ids of every need matching the filters and the search, in the chosen order (a project's candidates)."""
    return list(await console_repos.needs_ids(session, filters=query.filters, sort=query.sort,
                                              descending=query.descending, search=text_search(query.q)))


@dataclass(frozen=True)
class Page:
    rows: list[tuple[Need, Facility | None]]
    total: int
    page: int
    pages: int


async def needs_page(session: AsyncSession, *, query: NeedQuery) -> Page:
    """One page of the table, filtered, searched, counted and paged by the database."""
    start = (max(1, query.page) - 1) * PAGE_SIZE
    page_rows, total = await console_repos.needs_table_page(
        session, filters=query.filters, sort=query.sort, descending=query.descending, offset=start,
        limit=PAGE_SIZE, search=text_search(query.q))
    pages = max(1, -(-total // PAGE_SIZE))
    if query.page > pages:  # past the end (rows removed meanwhile): the last page
        return await needs_page(session, query=replace(query, page=pages))
    return Page(rows=list(page_rows), total=total, page=max(1, query.page), pages=pages)


# --- export ---


class ExportCells:
    """Turns the export's plain rows (console_repos.EXPORT_COLUMNS) into its cells: dates as dates, the amounts as
    numbers, the phone as text. The labels are translated once per export, and each phone formatted once (a
    facility's needs share it; phonenumbers takes ~0.1 ms a number)."""

    def __init__(self, *, communes: CommuneDirectory, tz: ZoneInfo, gettext: Gettext) -> None:
        self.communes, self.tz, self.gettext = communes, tz, gettext
        # Keyed by the enums, which are str: a stored value finds its label (an unknown kind or status fails).
        self.sectors: dict[str, str] = {k: gettext(v) for k, v in SECTOR_LABELS.items()}
        self.categories: dict[str, str] = {k: gettext(v) for k, v in CATEGORY_LABELS.items()}
        self.statuses: dict[str, str] = {k: gettext(v) for k, v in STATUS_LABELS.items()}
        self.yes = gettext(N_("yes"))
        self.phones: dict[str, str] = {}

    def phone(self, e164: str | None) -> str:
        if not e164:
            return ""
        shown_as = self.phones.get(e164)
        if shown_as is None:
            shown_as = self.phones[e164] = format_phone(e164)
        return shown_as

    def row(self, row: Sequence[Any]) -> list[Any]:
        # Unpacked by position, in the order of console_repos.EXPORT_COLUMNS (a Row's attributes cost ~10 µs a row).
        (ref, created_at, facility, owner, phone, commune, sector, category, description, machine, cost, own, month,
         status, decline_reason, filed_by) = row
        return [
            ref, created_at.astimezone(self.tz).date(), facility or "", owner or "", self.phone(phone),
            self.communes.name(commune), self.sectors.get(sector, ""), self.categories[category],
            shown(description, self.gettext), machine or "", cost, own, month, self.statuses[status],
            decline_reason or "", self.yes if filed_by else "",
        ]


MONTH_COLUMN = 12
DATE_COLUMNS = {1: "DD/MM/YYYY", MONTH_COLUMN: "MM/YYYY"}
PHONE_COLUMN = 4
AMOUNT_COLUMNS = (10, 11)  # estimated cost, own contribution
WIDTHS = (14, 12, 30, 22, 15, 22, 18, 30, 40, 24, 14, 14, 12, 22, 30, 10)


def headers(gettext: Gettext) -> list[str]:
    return [gettext(h) for h in needs_service.EXPORT_COLUMNS]


class XlsxSheet:
    """The needs as a workbook of one sheet, row by row: bold frozen header, widths set, numbers and dates typed,
    phones as text, every text cell made safe. Streamed (bot/services/xlsx.py): no row stays in memory."""

    def __init__(self, header: Sequence[str]) -> None:
        self.writer = SheetWriter("Nhu cầu", [neutralise(h) for h in header], widths=WIDTHS, formats=DATE_COLUMNS,
                                  text_columns=(PHONE_COLUMN,))

    def append(self, row: Sequence[Any]) -> None:
        self.writer.append([v if v is None or isinstance(v, date) else cell(v) for v in row])

    def finish(self) -> bytes:
        return self.writer.finish()


class CsvSheet:
    """CSV for Excel, row by row: UTF-8 BOM, a `sep=,` line, dates as dd/mm/yyyy, amounts with a dot, cells
    made safe."""

    def __init__(self, header: Sequence[str]) -> None:
        self.buffer = io.StringIO()
        self.buffer.write("sep=,\r\n")
        self.writer = csv.writer(self.buffer)
        self.writer.writerow([cell(h) for h in header])

    def append(self, row: Sequence[Any]) -> None:
        self.writer.writerow([_csv_cell(index, v) for index, v in enumerate(row)])

    def finish(self) -> bytes:
        return self.buffer.getvalue().encode("utf-8-sig")


def _csv_cell(index: int, value: Any) -> Any:
    if isinstance(value, date):
        return value.strftime("%m/%Y" if index == MONTH_COLUMN else "%d/%m/%Y")
    return cell(value)


async def export_needs(session: AsyncSession, *, clock: Clock, actor: User, query: NeedQuery, kind: str,
                       communes: CommuneDirectory, tz: ZoneInfo, gettext: Gettext) -> bytes:
    """Exactly the filtered rows (every page), as XLSX or CSV; the export is audited. The needs are read as plain
    rows (not ORM objects) in one streamed query and written EXPORT_CHUNK at a time, so memory does not grow with
    the rows."""
    sheet = XlsxSheet(headers(gettext)) if kind == "xlsx" else CsvSheet(headers(gettext))
    cells, written = ExportCells(communes=communes, tz=tz, gettext=gettext), 0
    async for rows in console_repos.needs_export_rows(session, filters=query.filters, sort=query.sort,
                                                      descending=query.descending, search=text_search(query.q),
                                                      batch=EXPORT_CHUNK):
        for row in rows:
            sheet.append(cells.row(row))
        written += len(rows)
    await audit(session, clock=clock, actor=actor, action="export", target_kind="needs",
                detail={"format": kind, "rows": written, "q": query.q, "filters": _filters_detail(query.filters)})
    return sheet.finish()


def _filters_detail(f: NeedFilter) -> dict[str, Any]:
    out = {k: v for k, v in vars(f).items() if v is not None}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items()}


# --- a need's page ---


@dataclass
class NeedView:
    need: Need
    facility: Facility | None
    events: Sequence[NeedEvent]
    notes: Sequence[NeedNote]
    audit: Sequence[AuditEntry]
    people: dict[int, User]
    registrant: User | None
    filed_by: User | None


async def need_view(session: AsyncSession, *, actor: needs_service.Actor, need_id: int) -> NeedView:
    need, facility = await needs_service.get_for_staff(session, actor=actor, need_id=need_id)
    events = await repos.need_events(session, need_id=need_id)
    notes = await console_repos.need_notes(session, need_id=need_id)
    entries, _ = await console_repos.audit_entries(session, target_kind="need", target_id=need_id)
    ids = [i for i in (*(e.actor_user_id for e in events), *(n.author_user_id for n in notes),
                       *(a.actor_user_id for a in entries), need.registrant_user_id, need.filed_by_user_id) if i]
    people = await console_repos.users_by_ids(session, ids=ids)
    return NeedView(need=need, facility=facility, events=events, notes=notes, audit=entries, people=people,
                    registrant=people.get(need.registrant_user_id or 0),
                    filed_by=people.get(need.filed_by_user_id or 0))


async def add_note(session: AsyncSession, *, clock: Clock, actor: needs_service.Actor, need_id: int,
                   text: str) -> NeedNote:
    await needs_service.get_for_staff(session, actor=actor, need_id=need_id)
    text = text.strip()
    if not text:
        raise DomainError(N_("The note is empty."))
    if len(text) > NOTE_MAX:
        raise DomainError(N_("The note is too long (at most {n} characters)."), n=NOTE_MAX)
    note = NeedNote(need_id=need_id, author_user_id=actor.user.id, text=text, created_at=clock.now())
    session.add(note)
    await audit(session, clock=clock, actor=actor.user, action="note", target_kind="need", target_id=need_id,
                detail={"text": text[:200]})
    return note


async def change_status(session: AsyncSession, *, clock: Clock, actor: needs_service.Actor, need_id: int,
                        to: str, reason: str, translate: needs_service.Translator,
                        contact: tuple[str, str] = ("", "")) -> Need:
    """The workflow step of `bot.services.needs` (which notifies the registrant), audited."""
    try:
        target = NeedStatus(to)
    except ValueError:
        raise DomainError() from None
    need = await needs_service.get_for_staff(session, actor=actor, need_id=need_id)
    before = need[0].status
    changed = await needs_service.change_status(session, clock=clock, actor=actor, need_id=need_id, to=target,
                                                reason=reason.strip() or None, translate=translate, contact=contact)
    await audit(session, clock=clock, actor=actor.user, action="status", target_kind="need", target_id=need_id,
                detail={"from": before, "to": changed.status, "reason": reason.strip()})
    return changed


async def reopen(session: AsyncSession, *, clock: Clock, actor: needs_service.Actor, need_id: int, reason: str,
                 translate: needs_service.Translator, contact: tuple[str, str] = ("", "")) -> Need:
    need = await needs_service.reopen(session, clock=clock, actor=actor, need_id=need_id, reason=reason,
                                      translate=translate, contact=contact)
    await audit(session, clock=clock, actor=actor.user, action="reopen", target_kind="need", target_id=need_id,
                detail={"to": need.status, "reason": reason.strip()})
    return need


# --- dashboard ---


def half_year(today: date) -> tuple[date, date]:
    """This half-year: 1 January–30 June or 1 July–31 December (end inclusive)."""
    if today.month <= 6:
        return date(today.year, 1, 1), date(today.year, 6, 30)
    return date(today.year, 7, 1), date(today.year, 12, 31)


@dataclass
class Dashboard:
    start: date
    end: date
    by_category: list[tuple[str, int]]
    by_commune: list[tuple[int | None, int]]
    by_status: list[tuple[str, int]]
    amounts: list[tuple[str, Decimal]]
    own_contributions: list[tuple[str, Decimal]]  # what the facilities pay themselves, by status
    total_needs: int
    total_amount: Decimal
    total_own: Decimal
    broadcasts: list[tuple[Any, dict[str, int]]]


async def dashboard(session: AsyncSession, *, start: date, end: date, tz: ZoneInfo) -> Dashboard:
    lo, hi = local_day_start(start, tz), local_day_start(end + timedelta(days=1), tz)
    by_category: dict[str, int] = {}
    by_commune: dict[int | None, int] = {}
    by_status: dict[str, int] = {}
    amounts: dict[str, Decimal] = {}
    own: dict[str, Decimal] = {}
    for category, commune, status, n, cost, contribution in await console_repos.needs_summary(session, start=lo,
                                                                                              end=hi):
        by_category[category] = by_category.get(category, 0) + n
        by_commune[commune] = by_commune.get(commune, 0) + n
        by_status[status] = by_status.get(status, 0) + n
        amounts[status] = amounts.get(status, Decimal(0)) + Decimal(cost or 0)
        own[status] = own.get(status, Decimal(0)) + Decimal(contribution or 0)
    return Dashboard(
        start=start, end=end,
        by_category=_largest_first(by_category), by_commune=_largest_first(by_commune),
        by_status=sorted(by_status.items()), amounts=sorted(amounts.items()), own_contributions=sorted(own.items()),
        total_needs=sum(by_status.values()), total_amount=sum(amounts.values(), Decimal(0)),
        total_own=sum(own.values(), Decimal(0)),
        broadcasts=await console_repos.recent_broadcasts(session),
    )


def _largest_first(counts: dict[Any, int]) -> list[tuple[Any, int]]:
    """By count, the largest first; equal counts in the order of their keys (no commune first)."""
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] is not None, kv[0] if kv[0] is not None else 0))
    return sorted(ordered, key=lambda kv: -kv[1])
