"""The report figures (`bot.services.reports_figures`) as an XLSX workbook: a sheet for the period, then one
sheet per table, with Vietnamese (the reader's language) headers, numbers as numbers, dates as dates, phones
as text, widths set and the header row frozen."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.domain import STATUS_LABELS, NeedCategory, NeedStatus
from bot.i18n_marker import N_
from bot.services.communes import CommuneDirectory
from bot.services.exports import Column, Sheet, workbook_bytes
from bot.services.reports_figures import (
    COMPETITION_NOTES,
    LEVELS,
    PROJECT_NOTE,
    Figures,
    category_label,
    kind_label,
    level_label,
    source_label,
)
from bot.services.staff_auth import audit
from bot.services.validation import format_phone
from storage.models import User

Gettext = Callable[[str], str]


def _period_sheet(data: Figures, communes: CommuneDirectory, _: Gettext) -> Sheet:
    rows = [
        [_(N_("Period")), data.period.label().render(_)],
        [_(N_("From")), data.period.start],
        [_(N_("To")), data.period.end],
        [_(N_("Commune/ward")), communes.name(data.commune_code) if data.commune_code else _(N_("All"))],
        [_(N_("Note")), _(PROJECT_NOTE)],
        *([_(N_("Note")), _(note)] for note in COMPETITION_NOTES),
    ]
    return Sheet(_(N_("Period")), [Column(_(N_("Item")), 22), Column(_(N_("Value")), 60)], rows)


def _sources_sheet(data: Figures, _: Gettext) -> Sheet:
    columns = [Column(_(N_("Funding source")), 40), Column(_(N_("Number of projects")), 10, "count"),
               Column(_(N_("Facilities supported")), 14, "count"),
               Column(_(N_("Of which with machinery")), 16, "count"),
               Column(_(N_("Support (million đồng)")), 16, "amount"),
               Column(_(N_("Investment mobilised from facilities (million đồng)")), 22, "amount"),
               Column(_(N_("Total investment (million đồng)")), 18, "amount")]
    rows = [[source_label(r.source, _), r.projects, r.facilities, r.machinery_facilities, r.support, r.own,
             r.investment] for r in (*data.sources, data.total)]
    return Sheet(_(N_("Funding sources")), columns, rows)


def _supported_sheet(data: Figures, communes: CommuneDirectory, _: Gettext) -> Sheet:
    columns = [Column(_(N_("Project")), 34), Column(_(N_("Decision number")), 16),
               Column(_(N_("Decision date")), 12, "date"), Column(_(N_("Funding source")), 30),
               Column(_(N_("Code")), 14), Column(_(N_("Facility")), 30), Column(_(N_("Owner")), 22),
               Column(_(N_("Phone")), 15, "phone"), Column(_(N_("Commune/ward")), 22),
               Column(_(N_("Kind of need")), 30), Column(_(N_("Support (million đồng)")), 14, "amount"),
               Column(_(N_("Own contribution (million đồng)")), 14, "amount")]
    rows = [[p.name, p.decision or "", p.approved_on, source_label(p.funding_source, _), n.ref or f"#{n.id}",
             f.name if f else "", (f.owner_name or "") if f else "", format_phone(f.phone) if f else "",
             communes.name(n.commune_code), category_label(n.category, _), m.support_million,
             m.own_contribution_million] for p, m, n, f in data.supported]
    return Sheet(_(N_("Facilities supported")), columns, rows)


def _activities_sheet(data: Figures, _: Gettext) -> Sheet:
    columns = [Column(_(N_("Activity")), 30), Column(_(N_("Times held")), 10, "count"),
               Column(_(N_("Facilities or people taking part")), 18, "count"),
               Column(_(N_("Dossiers handed in")), 14, "count")]
    rows: list[list[object]] = [[kind_label(s.kind, _), s.events, s.signed_up, s.completed]
                                for s in data.event_summary]
    rows.append([_(N_("Survey visits")), data.survey_visits, data.surveyed_facilities, None])
    return Sheet(_(N_("Activities")), columns, rows)  # type: ignore[arg-type]


def _events_sheet(data: Figures, _: Gettext) -> Sheet:
    columns = [Column(_(N_("Kind")), 24), Column(_(N_("Title")), 40), Column(_(N_("Place")), 22),
               Column(_(N_("From")), 12, "date"), Column(_(N_("To")), 12, "date"),
               Column(_(N_("Sign-ups")), 10, "count"), Column(_(N_("Dossiers handed in")), 14, "count")]
    rows = [[kind_label(e.announcement.kind, _), e.announcement.title, e.announcement.place or "", e.day,
             e.announcement.ends_on, e.signed_up, e.completed] for e in data.events]
    return Sheet(_(N_("Fairs, competitions, courses")), columns, rows)


def _competitions_sheet(data: Figures, _: Gettext) -> Sheet:
    """One row per competition of the period, then the total: participants, dossiers, products per level."""
    columns = [Column(_(N_("Competition")), 40), Column(_(N_("From")), 12, "date"),
               Column(_(N_("Participants")), 12, "count"), Column(_(N_("Dossiers handed in")), 14, "count"),
               *(Column(_(N_("Certified: {level}")).format(level=level_label(lv, _)), 14, "count") for lv in LEVELS),
               Column(_(N_("Products certified")), 14, "count")]
    rows: list[list[object]] = [[e.announcement.title, e.day, e.signed_up, e.completed,
                                 *(e.products.get(lv, 0) for lv in LEVELS), e.certified] for e in data.competitions]
    total = data.competition_summary
    rows.append([_(N_("Total: {n} competitions")).format(n=total.events), None, total.signed_up, total.completed,
                 *(total.products.get(lv, 0) for lv in LEVELS), total.certified])
    return Sheet(_(N_("Product competitions")), columns, rows)  # type: ignore[arg-type]


def _certified_sheet(data: Figures, communes: CommuneDirectory, _: Gettext) -> Sheet:
    columns = [Column(_(N_("Product")), 34), Column(_(N_("Level")), 16), Column(_(N_("Date certified")), 12, "date"),
               Column(_(N_("Facility")), 30), Column(_(N_("Commune/ward")), 22), Column(_(N_("Competition")), 40)]
    rows = [[p.name, level_label(p.level, _), p.certified_on, f.name if f else "", communes.name(p.commune_code),
             a.title] for p, a, f in data.certified]
    return Sheet(_(N_("Certified products")), columns, rows)


def _needs_sheet(data: Figures, _: Gettext) -> Sheet:
    columns = [Column(_(N_("Kind of need")), 40),
               *(Column(_(STATUS_LABELS[s]), 14, "count") for s in NeedStatus), Column(_(N_("Total")), 10, "count")]
    rows: list[list[object]] = [[category_label(c, _), *(data.needs.get(c, {}).get(s, 0) for s in NeedStatus),
                                 sum(data.needs.get(c, {}).values())] for c in NeedCategory]
    rows.append([_(N_("Total")), *(data.needs_total(s) for s in NeedStatus), data.needs_total()])
    return Sheet(_(N_("Needs received")), columns, rows)  # type: ignore[arg-type]


def build(data: Figures, *, communes: CommuneDirectory, gettext: Gettext) -> bytes:
    return workbook_bytes([_period_sheet(data, communes, gettext), _sources_sheet(data, gettext),
                           _supported_sheet(data, communes, gettext), _activities_sheet(data, gettext),
                           _events_sheet(data, gettext), _competitions_sheet(data, gettext),
                           _certified_sheet(data, communes, gettext), _needs_sheet(data, gettext)])


async def export(session: AsyncSession, *, clock: Clock, actor: User, data: Figures, communes: CommuneDirectory,
                 gettext: Gettext) -> bytes:
    """The report's workbook; the export is audited."""
    await audit(session, clock=clock, actor=actor, action="report_export", target_kind="report",
                detail={"from": data.period.start.isoformat(), "to": data.period.end.isoformat(),
                        "commune": data.commune_code})
    return build(data, communes=communes, gettext=gettext)
