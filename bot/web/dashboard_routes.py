"""The dashboard: needs by category, commune and status, amounts requested, recent broadcasts."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from bot.domain import NeedStatus
from bot.services import console, usage
from bot.web.app import render
from bot.web.security import StaffPage, ctx

router = APIRouter()


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@router.get("/")
async def dashboard(request: Request, staff: StaffPage) -> Response:
    app = ctx(request)
    default_start, default_end = console.half_year(app.today())
    start = _day(request.query_params.get("from")) or default_start
    end = _day(request.query_params.get("to")) or default_end
    if end < start:
        start, end = end, start
    data = await console.dashboard(staff.session, start=start, end=end, tz=app.tz)
    biggest = max((n for _, n in data.by_category + data.by_commune), default=1) or 1
    now = app.clock.now()
    sent = [await usage.of_month(staff.session, channel="telegram", moment=now, quota=0, tz=app.tz),
            await usage.of_month(staff.session, channel="zalo", moment=now, quota=app.settings.zalo_monthly_quota,
                                 tz=app.tz)]
    return render(request, "dashboard.html", {"d": data, "biggest": biggest, "NeedStatus": NeedStatus,
                                              "usage": sent}, staff=staff)
