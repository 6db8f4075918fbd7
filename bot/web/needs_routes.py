"""The needs table (search, filters, sorting, paging, export) and a need's page (status, reopen, notes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.domain import TRANSITIONS, NeedCategory, NeedStatus, Sector
from bot.errors import DomainError
from bot.services import console, projects
from bot.services.needs import REOPENABLE
from bot.services.validation import ascii_int
from bot.web import security
from bot.web.app import render
from bot.web.security import FormText, Staff, StaffData, StaffPage, StaffPost, ctx
from storage.console_repos import SORT_COLUMNS, NeedFilter

router = APIRouter()
FILTER_KEYS = ("q", "status", "category", "commune", "sector", "from", "to", "by", "sort", "dir")


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def need_query(request: Request) -> console.NeedQuery:
    """The table's state from the query string; anything unknown is ignored, never an error."""
    params, tz = request.query_params, ctx(request).tz
    start, end = _day(params.get("from")), _day(params.get("to"))
    by = params.get("by")
    filters = NeedFilter(
        status=params.get("status") if params.get("status") in set(NeedStatus) else None,
        category=params.get("category") if params.get("category") in set(NeedCategory) else None,
        commune_code=ascii_int(params.get("commune") or "") or None,
        sector=params.get("sector") if params.get("sector") in set(Sector) else None,
        created_from=console.local_day_start(start, tz) if start else None,
        created_before=console.local_day_start(end + timedelta(days=1), tz) if end else None,
        by_collaborator={"ctv": True, "self": False}.get(by or ""),
    )
    sort = params.get("sort") if params.get("sort") in SORT_COLUMNS else "created"
    return console.NeedQuery(q=(params.get("q") or "")[:100], filters=filters, sort=sort,
                             descending=params.get("dir") != "asc", page=ascii_int(params.get("page") or "") or 1)


def _state(request: Request) -> dict[str, str]:
    return {k: request.query_params[k] for k in FILTER_KEYS if request.query_params.get(k)}


@router.get("/needs")
async def needs_list(request: Request, staff: StaffPage) -> Response:
    query = need_query(request)
    page = await console.needs_page(staff.session, query=query)
    state = _state(request)
    app = ctx(request)
    context = {
        "page": page, "query": query, "state": state, "qs": lambda **kw: urlencode({**state, **kw}),
        "communes": app.communes.all(), "statuses": list(NeedStatus), "categories": list(NeedCategory),
        "sectors": list(Sector),
    }
    template = "needs_table.html" if request.headers.get("HX-Request") == "true" else "needs.html"
    return render(request, template, context, staff=staff)


@router.get("/needs/export.{kind}")
async def needs_export(request: Request, staff: StaffData, kind: str) -> Response:
    if kind not in ("xlsx", "csv"):
        return Response(status_code=404)
    app = ctx(request)
    data = await console.export_needs(staff.session, clock=app.clock, actor=staff.user, query=need_query(request),
                                      kind=kind, communes=app.communes, tz=app.tz,
                                      gettext=security.gettext_for(request))
    stamp = app.clock.now().astimezone(app.tz).strftime("%Y%m%d-%H%M")
    media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if kind == "xlsx"
             else "text/csv; charset=utf-8")
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="nhu-cau-{stamp}.{kind}"'})


@router.get("/needs/{need_id}")
async def need_page(request: Request, staff: StaffPage, need_id: int) -> Response:
    try:
        view = await console.need_view(staff.session, actor=staff.actor, need_id=need_id)
    except DomainError:
        _ = security.gettext_for(request)
        return render(request, "error.html", {"message": _("This need does not exist.")}, status=404, staff=staff)
    return render(request, "need.html", {
        "v": view, "next_steps": TRANSITIONS[NeedStatus(view.need.status)],
        "can_reopen": view.need.status in REOPENABLE, "error": request.query_params.get("error"),
        "DECLINED": NeedStatus.DECLINED, "project": await projects.of_need(staff.session, need_id=need_id),
    }, staff=staff)


def _back(need_id: int, error: DomainError | None = None, request: Request | None = None) -> Response:
    url = f"/needs/{need_id}"
    if error is not None and request is not None:
        url += "?" + urlencode({"error": error.message.render(security.gettext_for(request))})
    return RedirectResponse(url, status_code=303)


async def _workflow_step(request: Request, staff: StaffPost, need_id: int, step: Callable[..., Awaitable[Any]],
                         **kwargs: Any) -> Response:
    """A status change or a reopen: the person is notified through the outbox; a refusal is shown on the page."""
    app = ctx(request)
    try:
        await step(staff.session, clock=app.clock, actor=staff.actor, need_id=need_id, translate=app.translate,
                   contact=app.settings.centre_contact, **kwargs)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(need_id, exc, request)
    await _committed(request, staff)
    return _back(need_id)


@router.post("/needs/{need_id}/status")
async def need_status(request: Request, staff: StaffPost, need_id: int, to: FormText = "",
                      reason: FormText = "") -> Response:
    return await _workflow_step(request, staff, need_id, console.change_status, to=to, reason=reason[:500])


@router.post("/needs/{need_id}/reopen")
async def need_reopen(request: Request, staff: StaffPost, need_id: int, reason: FormText = "") -> Response:
    return await _workflow_step(request, staff, need_id, console.reopen, reason=reason[:500])


@router.post("/needs/{need_id}/notes")
async def need_note(request: Request, staff: StaffPost, need_id: int, text: FormText = "") -> Response:
    try:
        await console.add_note(staff.session, clock=ctx(request).clock, actor=staff.actor, need_id=need_id,
                               text=text)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(need_id, exc, request)
    return _back(need_id)


async def _committed(request: Request, staff: Staff) -> None:
    """Commit now and wake the outbox sender (when this process has one) for the registrant's notice."""
    await staff.session.commit()
    outbox = ctx(request).outbox
    if outbox is not None:
        outbox.notify()
