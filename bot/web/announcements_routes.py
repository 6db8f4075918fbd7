"""Announcements in the console: the list with delivery figures, compose with a live phone-sized preview, the
audience builder with a live count per channel, saved audiences, copy, test copy, send or schedule (after the
chat flow's questions: quiet hours, a large audience, the Zalo quota), live progress and per-recipient status.

Every rule is the announcements service's (bot/services/announcements.py, through
bot/services/announcement_desk.py); nothing here talks to a channel. Routes with a fixed word after
/announcements/ are declared before /announcements/{ann_id}, which would take the word for an id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from bot.domain import (
    ANNOUNCEMENT_STATUS_LABELS,
    AUDIENCE_ROLE_LABELS,
    AUDIENCE_ROLES,
    KIND_LABELS,
    SECTOR_LABELS,
    SIGNUP_KINDS,
    AnnouncementKind,
    AnnouncementStatus,
    OutboxStatus,
)
from bot.errors import DomainError
from bot.i18n_marker import N_
from bot.services import announcement_desk as desk
from bot.services import announcements as svc
from bot.services import outbox
from bot.services.forms.engine import TextInput
from bot.services.validation import ascii_int
from bot.web import security
from bot.web.app import render
from bot.web.security import Staff, StaffPage, StaffPost, ctx
from storage import console_repos
from storage.models import Announcement

router = APIRouter()
EDITABLE = (AnnouncementStatus.DRAFT, AnnouncementStatus.SCHEDULED)
CONTENT_KEYS = ("kind", "title", "body", "place", "starts_on", "ends_on", "deadline_on", "questions")
# The questions before sending, in the chat flow's order; each answer is carried by the next form as a letter.
QUIET_OK, SIZE_OK, QUOTA_OK = "q", "y", "z"
POLL_SECONDS = 3


def _fields(form: FormData) -> dict[str, str]:
    return {k: v for k in CONTENT_KEYS if isinstance(v := form.get(k), str)}


def _error_url(request: Request, url: str, error: DomainError) -> str:
    return url + "?" + urlencode({"error": error.message.render(security.gettext_for(request))})


def _back(ann_id: int, request: Request | None = None, error: DomainError | None = None) -> Response:
    url = f"/announcements/{ann_id}"
    if error is not None and request is not None:
        url = _error_url(request, url, error)
    return RedirectResponse(url, status_code=303)


def _missing(request: Request, staff: Staff) -> Response:
    _ = security.gettext_for(request)
    return render(request, "error.html", {"message": _("This announcement does not exist.")}, status=404, staff=staff)


def _labels() -> dict[str, Any]:
    return {
        "KIND_LABELS": KIND_LABELS,
        "kinds": list(AnnouncementKind),
        "ANN_STATUS": ANNOUNCEMENT_STATUS_LABELS,
        "AUDIENCE_ROLE_LABELS": AUDIENCE_ROLE_LABELS,
        "AUDIENCE_ROLES": AUDIENCE_ROLES,
        "DELIVERY_LABELS": desk.DELIVERY_LABELS,
        "SIGNUP_KINDS": SIGNUP_KINDS,
        "EDITABLE": EDITABLE,
    }


# --- the list, compose, the preview ---


@router.get("/announcements")
async def announcements_list(request: Request, staff: StaffPage) -> Response:
    page = await desk.announcements_page(staff.session, page=ascii_int(request.query_params.get("page") or "") or 1)
    return render(request, "announcements.html", {"p": page, **_labels()}, staff=staff)


async def _compose(
    request: Request,
    staff: Staff,
    *,
    ann: Announcement | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The compose page (a new announcement, or a refused edit shown again with what was typed)."""
    data, _refused = await desk.check_content(ctx(request).forms, values)
    attachment = svc.form_data(ann)["attachment"] if ann is not None else None
    return render(
        request,
        "announcement_compose.html",
        {
            "ann": ann,
            "values": values,
            "errors": errors or {},
            "messages": desk.phone_view(
                desk.draft_of(data, attachment, ann.id if ann else None), security.gettext_for(request)
            ),
            **_labels(),
        },
        status=status,
        staff=staff,
    )


@router.get("/announcements/new")
async def announcement_new(request: Request, staff: StaffPage) -> Response:
    return await _compose(request, staff, ann=None, values={"kind": AnnouncementKind.GENERAL.value})


async def _checked(request: Request, form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    data, errors = await desk.check_content(ctx(request).forms, _fields(form))
    gettext = security.gettext_for(request)
    return data, {name: text.render(gettext) for name, text in errors.items()}


@router.post("/announcements")
async def announcement_create(request: Request, staff: StaffPost) -> Response:
    form = await request.form()
    data, errors = await _checked(request, form)
    if errors:
        return await _compose(request, staff, ann=None, values=_fields(form), errors=errors, status=400)
    ann = await desk.save_content(staff.session, clock=ctx(request).clock, actor=staff.user, ann_id=None, data=data)
    return _back(ann.id or 0)


@router.post("/announcements/preview")
async def announcement_preview(request: Request, staff: StaffPost) -> Response:
    """The phone-sized preview of the words being typed (htmx), with what the form would refuse."""
    form = await request.form()
    data, errors = await _checked(request, form)
    attachment = None
    if (ann_id := ascii_int(str(form.get("ann_id") or ""))) is not None:
        ann = await staff.session.get(Announcement, ann_id)
        attachment = svc.form_data(ann)["attachment"] if ann is not None else None
    messages = desk.phone_view(desk.draft_of(data, attachment, ann_id), security.gettext_for(request))
    return render(request, "announcement_phone.html", {"messages": messages, "errors": errors}, staff=staff)


# --- saved audiences (before /announcements/{ann_id}) ---


@router.post("/announcements/audiences/{audience_id}/delete")
async def audience_delete(request: Request, staff: StaffPost, audience_id: int) -> Response:
    form = await request.form()
    back = security.safe_next(str(form.get("next") or "/announcements"))
    try:
        await desk.delete_audience(staff.session, clock=ctx(request).clock, actor=staff.user, audience_id=audience_id)
    except DomainError as exc:
        await staff.session.rollback()
        return RedirectResponse(_error_url(request, back, exc), status_code=303)
    return RedirectResponse(back, status_code=303)


# --- one announcement ---


async def _audience_view(request: Request, staff: Staff, ann: Announcement, audience: svc.Audience) -> dict[str, Any]:
    channels = await svc.audience_channels(
        staff.session, audience=audience, kind=ann.kind, admin_ids=ctx(request).settings.admin_ids
    )
    return {"aud": audience, "channels": dict(sorted(channels.items())), "size": sum(channels.values())}


@router.get("/announcements/{ann_id}")
async def announcement_page(request: Request, staff: StaffPage, ann_id: int) -> Response:
    ann = await staff.session.get(Announcement, ann_id)
    if ann is None:
        return _missing(request, staff)
    app = ctx(request)
    entries, _ = await console_repos.audit_entries(staff.session, target_kind="announcement", target_id=ann_id)
    people = await console_repos.users_by_ids(staff.session, ids=[e.actor_user_id for e in entries if e.actor_user_id])
    context = {
        "ann": ann,
        "values": svc.form_data(ann),
        "errors": {},
        "error": request.query_params.get("error"),
        "notice": request.query_params.get("notice"),
        "messages": desk.phone_view(ann, security.gettext_for(request)),
        "communes": app.communes.all(),
        "sectors": SECTOR_LABELS,
        "saved": await console_repos.saved_audiences(staff.session),
        "schedule_value": ann.scheduled_at.astimezone(app.tz).strftime("%Y-%m-%dT%H:%M") if ann.scheduled_at else "",
        "entries": entries,
        "people": people,
        **await _audience_view(request, staff, ann, svc.Audience.of(ann.audience)),
        **await _progress(request, staff, ann),
        **_labels(),
    }
    return render(request, "announcement.html", context, staff=staff)


@router.post("/announcements/{ann_id}")
async def announcement_save(request: Request, staff: StaffPost, ann_id: int) -> Response:
    form = await request.form()
    data, errors = await _checked(request, form)
    ann = await staff.session.get(Announcement, ann_id)
    if ann is None:
        return _missing(request, staff)
    if errors:
        return await _compose(request, staff, ann=ann, values=_fields(form), errors=errors, status=400)
    try:
        await desk.save_content(staff.session, clock=ctx(request).clock, actor=staff.user, ann_id=ann_id, data=data)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    return _back(ann_id)


@router.post("/announcements/{ann_id}/photo")
async def announcement_photo(request: Request, staff: StaffPost, ann_id: int) -> Response:
    """Attach a photo (kept in the media store, as a photo sent in the chat is), or remove it."""
    app = ctx(request)
    form = await request.form()
    upload = form.get("photo")
    try:
        ref = None
        if form.get("remove") is None:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise DomainError(N_("Please choose a photo (JPEG or PNG)."))
            data = await upload.read(desk.PHOTO_MAX_BYTES + 1)
            desk.check_photo(data)
            await svc.get_editable(staff.session, ann_id=ann_id)
            assert app.media is not None
            ref = await app.media.keep(data, kind="photo", name=upload.filename)
        await desk.set_photo(staff.session, clock=app.clock, actor=staff.user, ann_id=ann_id, ref=ref)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    return _back(ann_id)


def _audience_of_form(request: Request, form: FormData) -> svc.Audience:
    return desk.audience_of(
        [str(v) for v in form.getlist("role")],
        [str(v) for v in form.getlist("commune")],
        [str(v) for v in form.getlist("sector")],
        form.get("by_topic") is not None,
        ctx(request).communes,
    )


@router.post("/announcements/{ann_id}/count")
async def announcement_count(request: Request, staff: StaffPost, ann_id: int) -> Response:
    """The audience builder's live count per channel (htmx), for the choices as they are on the page."""
    ann = await staff.session.get(Announcement, ann_id)
    if ann is None:
        return _missing(request, staff)
    audience = _audience_of_form(request, await request.form())
    return render(request, "announcement_count.html", await _audience_view(request, staff, ann, audience), staff=staff)


@router.post("/announcements/{ann_id}/audience")
async def announcement_audience(request: Request, staff: StaffPost, ann_id: int) -> Response:
    """Save the builder's audience, or use a saved one (`saved`)."""
    app = ctx(request)
    form = await request.form()
    try:
        if (saved_id := ascii_int(str(form.get("saved") or ""))) is not None:
            saved = await desk.saved_audience(staff.session, audience_id=saved_id)
            audience = svc.Audience.of(saved.criteria)
        else:
            audience = _audience_of_form(request, form)
        await desk.set_audience(staff.session, clock=app.clock, actor=staff.user, ann_id=ann_id, audience=audience)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    return _back(ann_id)


@router.post("/announcements/{ann_id}/audiences")
async def audience_save(request: Request, staff: StaffPost, ann_id: int) -> Response:
    """Keep the builder's audience under a name, and use it for this announcement."""
    app = ctx(request)
    form = await request.form()
    audience = _audience_of_form(request, form)
    try:
        await desk.save_audience(
            staff.session, clock=app.clock, actor=staff.user, name=str(form.get("name") or ""), audience=audience
        )
        await desk.set_audience(staff.session, clock=app.clock, actor=staff.user, ann_id=ann_id, audience=audience)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    return _back(ann_id)


async def _committed(request: Request, staff: Staff) -> None:
    """Commit now and wake this process's outbox sender, if it has one."""
    await staff.session.commit()
    if (sender := ctx(request).outbox) is not None:
        sender.notify()


@router.post("/announcements/{ann_id}/test")
async def announcement_test(request: Request, staff: StaffPost, ann_id: int) -> Response:
    """A test copy to the signed-in staff member's own chat (its buttons do nothing)."""
    try:
        await desk.test_copy(
            staff.session,
            clock=ctx(request).clock,
            actor=staff.user,
            ann_id=ann_id,
            translate=_in_own_language(request, staff),
        )
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    await _committed(request, staff)
    _ = security.gettext_for(request)
    return RedirectResponse(
        f"/announcements/{ann_id}?" + urlencode({"notice": _("A test copy is on its way to you.")}), status_code=303
    )


def _in_own_language(request: Request, staff: Staff) -> Any:
    """The staff member's chat language (what their own copy is written in)."""
    app = ctx(request)
    locale = staff.user.locale or app.settings.default_locale
    return lambda msgid: app.translate(msgid, locale)


@router.post("/announcements/{ann_id}/copy")
async def announcement_copy(request: Request, staff: StaffPost, ann_id: int) -> Response:
    """A new draft with this announcement's words and audience."""
    try:
        ann = await desk.copy(staff.session, clock=ctx(request).clock, actor=staff.user, ann_id=ann_id)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    return _back(ann.id or 0)


@router.post("/announcements/{ann_id}/cancel")
async def announcement_cancel(request: Request, staff: StaffPost, ann_id: int) -> Response:
    try:
        await desk.cancel(staff.session, clock=ctx(request).clock, actor=staff.user, ann_id=ann_id)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    return _back(ann_id)


@router.post("/announcements/{ann_id}/stop")
async def announcement_stop(request: Request, staff: StaffPost, ann_id: int) -> Response:
    try:
        await desk.stop(staff.session, clock=ctx(request).clock, actor=staff.user, ann_id=ann_id)
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    return _back(ann_id)


# --- send now or at a time, after the chat flow's questions ---


async def _when(request: Request, raw: str) -> datetime | None:
    """The page's local date and time (2026-03-31T08:00) checked as the chat's schedule form checks a typed one;
    None for "now"."""
    if not raw.strip():
        return None
    typed = raw.strip().replace("T", " ")
    try:
        day, clock_time = typed.split(" ", 1)
        year, month, dom = day.split("-")
        typed = f"{int(dom)}/{int(month)}/{int(year)} {clock_time}"
    except ValueError:
        pass
    data, errors = await ctx(request).forms.answer_all("schedule", {"when": TextInput(typed)})
    if errors:
        raise DomainError(errors["when"].msgid, **errors["when"].params)
    return datetime.fromisoformat(data["when"]).astimezone(UTC)


def _question(check: svc.SendCheck, answers: str) -> str | None:
    """The first question not answered yet: quiet hours, the audience's size, the Zalo quota."""
    if QUIET_OK not in answers and check.quiet_until is not None:
        return "quiet"
    if SIZE_OK not in answers and check.confirm_size:
        return "size"
    if QUOTA_OK not in answers and check.zalo is not None:
        return "quota"
    return None


@router.post("/announcements/{ann_id}/send")
async def announcement_send(request: Request, staff: StaffPost, ann_id: int) -> Response:
    """Send now (no time) or schedule (a local time); first the questions staff have not answered."""
    app, settings = ctx(request), ctx(request).settings
    form = await request.form()
    answers = "".join(a for a in (QUIET_OK, SIZE_OK, QUOTA_OK) if a in str(form.get("answers") or ""))
    try:
        ann = await svc.get_editable(staff.session, ann_id=ann_id)
        when = await _when(request, str(form.get("when") or ""))
        if when is not None:
            svc.check_future(when, now=app.clock.now())
        check = await svc.send_check(
            staff.session,
            ann=ann,
            when=when,
            now=app.clock.now(),
            tz=app.tz,
            quiet=svc.QuietHours(settings.quiet_start, settings.quiet_end),
            confirm_above=settings.broadcast_confirm_above,
            zalo_quota=settings.zalo_monthly_quota,
            admin_ids=settings.admin_ids,
        )
        if (question := _question(check, answers)) is not None:
            return render(
                request,
                "announcement_confirm.html",
                {
                    "ann": ann,
                    "question": question,
                    "check": check,
                    "answers": answers,
                    "when": when,
                    "quiet": svc.QuietHours(settings.quiet_start, settings.quiet_end),
                    "value": lambda moment: moment.astimezone(app.tz).strftime("%Y-%m-%dT%H:%M"),
                    "count": lambda n: format_decimal(n, locale=security.locale_of(request)),
                },
                staff=staff,
            )
        await desk.send(
            staff.session,
            clock=app.clock,
            actor=staff.user,
            ann_id=ann_id,
            when=when,
            how=desk.Sending(app.translate, settings.default_locale, settings.admin_ids),
        )
    except DomainError as exc:
        await staff.session.rollback()
        return _back(ann_id, request, exc)
    await _committed(request, staff)
    return _back(ann_id)


# --- progress and deliveries ---


async def _progress(request: Request, staff: Staff, ann: Announcement) -> dict[str, Any]:
    app = ctx(request)
    counts = await desk.figures(staff.session, ann_id=ann.id or 0)
    paused = ann.status == AnnouncementStatus.SENDING and await outbox.channel_down(staff.session)
    text = (
        svc.progress_text(ann, counts, app.settings.send_rate, security.gettext_for(request), paused=paused)
        if counts["total"]
        else ""
    )
    polling = ann.status in (AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING)
    return {"counts": counts, "progress": text, "polling": polling, "poll_seconds": POLL_SECONDS}


@router.get("/announcements/{ann_id}/progress")
async def announcement_progress(request: Request, staff: StaffPage, ann_id: int) -> Response:
    """The figures while sending (htmx polls this every few seconds until the broadcast ends). Once the status
    differs from the one the page shows (`shown`: scheduled → sending → sent), htmx reloads the whole page, so its
    status and actions (stop, sign-ups) follow."""
    ann = await staff.session.get(Announcement, ann_id)
    if ann is None:
        return _missing(request, staff)
    response = render(
        request,
        "announcement_progress.html",
        {"ann": ann, **await _progress(request, staff, ann), **_labels()},
        staff=staff,
    )
    if request.query_params.get("shown", ann.status) != ann.status:
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/announcements/{ann_id}/deliveries")
async def announcement_deliveries(request: Request, staff: StaffPage, ann_id: int) -> Response:
    """Each recipient's delivery status, filtered by status, paged."""
    params = request.query_params
    try:
        ann = await svc.get(staff.session, ann_id=ann_id)
        page = await desk.deliveries(
            staff.session, ann_id=ann_id, status=params.get("status"), page=ascii_int(params.get("page") or "") or 1
        )
    except DomainError:
        return _missing(request, staff)
    return render(
        request,
        "announcement_deliveries.html",
        {"ann": ann, "p": page, "statuses": list(OutboxStatus), **_labels()},
        staff=staff,
    )
