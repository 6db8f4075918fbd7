"""An announcement's sign-ups (/announcements/{id}/signups): each answer under its question, participant status
with a change control (htmx, or a plain form post), capacity and the waiting list, filters, XLSX/CSV export;
for a competition, the products certified for each accepted participant (recorded and removed here).

Status changes and a larger capacity notify people through the outbox (`bot.services.signups`); every action is
CSRF-protected and audited."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.domain import CertificationLevel, ParticipantStatus
from bot.errors import DomainError
from bot.services import certified, signups
from bot.services.validation import format_date
from bot.web import security
from bot.web.app import render
from bot.web.security import FormText, Staff, StaffData, StaffPage, StaffPost, ctx

router = APIRouter()
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "text/csv; charset=utf-8"}


def _filter(raw: str | None) -> str:
    return raw if raw in signups.FILTERS else ""


def _page_url(ann_id: int, status_filter: str, error: str | None = None) -> str:
    query = {k: v for k, v in (("status", status_filter), ("error", error)) if v}
    return f"/announcements/{ann_id}/signups" + (f"?{urlencode(query)}" if query else "")


async def _show(request: Request, staff: Staff, ann_id: int, status_filter: str, *, error: str | None = None,
                partial: bool = False) -> Response:
    try:
        view = await signups.signups_view(staff.session, actor=staff.actor, ann_id=ann_id, status_filter=status_filter)
    except DomainError:
        _ = security.gettext_for(request)
        return render(request, "error.html", {"message": _("This announcement does not exist.")}, status=404,
                      staff=staff)
    context = {"v": view, "error": error, "filters": signups.FILTERS, "WAITING": signups.WAITING,
               "statuses": list(ParticipantStatus), "levels": list(CertificationLevel),
               "today": format_date(ctx(request).today()),
               "qs": urlencode({"status": view.status_filter}) if view.status_filter else ""}
    return render(request, "signups_table.html" if partial else "signups.html", context, staff=staff)


@router.get("/announcements/{ann_id}/signups")
async def signups_page(request: Request, staff: StaffPage, ann_id: int) -> Response:
    params = request.query_params
    return await _show(request, staff, ann_id, _filter(params.get("status")), error=params.get("error"),
                       partial=request.headers.get("HX-Request") == "true")


@router.get("/announcements/{ann_id}/signups/export.{kind}")
async def signups_export(request: Request, staff: StaffData, ann_id: int, kind: str) -> Response:
    if kind not in MEDIA_TYPES:
        return Response(status_code=404)
    app = ctx(request)
    try:
        name, data = await signups.export(staff.session, clock=app.clock, actor=staff.actor, ann_id=ann_id,
                                          status_filter=_filter(request.query_params.get("status")), kind=kind,
                                          communes=app.communes, tz=app.tz, gettext=security.gettext_for(request))
    except DomainError:
        return Response(status_code=404)
    return Response(data, media_type=MEDIA_TYPES[kind],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def _after(request: Request, staff: Staff, ann_id: int, status_filter: str,
                 error: DomainError | None) -> Response:
    """Commit (waking this process's outbox sender for the notices) or roll back, then show the result: the
    table for htmx, else the page again."""
    message = error.message.render(security.gettext_for(request)) if error else None
    if error is None:
        await staff.session.commit()
        outbox = ctx(request).outbox
        if outbox is not None:
            outbox.notify()
    else:
        await staff.session.rollback()
        for row in (staff.signed.session, staff.signed.user):  # a rollback expires them; the page shows them
            await staff.session.refresh(row)
    if request.headers.get("HX-Request") == "true":
        return await _show(request, staff, ann_id, status_filter, error=message, partial=True)
    return RedirectResponse(_page_url(ann_id, status_filter, message), status_code=303)


@router.post("/announcements/{ann_id}/signups/{signup_id}/status")
async def signup_status(request: Request, staff: StaffPost, ann_id: int, signup_id: int, to: FormText = "",
                        reason: FormText = "", show: FormText = "") -> Response:
    app = ctx(request)
    try:
        await signups.change_status(staff.session, clock=app.clock, actor=staff.actor, ann_id=ann_id,
                                    signup_id=signup_id, to=to, reason=reason, translate=app.translate,
                                    contact=app.settings.centre_contact)
    except DomainError as exc:
        return await _after(request, staff, ann_id, _filter(show), exc)
    return await _after(request, staff, ann_id, _filter(show), None)


@router.post("/announcements/{ann_id}/signups/capacity")
async def signup_capacity(request: Request, staff: StaffPost, ann_id: int, capacity: FormText = "",
                          show: FormText = "") -> Response:
    app = ctx(request)
    try:
        await signups.set_capacity(staff.session, clock=app.clock, actor=staff.actor, ann_id=ann_id, raw=capacity,
                                   translate=app.translate)
    except DomainError as exc:
        return await _after(request, staff, ann_id, _filter(show), exc)
    return await _after(request, staff, ann_id, _filter(show), None)


@router.post("/announcements/{ann_id}/signups/{signup_id}/products")
async def product_record(request: Request, staff: StaffPost, ann_id: int, signup_id: int, name: FormText = "",
                         level: FormText = "", certified_on: FormText = "", show: FormText = "") -> Response:
    app = ctx(request)
    try:
        await certified.record(staff.session, clock=app.clock, today=app.today(), actor=staff.actor, ann_id=ann_id,
                               signup_id=signup_id, name=name[:1000], level=level, certified_on=certified_on[:40])
    except DomainError as exc:
        return await _after(request, staff, ann_id, _filter(show), exc)
    return await _after(request, staff, ann_id, _filter(show), None)


@router.post("/announcements/{ann_id}/signups/{signup_id}/products/{product_id}/remove")
async def product_remove(request: Request, staff: StaffPost, ann_id: int, signup_id: int, product_id: int,
                         show: FormText = "") -> Response:
    app = ctx(request)
    try:
        await certified.remove(staff.session, clock=app.clock, actor=staff.actor, ann_id=ann_id,
                               signup_id=signup_id, product_id=product_id)
    except DomainError as exc:
        return await _after(request, staff, ann_id, _filter(show), exc)
    return await _after(request, staff, ann_id, _filter(show), None)
