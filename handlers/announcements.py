"""Staff: /announce (compose, audience, preview, test copy, send or schedule), /broadcasts (progress,
stop, cancel, sign-ups). Recipients: sign up, not interested, share."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import (
    ANNOUNCEMENT_STATUS_LABELS,
    AUDIENCE_ROLE_LABELS,
    AUDIENCE_ROLES,
    KIND_LABELS,
    SECTOR_LABELS,
    SIGNUP_KINDS,
    AnnouncementKind,
    AnnouncementStatus,
    Role,
    shown,
)
from bot.errors import NotFound
from bot.i18n import I18n
from bot.i18n import gettext as _
from bot.services import announcements as svc
from bot.services.outbox import enqueue
from bot.services.validation import format_phone
from handlers.callbacks import AnCb, RecipientCb, small_number
from handlers.common import ensure_staff, staff_actor
from handlers.forms import FormRun, on_complete, start_form
from handlers.keyboards import inline
from storage.models import Announcement, User

router = Router(name="announcements")


async def _audience_view(app: AppContext, session: AsyncSession, ann: Announcement
                         ) -> tuple[str, InlineKeyboardMarkup]:
    aud = svc.Audience.of(ann.audience)
    size = await svc.audience_size(session, audience=aud, kind=ann.kind, admin_ids=app.settings.admin_ids)
    every = _("everyone")
    roles = ", ".join(_(AUDIENCE_ROLE_LABELS[r]) for r in aud.roles) if aud.roles else every
    communes = ", ".join(escape(app.communes.name(c)) for c in aud.communes) if aud.communes else _("all")
    sectors = ", ".join(_(SECTOR_LABELS[s]) for s in aud.sectors if s in SECTOR_LABELS) if aud.sectors else _("all")
    text = "\n".join([
        _("<b>Audience</b> for “{title}”").format(title=escape(ann.title)),
        _("Who: {roles}").format(roles=roles),
        _("Communes: {communes}").format(communes=communes),
        _("Sectors: {sectors}").format(sectors=sectors),
        _("Only people following this topic: {answer}").format(answer=_("yes") if aud.by_topic else _("no")),
        "",
        _("👥 <b>{n}</b> people will receive it.").format(n=size),
    ])
    i = ann.id or 0
    role_row = [(("✓ " if r in aud.roles else "") + _(AUDIENCE_ROLE_LABELS[r]), AnCb(action="r", id=i, value=r).pack())
                for r in AUDIENCE_ROLES]
    rows = [role_row, [(_("➕ Add a commune"), AnCb(action="ca", id=i).pack())]]
    rows += [[("✖ " + app.communes.name(c), AnCb(action="cr", id=i, value=str(c)).pack())] for c in aud.communes]
    rows.append([(_("Sectors ▾"), AnCb(action="sm", id=i).pack()),
                 (_("Topic filter: on") if aud.by_topic else _("Topic filter: off"), AnCb(action="t", id=i).pack())])
    rows.append([(_("👁 Preview"), AnCb(action="pv", id=i).pack())])
    return text, inline(rows)


def _sector_menu(ann: Announcement) -> InlineKeyboardMarkup:
    chosen = svc.Audience.of(ann.audience).sectors
    rows = [[(("✓ " if s in chosen else "") + _(label), AnCb(action="s", id=ann.id or 0, value=s.value).pack())]
            for s, label in SECTOR_LABELS.items()]
    rows.append([(_("◀ Back"), AnCb(action="au", id=ann.id or 0).pack())])
    return inline(rows)


def _control_keyboard(ann: Announcement) -> InlineKeyboardMarkup:
    i = ann.id or 0
    return inline([
        [(_("📨 Send a test copy to me"), AnCb(action="tc", id=i).pack())],
        [(_("🚀 Send now"), AnCb(action="go", id=i).pack()), (_("🕒 Schedule…"), AnCb(action="sc", id=i).pack())],
        [(_("✏️ Edit"), AnCb(action="ed", id=i).pack()), (_("🎯 Audience"), AnCb(action="au", id=i).pack())],
        [(_("✖ Cancel the announcement"), AnCb(action="x", id=i).pack())],
    ])


# --- staff: compose ------------------------------------------------------------------------------


@router.message(Command("announce"))
async def announce(message: Message, app: AppContext, session: AsyncSession, user: User | None, role: Role,
                   i18n: I18n) -> None:
    """/announce: the announcement form (staff only)."""
    staff = await staff_actor(app=app, session=session, user=user, role=role, tg_user=message.from_user,
                              locale=i18n.current_locale)
    await start_form(message, app=app, session=session, user=staff.user, form="announce")


@on_complete("announce")
async def composed(run: FormRun, data: dict[str, Any]) -> None:
    if run.context.get("ann_id"):
        ann = await svc.update_content(run.session, clock=run.app.clock, ann_id=run.context["ann_id"], data=data)
    else:
        ann = await svc.create(run.session, clock=run.app.clock, author=run.user, data=data)
    text, markup = await _audience_view(run.app, run.session, ann)
    await run.reply(text, reply_markup=markup)


@on_complete("ann_commune")
async def commune_added(run: FormRun, data: dict[str, Any]) -> None:
    ann = await svc.get_editable(run.session, ann_id=run.context["ann_id"])
    aud = svc.Audience.of(ann.audience)
    if int(data["commune"]) not in aud.communes:
        aud.communes.append(int(data["commune"]))
    ann = await svc.set_audience(run.session, clock=run.app.clock, ann_id=ann.id or 0, audience=aud)
    text, markup = await _audience_view(run.app, run.session, ann)
    await run.reply(text, reply_markup=markup)


@on_complete("new_deadline")
@on_complete("reminder_days")
async def reminders_changed(run: FormRun, data: dict[str, Any]) -> None:
    from datetime import date

    ann = await svc.change_reminders(
        run.session, clock=run.app.clock, tz=run.app.tz, ann_id=run.context["ann_id"],
        deadline_on=date.fromisoformat(data["deadline_on"]) if "deadline_on" in data else None,
        reminder_days=data.get("days"),
    )
    text, markup = await _broadcast_detail(run.app, run.session, ann.id or 0)
    await run.reply(_("Saved. Reminders have been rescheduled.") + "\n\n" + text, reply_markup=markup)


@on_complete("schedule")
async def scheduled(run: FormRun, data: dict[str, Any]) -> None:
    from datetime import datetime

    when = datetime.fromisoformat(data["when"])
    ann = await svc.schedule(run.session, clock=run.app.clock, ann_id=run.context["ann_id"], when=when)
    await run.reply(_("🕒 “{title}” will be sent on {when}. You can change or cancel it in /broadcasts.").format(
        title=escape(ann.title), when=when.astimezone(run.app.tz).strftime("%d/%m/%Y %H:%M")))


@router.callback_query(AnCb.filter())
async def staff_press(query: CallbackQuery, callback_data: AnCb, app: AppContext, session: AsyncSession,
                      user: User | None, role: Role, i18n: I18n) -> None:
    """Every staff button of the announcement flow and of /broadcasts."""
    staff = await staff_actor(app=app, session=session, user=user, role=role, tg_user=query.from_user,
                              locale=i18n.current_locale)
    a, ann_id, value = callback_data.action, callback_data.id, callback_data.value
    message = query.message
    if a in ("r", "cr", "t", "s"):
        ann = await svc.get_editable(session, ann_id=ann_id)
        aud = svc.Audience.of(ann.audience)
        if a == "r" and value in AUDIENCE_ROLES:
            aud.roles = [r for r in aud.roles if r != value] if value in aud.roles else [*aud.roles, value]
        elif a == "cr" and (code := small_number(value)) is not None:
            aud.communes = [c for c in aud.communes if c != code]
        elif a == "t":
            aud.by_topic = not aud.by_topic
        elif a == "s" and value in SECTOR_LABELS:
            aud.sectors = [s for s in aud.sectors if s != value] if value in aud.sectors else [*aud.sectors, value]
        ann = await svc.set_audience(session, clock=app.clock, ann_id=ann_id, audience=aud)
        await query.answer()
        if a == "s":
            await message.edit_reply_markup(reply_markup=_sector_menu(ann))
            return
        text, markup = await _audience_view(app, session, ann)
        await message.edit_text(text, reply_markup=markup)
    elif a == "au":
        ann = await svc.get_editable(session, ann_id=ann_id)
        await query.answer()
        text, markup = await _audience_view(app, session, ann)
        await message.answer(text, reply_markup=markup)
    elif a == "sm":
        ann = await svc.get_editable(session, ann_id=ann_id)
        await query.answer()
        await message.edit_reply_markup(reply_markup=_sector_menu(ann))
    elif a == "ca":
        await svc.get_editable(session, ann_id=ann_id)
        await query.answer()
        await start_form(message, app=app, session=session, user=staff.user, form="ann_commune",
                         context={"ann_id": ann_id})
    elif a == "pv":
        await _preview(query, app, session, ann_id)
    elif a == "tc":
        ann = await svc.get(session, ann_id=ann_id)
        await enqueue(session, clock=app.clock, user=staff.user, kind="announcement_test",
                      reply=svc.reply_of(ann, Role.USER, _, heading=_("🧪 Test copy"), inert=True))
        await query.answer(_("A test copy is on its way to you."))
    elif a == "go":
        ann = await svc.get_editable(session, ann_id=ann_id)
        await query.answer()
        progress = await message.answer(_("📨 Preparing to send “{title}”…").format(title=escape(ann.title)))
        ann = await svc.start(session, clock=app.clock, ann_id=ann_id, translate=app.translate,
                              default_locale=app.settings.default_locale, admin_ids=app.settings.admin_ids,
                              progress=(str(progress.chat.id), progress.message_id))
        counts = await svc.figures(session, ann_id=ann_id)
        await progress.edit_text(escape(svc.progress_text(ann, counts, app.settings.send_rate, _)))
    elif a == "sc":
        await svc.get_editable(session, ann_id=ann_id)
        await query.answer()
        await start_form(message, app=app, session=session, user=staff.user, form="schedule",
                         context={"ann_id": ann_id})
    elif a == "ed":
        ann = await svc.get_editable(session, ann_id=ann_id)
        await query.answer()
        await start_form(message, app=app, session=session, user=staff.user, form="announce",
                         data=svc.form_data(ann), context={"ann_id": ann_id})
    elif a == "x":
        ann = await svc.cancel(session, clock=app.clock, ann_id=ann_id)
        await query.answer()
        await message.answer(_("“{title}” has been cancelled; nothing was sent.").format(title=escape(ann.title)))
    elif a == "stop":
        cancelled = await svc.stop(session, clock=app.clock, ann_id=ann_id)
        await query.answer()
        await message.answer(_("⏹ Broadcast stopped. {n} remaining messages were cancelled.").format(n=cancelled))
    elif a in ("dl", "rd"):
        await svc.get(session, ann_id=ann_id)
        await query.answer()
        await start_form(message, app=app, session=session, user=staff.user,
                         form="new_deadline" if a == "dl" else "reminder_days", context={"ann_id": ann_id})
    elif a == "ru":
        ann = await svc.get(session, ann_id=ann_id)
        await svc.change_reminders(session, clock=app.clock, tz=app.tz, ann_id=ann_id,
                                   remind_unanswered=not ann.remind_unanswered)
        await query.answer(_("Saved."))
        text, markup = await _broadcast_detail(app, session, ann_id)
        await message.edit_text(text, reply_markup=markup)
    elif a == "wd":
        ann = await svc.withdraw(session, clock=app.clock, ann_id=ann_id)
        await query.answer()
        await message.answer(_("“{title}” has been withdrawn: sign-up is closed and no reminders will be sent.")
                             .format(title=escape(ann.title)))
    elif a == "o":
        await query.answer()
        text, markup = await _broadcast_detail(app, session, ann_id)
        await message.answer(text, reply_markup=markup)
    elif a == "su":
        await _show_signups(query, app, session, ann_id)
    elif a in ("rsf", "rsu"):
        await _resend(query, app, session, ann_id, unknown=a == "rsu", confirmed=value == "yes")
    elif a == "csv":
        ann = await svc.get(session, ann_id=ann_id)
        data = await svc.signups_csv(session, ann=ann, communes=app.communes, tz=app.tz, translate=_)
        await query.answer()
        await message.answer_document(BufferedInputFile(data, filename=f"dang-ky-{ann.id}.csv"),
                                      caption=escape(ann.title))
    else:
        raise NotFound()


async def _preview(query: CallbackQuery, app: AppContext, session: AsyncSession, ann_id: int) -> None:
    """Exactly what a facility will see, then the size, the time it will take and the actions."""
    ann = await svc.get_editable(session, ann_id=ann_id)
    await query.answer()
    text = svc.render(ann, _)
    preview_buttons = [[(c.label, RecipientCb(action="pv", id=ann_id).pack()) for c in row]
                       for row in svc.choices(ann, Role.USER, _)]
    markup = inline(preview_buttons) if preview_buttons else None
    if ann.attachment_file_id and len(text) <= 1024:
        send = query.message.answer_photo if ann.attachment_kind == "photo" else query.message.answer_document
        await send(ann.attachment_file_id, caption=text, reply_markup=markup)
    else:
        await query.message.answer(text, reply_markup=markup)
    size = await svc.audience_size(session, audience=svc.Audience.of(ann.audience), kind=ann.kind,
                                   admin_ids=app.settings.admin_ids)
    eta = svc.eta_text(svc.estimated_seconds(size, app.settings.send_rate), _)
    await query.message.answer(
        _("👆 This is how it will look.\n👥 {n} recipients · about {eta} to deliver at {rate} messages per second.")
        .format(n=size, eta=eta, rate=int(app.settings.send_rate)),
        reply_markup=_control_keyboard(ann),
    )


# --- staff: /broadcasts ---------------------------------------------------------------------------


@router.message(Command("broadcasts"))
async def broadcasts(message: Message, app: AppContext, session: AsyncSession, role: Role) -> None:
    """/broadcasts: past, running and scheduled announcements with their figures (staff only)."""
    ensure_staff(role)
    items = await svc.recent(session, limit=10)
    if not items:
        await message.answer(_("No announcements yet. Create one with /announce."))
        return
    lines = [_("<b>Announcements</b>")]
    rows = []
    for ann in items:
        counts = await svc.figures(session, ann_id=ann.id or 0)
        status = _(ANNOUNCEMENT_STATUS_LABELS[AnnouncementStatus(ann.status)])
        line = f"• <b>{escape(ann.title)}</b> — {status}"
        if ann.status == AnnouncementStatus.SCHEDULED and ann.scheduled_at:
            line += " " + ann.scheduled_at.astimezone(app.tz).strftime("%d/%m/%Y %H:%M")
        if counts["total"]:
            line += "\n  " + _("sent {sent}/{total}, blocked {blocked}, failed {failed}, unknown {unknown}").format(
                sent=counts["sent"], total=counts["total"], blocked=counts["blocked"], failed=counts["failed"],
                unknown=counts["unknown"])
        lines.append(line)
        rows.append([(ann.title[:40], AnCb(action="o", id=ann.id or 0).pack())])
    await message.answer("\n".join(lines), reply_markup=inline(rows))


async def _broadcast_detail(app: AppContext, session: AsyncSession, ann_id: int) -> tuple[str, InlineKeyboardMarkup]:
    ann = await svc.get(session, ann_id=ann_id)
    counts = await svc.figures(session, ann_id=ann_id)
    lines = [
        f"<b>{escape(ann.title)}</b>",
        " · ".join([_(KIND_LABELS[AnnouncementKind(ann.kind)]),
                    _(ANNOUNCEMENT_STATUS_LABELS[AnnouncementStatus(ann.status)])]),
    ]
    if counts["total"]:
        lines.append(escape(svc.progress_text(ann, counts, app.settings.send_rate, _)))
    i = ann.id or 0
    rows: list[list[tuple[str, str]]] = []
    if ann.status == AnnouncementStatus.SENDING:
        rows.append([(_("⏹ Stop sending"), AnCb(action="stop", id=i).pack())])
    if ann.status in (AnnouncementStatus.DRAFT, AnnouncementStatus.SCHEDULED):
        rows.append([(_("👁 Preview"), AnCb(action="pv", id=i).pack()),
                     (_("✏️ Edit"), AnCb(action="ed", id=i).pack())])
        rows.append([(_("✖ Cancel the announcement"), AnCb(action="x", id=i).pack())])
    if ann.status in (AnnouncementStatus.SENDING, AnnouncementStatus.SENT):
        if ann.deadline_on:
            lines.append(_("⏰ Reminders {days} days before the deadline ({date}), at 08:00.").format(
                days=", ".join(str(d) for d in ann.reminder_days), date=ann.deadline_on.strftime("%d/%m/%Y")))
            lines.append(_("People who have not answered are reminded too: {answer}").format(
                answer=_("yes") if ann.remind_unanswered else _("no")))
            rows.append([(_("🗓 Change the deadline"), AnCb(action="dl", id=i).pack()),
                         (_("⏰ Reminder days"), AnCb(action="rd", id=i).pack())])
            rows.append([(_("Remind non-responders: on") if ann.remind_unanswered
                          else _("Remind non-responders: off"), AnCb(action="ru", id=i).pack())])
        rows.append([(_("✖ Withdraw (no more sign-ups or reminders)"), AnCb(action="wd", id=i).pack())])
    if ann.status == AnnouncementStatus.SENT and counts["failed"]:
        rows.append([(_("🔁 Resend to the {n} who failed").format(n=counts["failed"]),
                      AnCb(action="rsf", id=i).pack())])
    if ann.status == AnnouncementStatus.SENT and counts["unknown"]:
        rows.append([(_("⚠️ Resend to the {n} with unknown delivery…").format(n=counts["unknown"]),
                      AnCb(action="rsu", id=i).pack())])
    if ann.kind in SIGNUP_KINDS and ann.status in (AnnouncementStatus.SENDING, AnnouncementStatus.SENT,
                                                   AnnouncementStatus.STOPPED):
        rows.append([(_("📋 Sign-ups"), AnCb(action="su", id=i).pack()),
                     (_("⬇ Sign-ups (CSV)"), AnCb(action="csv", id=i).pack())])
    return "\n".join(lines), inline(rows)


async def _resend(query: CallbackQuery, app: AppContext, session: AsyncSession, ann_id: int, *,
                  unknown: bool, confirmed: bool) -> None:
    """Resend to those who failed; those with unknown delivery only after a second, explicit confirmation."""
    await query.answer()
    if unknown and not confirmed:
        counts = await svc.figures(session, ann_id=ann_id)
        await query.message.answer(
            _("⚠️ {n} messages may or may not have arrived (the connection broke while they were being sent). "
              "Telegram cannot tell us which. If you resend, some of these people will get a second copy.")
            .format(n=counts["unknown"]),
            reply_markup=inline([[(_("Resend anyway (some may get it twice)"),
                                   AnCb(action="rsu", id=ann_id, value="yes").pack())]]))
        return
    queued = await svc.resend(session, clock=app.clock, ann_id=ann_id, include_unknown=unknown)
    await query.message.answer(_("🔁 {n} messages are queued again; the progress message will show the result.")
                               .format(n=queued))


async def _show_signups(query: CallbackQuery, app: AppContext, session: AsyncSession, ann_id: int) -> None:
    ann = await svc.get(session, ann_id=ann_id)
    entries = await svc.signups(session, ann_id=ann_id)
    signed = [(s, u, f) for s, u, f in entries if s.status == "signed_up"]
    declined = len(entries) - len(signed)
    lines = [_("<b>Sign-ups for “{title}”</b>: {n} signed up, {d} not interested").format(
        title=escape(ann.title), n=len(signed), d=declined)]
    for signup, user, facility in signed[:30]:
        who = escape(facility.name if facility else (user.full_name if user and user.full_name else "—"))
        phone = escape(format_phone(user.phone)) if user and user.phone else ""
        answers = "; ".join(escape(shown(str(v), _)) for v in signup.answers.values())
        lines.append(f"• {who} {phone}" + (f"\n  {answers}" if answers else ""))
    await query.answer()
    await query.message.answer("\n".join(lines))
