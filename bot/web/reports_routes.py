"""The report figures for a period (presets or chosen days) and optionally a commune: a printable page and an
XLSX workbook. (The collaborators' periodic reports are another thing: handlers/reports.py.)"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bot.domain import NeedCategory, NeedStatus
from bot.services import reports_figures, reports_workbook
from bot.services.exports import file_name
from bot.services.validation import ascii_int
from bot.web import security
from bot.web.app import render
from bot.web.security import StaffData, StaffPage, ctx

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _period(request: Request) -> reports_figures.Period:
    """The period asked for: a preset's code, else chosen days (from/to), else this half-year."""
    params = request.query_params
    chosen = reports_figures.parse_period(params.get("period") or "")
    if chosen is not None:
        return chosen
    start, end = _day(params.get("from")), _day(params.get("to"))
    if start and end:
        return reports_figures.Period(min(start, end), max(start, end))
    return reports_figures.presets(ctx(request).today())[0]


def _commune(request: Request) -> int | None:
    code = ascii_int(request.query_params.get("commune") or "")
    return code if code and ctx(request).communes.get(code) is not None else None


@router.get("/reports")
async def reports_page(request: Request, staff: StaffPage) -> Response:
    app = ctx(request)
    period, commune = _period(request), _commune(request)
    data = await reports_figures.figures(staff.session, period=period, commune_code=commune, tz=app.tz)
    state = {"period": period.code} if period.code else {"from": period.start.isoformat(),
                                                          "to": period.end.isoformat()}
    if commune:
        state["commune"] = str(commune)
    return render(request, "reports.html", {
        "d": data, "presets": reports_figures.presets(app.today()), "communes": app.communes.all(),
        "gettext": security.gettext_for(request), "export_qs": urlencode(state), "statuses": list(NeedStatus),
        "categories": list(NeedCategory), "competition_notes": reports_figures.COMPETITION_NOTES,
        "project_note": reports_figures.PROJECT_NOTE, "levels": reports_figures.LEVELS,
        "source_label": reports_figures.source_label, "kind_label": reports_figures.kind_label,
        "level_label": reports_figures.level_label,
    }, staff=staff)


@router.get("/reports/export.xlsx")
async def reports_export(request: Request, staff: StaffData) -> Response:
    app = ctx(request)
    period, commune = _period(request), _commune(request)
    data = await reports_figures.figures(staff.session, period=period, commune_code=commune, tz=app.tz)
    gettext = security.gettext_for(request)
    body = await reports_workbook.export(staff.session, clock=app.clock, actor=staff.user, data=data,
                                         communes=app.communes, gettext=gettext)
    name = file_name("bao-cao", period.start.isoformat(), period.end.isoformat(),
                     app.communes.name(commune) if commune else "", ext="xlsx")
    return Response(body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
