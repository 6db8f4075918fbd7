"""The figures the centre writes in its six-monthly, yearly and five-year reports, computed from the data for a
period (local days, Asia/Ho_Chi_Minh) and optionally one commune: per funding source the projects, the
facilities supported (with machinery among them), the support and the investment mobilised from the
facilities; fairs, competitions and training courses with their sign-ups; survey visits; the needs received
by kind and status. Shown as a printable page and written as an XLSX workbook (one sheet per table).

(Not to be confused with `handlers/reports.py`: the collaborators' periodic reports.)

What counts where: a project counts in the period of its decision date; an announced fair, competition or
course in the period of its first day (of the day it was sent when it has no dates); a survey on the day a
need was marked surveyed; a need on the day it was received. A product competition counts with its
participants and the products certified in it (staff record them, `bot.services.certified`), each product at
the level it was certified. A need declined or withdrawn after joining a project stays listed in the project
but is not counted: neither its facility nor its amounts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import (
    CATEGORY_LABELS,
    CERTIFICATION_LEVEL_LABELS,
    FUNDING_SOURCE_LABELS,
    KIND_LABELS,
    PROJECT_NEED_STATUSES,
    AnnouncementKind,
    CertificationLevel,
    FundingSource,
    NeedCategory,
    NeedStatus,
)
from bot.i18n_marker import N_, Text
from bot.services.console import local_day_start
from storage import project_repos
from storage.models import Announcement
from storage.project_repos import CertifiedRow, SupportedRow

Gettext = Callable[[str], str]
PLAN_FIRST_YEAR = 2021  # five-year plans: 2021–2025, 2026–2030, …
EVENT_KINDS = (AnnouncementKind.FAIR, AnnouncementKind.COMPETITION, AnnouncementKind.TRAINING)
_HALF = re.compile(r"^([0-9]{4})-H([12])$")
_YEAR = re.compile(r"^([0-9]{4})$")
_YEARS = re.compile(r"^([0-9]{4})-([0-9]{4})$")


# --- periods ---


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    code: str = ""  # "2026-H1", "2026", "2021-2025"; empty for chosen days

    def label(self) -> Text:
        half, year, years = _HALF.match(self.code), _YEAR.match(self.code), _YEARS.match(self.code)
        if half:
            first = half.group(2) == "1"
            return Text(N_("First half of {year}") if first else N_("Second half of {year}"), {"year": half.group(1)})
        if year:
            return Text(N_("Year {year}"), {"year": year.group(1)})
        if years:
            return Text(N_("{first}–{last}"), {"first": years.group(1), "last": years.group(2)})
        return Text(N_("{start} – {end}"), {"start": f"{self.start:%d/%m/%Y}", "end": f"{self.end:%d/%m/%Y}"})


def half_of(year: int, half: int) -> Period:
    return Period(date(year, 1 if half == 1 else 7, 1), date(year, 6 if half == 1 else 12, 30 if half == 1 else 31),
                  f"{year}-H{half}")


def parse_period(code: str) -> Period | None:
    """A period from its code: "2026-H1" (a half-year), "2026" (a year), "2021-2025" (several years)."""
    if match := _HALF.match(code):
        return half_of(int(match.group(1)), int(match.group(2)))
    if match := _YEAR.match(code):
        return Period(date(int(code), 1, 1), date(int(code), 12, 31), code)
    if (match := _YEARS.match(code)) and 2000 <= int(match.group(1)) <= int(match.group(2)) <= 2100:
        return Period(date(int(match.group(1)), 1, 1), date(int(match.group(2)), 12, 31), code)
    return None


def presets(today: date) -> list[Period]:
    """This half-year, the last one, this year, last year, the previous and the current five-year plan."""
    half = 1 if today.month <= 6 else 2
    last = half_of(today.year - 1, 2) if half == 1 else half_of(today.year, 1)
    plan = PLAN_FIRST_YEAR + (today.year - PLAN_FIRST_YEAR) // 5 * 5
    codes = (str(today.year), str(today.year - 1), f"{plan - 5}-{plan - 1}", f"{plan}-{plan + 4}")
    return [half_of(today.year, half), last, *(p for c in codes if (p := parse_period(c)) is not None)]


# --- the figures ---


@dataclass
class SourceRow:
    source: str
    projects: int = 0
    facilities: int = 0
    machinery_facilities: int = 0
    support: Decimal = Decimal(0)
    own: Decimal = Decimal(0)

    @property
    def investment(self) -> Decimal:
        return self.support + self.own


def _by_level(levels: Sequence[str]) -> dict[str, int]:
    return {level.value: sum(1 for x in levels if x == level) for level in CertificationLevel}


@dataclass(frozen=True)
class EventRow:
    announcement: Announcement
    day: date
    signed_up: int
    completed: int
    products: Mapping[str, int] = field(default_factory=dict)  # a competition's certified products per level

    @property
    def certified(self) -> int:
        return sum(self.products.values())


@dataclass(frozen=True)
class EventSummary:
    kind: str
    events: int
    signed_up: int
    completed: int
    products: Mapping[str, int] = field(default_factory=dict)

    @property
    def certified(self) -> int:
        return sum(self.products.values())


@dataclass
class Figures:
    period: Period
    commune_code: int | None
    sources: list[SourceRow]
    total: SourceRow
    supported: Sequence[SupportedRow]
    events: list[EventRow]
    event_summary: list[EventSummary]
    survey_visits: int
    surveyed_facilities: int
    needs: dict[str, dict[str, int]] = field(default_factory=dict)  # category → status → needs
    certified: Sequence[CertifiedRow] = ()  # the products certified in the period's competitions

    @property
    def competitions(self) -> list[EventRow]:
        return [e for e in self.events if e.announcement.kind == AnnouncementKind.COMPETITION]

    @property
    def competition_summary(self) -> EventSummary:
        (summary,) = [s for s in self.event_summary if s.kind == AnnouncementKind.COMPETITION]
        return summary

    def needs_total(self, status: str | None = None) -> int:
        return sum(n for row in self.needs.values() for s, n in row.items() if status is None or s == status)


def _by_source(rows: Sequence[SupportedRow]) -> tuple[list[SourceRow], SourceRow]:
    """Per funding source (every source listed, in the programme's order) and all together."""
    def build(selected: Sequence[SupportedRow], source: str) -> SourceRow:
        return SourceRow(
            source=source, projects=len({p.id for p, _, _, _ in selected}),
            facilities=len({n.facility_id or -(n.id or 0) for _, _, n, _ in selected}),
            machinery_facilities=len({n.facility_id or -(n.id or 0) for _, _, n, _ in selected
                                      if n.category == NeedCategory.MACHINERY}),
            support=sum((m.support_million for _, m, _, _ in selected), Decimal(0)),
            own=sum((m.own_contribution_million for _, m, _, _ in selected), Decimal(0)))
    sources = [build([r for r in rows if r[0].funding_source == s], s) for s in FundingSource]
    return sources, build(rows, "")


def _event_day(a: Announcement, tz: ZoneInfo) -> date:
    if a.starts_on is not None:
        return a.starts_on
    return a.started_at.astimezone(tz).date() if a.started_at else a.created_at.astimezone(tz).date()


async def _events(session: AsyncSession, period: Period, commune: int | None,
                  tz: ZoneInfo) -> tuple[list[EventRow], Sequence[CertifiedRow]]:
    """The period's fairs, competitions and courses with their sign-ups (and a competition's certified products),
    and those products one by one."""
    announced = await project_repos.announcements_of_kinds(session, kinds=list(EVENT_KINDS))
    inside = [(a, _event_day(a, tz)) for a in announced if period.start <= _event_day(a, tz) <= period.end]
    ids = [a.id for a, _ in inside if a.id]
    counts = await project_repos.signup_counts(session, announcement_ids=ids, commune_code=commune)
    contests = [a.id for a, _ in inside if a.id and a.kind == AnnouncementKind.COMPETITION]
    products = await project_repos.certified(session, announcement_ids=contests, commune_code=commune)
    rows = [EventRow(a, day, *counts.get(a.id or 0, (0, 0)),
                     products=_by_level([p.level for p, held, _ in products if held.id == a.id]))
            for a, day in inside]
    # With a commune: the events someone of that commune signed up for (or had a product certified in).
    return [r for r in rows if commune is None or r.signed_up or r.certified], products


def _summary(events: Sequence[EventRow]) -> list[EventSummary]:
    def of(kind: str) -> list[EventRow]:
        return [e for e in events if e.announcement.kind == kind]
    def products(kind: str) -> dict[str, int]:
        return {lv.value: sum(e.products.get(lv.value, 0) for e in of(kind)) for lv in CertificationLevel}
    return [EventSummary(kind=k, events=len(of(k)), signed_up=sum(e.signed_up for e in of(k)),
                         completed=sum(e.completed for e in of(k)), products=products(k)) for k in EVENT_KINDS]


async def figures(session: AsyncSession, *, period: Period, commune_code: int | None, tz: ZoneInfo) -> Figures:
    lo, hi = local_day_start(period.start, tz), local_day_start(period.end + timedelta(days=1), tz)
    supported = await project_repos.supported(session, start=period.start, end=period.end,
                                              commune_code=commune_code, counted=list(PROJECT_NEED_STATUSES))
    sources, total = _by_source(supported)
    events, certified = await _events(session, period, commune_code, tz)
    visits, surveyed = await project_repos.surveys(session, start=lo, end=hi, commune_code=commune_code)
    needs: dict[str, dict[str, int]] = {}
    for category, status, n in await project_repos.needs_by_category_status(session, start=lo, end=hi,
                                                                            commune_code=commune_code):
        needs.setdefault(category, {})[status] = n
    return Figures(period=period, commune_code=commune_code, sources=sources, total=total, supported=supported,
                   events=events, event_summary=_summary(events), survey_visits=visits,
                   surveyed_facilities=surveyed, needs=needs, certified=certified)


# --- the workbook ---


# What each competition figure means, said under the table and in the workbook.
COMPETITION_NOTES = (
    N_("Competitions held: the product competitions whose first day (or the day they were sent, when they have "
       "no dates) falls in the period."),
    N_("Participants: the sign-ups that still stand, whatever the centre decided; dossiers handed in: those who "
       "said in the bot that they handed theirs in."),
    N_("Products certified: recorded by staff for accepted participants and counted with their competition, "
       "whatever the day they were certified, each once at the level it was certified: a product certified at "
       "regional level counts as regional, not also as provincial; one certified at two levels was recorded, and "
       "counts, at each."),
    N_("With a commune: the participants of that commune, and the products of participants who were of that "
       "commune when the product was recorded."),
)
PROJECT_NOTE = N_("A need declined or withdrawn after joining a project stays listed in the project, marked, but "
                  "counts neither here nor in the project's totals.")


def level_label(level: str, gettext: Gettext) -> str:
    return gettext(CERTIFICATION_LEVEL_LABELS[CertificationLevel(level)]) if level in set(CertificationLevel) else level


def category_label(key: str, gettext: Gettext) -> str:
    return gettext(CATEGORY_LABELS[NeedCategory(key)]) if key in set(NeedCategory) else key


def source_label(source: str, gettext: Gettext) -> str:
    if source in set(FundingSource):
        return gettext(FUNDING_SOURCE_LABELS[FundingSource(source)])
    return gettext(N_("Total"))


def kind_label(kind: str, gettext: Gettext) -> str:
    return gettext(KIND_LABELS[AnnouncementKind(kind)])


STATUSES = list(NeedStatus)
LEVELS = [level.value for level in CertificationLevel]
