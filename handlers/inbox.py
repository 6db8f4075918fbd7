"""Staff inbox: browse and filter needs, move them through review, decline with a reason, export."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import (
    CATEGORY_LABELS,
    SECTOR_LABELS,
    STATUS_LABELS,
    TRANSITIONS,
    NeedCategory,
    NeedStatus,
    Role,
    shown,
)
from bot.errors import NotFound
from bot.services import needs as needs_service
from bot.services.validation import format_million, format_month, format_phone
from handlers.callbacks import InboxCb
from handlers.common import actor, ensure_staff, staff_actor
from handlers.forms import FormRun, on_complete, start_form
from handlers.keyboards import inline
from storage import repos
from storage.models import Facility, Need, User

router = Router(name="inbox")
PAGE = 8


def _action_label(status: NeedStatus) -> str:
    # Listed literally so that extraction finds them.
    return {
        NeedStatus.SURVEYED: _("🔎 Mark surveyed"),
        NeedStatus.APPROVED: _("✅ Approve"),
        NeedStatus.COMPLETED: _("🏁 Mark supported/completed"),
        NeedStatus.DECLINED: _("✖ Decline…"),
    }[status]


async def _list_view(session: AsyncSession, app: AppContext, f: InboxCb) -> tuple[str, InlineKeyboardMarkup]:
    rows, total = await repos.inbox(session, status=f.status or None, category=f.category or None,
                                    commune_code=f.commune or None, offset=f.page * PAGE, limit=PAGE)
    every = _("all")
    header = _("<b>Needs</b> — {total} found\nStatus: {status} · Kind: {category} · Commune: {commune}").format(
        total=total,
        status=_(STATUS_LABELS[NeedStatus(f.status)]) if f.status else every,
        category=_(CATEGORY_LABELS[NeedCategory(f.category)]) if f.category else every,
        commune=escape(app.communes.name(f.commune)) if f.commune else every,
    )
    keep = {"status": f.status, "category": f.category, "commune": f.commune}
    buttons: list[list[tuple[str, str]]] = []
    for need, facility in rows:
        label = f"{need.ref} · {_(STATUS_LABELS[NeedStatus(need.status)])} · {facility.name if facility else '—'}"
        buttons.append([(label[:60], InboxCb(action="o", id=need.id or 0, page=f.page, **keep).pack())])
    nav = []
    if f.page > 0:
        nav.append(("◀", InboxCb(action="l", page=f.page - 1, **keep).pack()))
    if (f.page + 1) * PAGE < total:
        nav.append(("▶", InboxCb(action="l", page=f.page + 1, **keep).pack()))
    if nav:
        buttons.append(nav)
    buttons.append([
        (_("Status ▾"), InboxCb(action="fs", **keep).pack()),
        (_("Kind ▾"), InboxCb(action="fc", **keep).pack()),
        (_("Commune ▾"), InboxCb(action="fm", **keep).pack()),
    ])
    if not rows:
        header += "\n\n" + _("No needs match these filters.")
    return header, inline(buttons)


def _filter_menu(f: InboxCb, communes: list[tuple[int, str]]) -> tuple[str, InlineKeyboardMarkup]:
    keep = {"status": f.status, "category": f.category, "commune": f.commune}
    rows: list[list[tuple[str, str]]] = []
    if f.action == "fs":
        title = _("Filter by status:")
        rows = [[(_(label), InboxCb(action="l", **{**keep, "status": s.value}).pack())]
                for s, label in STATUS_LABELS.items()]
        rows.append([(_("All statuses"), InboxCb(action="l", **{**keep, "status": ""}).pack())])
    elif f.action == "fc":
        title = _("Filter by kind of need:")
        rows = [[(_(label), InboxCb(action="l", **{**keep, "category": c.value}).pack())]
                for c, label in CATEGORY_LABELS.items()]
        rows.append([(_("All kinds"), InboxCb(action="l", **{**keep, "category": ""}).pack())])
    else:
        title = _("Filter by commune (communes with needs):")
        rows = [[(name, InboxCb(action="l", **{**keep, "commune": code}).pack())] for code, name in communes[:40]]
        rows.append([(_("All communes"), InboxCb(action="l", **{**keep, "commune": 0}).pack())])
    return title, inline(rows)


def _detail(app: AppContext, need: Need, facility: Facility | None) -> str:
    lines = [
        f"<b>{need.ref}</b> — {_(STATUS_LABELS[NeedStatus(need.status)])}",
        _("Received: {date}").format(date=need.created_at.astimezone(app.tz).strftime("%d/%m/%Y %H:%M")),
        _("Kind: {category}").format(category=_(CATEGORY_LABELS[NeedCategory(need.category)])),
    ]
    if facility is not None:
        lines += [
            _("Facility: {name}").format(name=escape(facility.name)),
            _("Owner: {owner}").format(owner=escape(facility.owner_name or "—")),
            _("Phone: {phone}").format(phone=escape(format_phone(facility.phone) or "—")),
            _("Sector: {sector}").format(sector=_(SECTOR_LABELS[facility.sector]) if facility.sector in SECTOR_LABELS
                                         else "—"),
        ]
    lines.append(_("Commune/ward: {commune}").format(commune=escape(app.communes.name(need.commune_code) or "—")))
    lines.append(_("Description: {text}").format(text=escape(shown(need.description, _))))
    if need.machine:
        lines.append(_("Machine/equipment: {machine}").format(machine=escape(need.machine)))
    if need.est_cost_million is not None:
        lines.append(_("Estimated cost: {cost} million đồng").format(cost=format_million(need.est_cost_million)))
    if need.desired_month:
        lines.append(_("Desired time: {month}").format(month=format_month(need.desired_month)))
    if need.filed_by_user_id:
        lines.append(_("Filed by a collaborator."))
    if not needs_service.has_recipient(need):
        lines.append(_("The person who filed this need has deleted their personal data."))
    if need.decline_reason:
        lines.append(_("Decline reason: {reason}").format(reason=escape(need.decline_reason)))
    return "\n".join(lines)


def _detail_keyboard(need: Need, f: InboxCb) -> InlineKeyboardMarkup:
    keep = {"status": f.status, "category": f.category, "commune": f.commune, "page": f.page}
    rows = [[(_action_label(to), InboxCb(action="m", id=need.id or 0, to=to.value, **keep).pack())]
            for to in TRANSITIONS[NeedStatus(need.status)]]
    if need.attachment_file_id:
        rows.append([(_("📎 Show the attachment"), InboxCb(action="a", id=need.id or 0, **keep).pack())])
    rows.append([(_("◀ Back to the list"), InboxCb(action="l", **keep).pack())])
    return inline(rows)


@router.message(Command("inbox"))
async def inbox(message: Message, app: AppContext, session: AsyncSession, role: Role) -> None:
    """/inbox: newest needs first, with filters (staff only)."""
    ensure_staff(role)
    text, markup = await _list_view(session, app, InboxCb(action="l"))
    await message.answer(text, reply_markup=markup)


@router.callback_query(InboxCb.filter())
async def inbox_press(query: CallbackQuery, callback_data: InboxCb, app: AppContext, session: AsyncSession,
                      user: User | None, role: Role, i18n: I18n) -> None:
    """Any inbox button: list pages, filter menus, open a need, move it."""
    staff = await staff_actor(app=app, session=session, user=user, role=role, tg_user=query.from_user,
                              locale=i18n.current_locale)
    f = callback_data
    if f.action == "l":
        text, markup = await _list_view(session, app, f)
    elif f.action in ("fs", "fc", "fm"):
        codes = await repos.need_communes(session)
        communes = sorted(((c, app.communes.name(c)) for c in codes), key=lambda x: x[1])
        text, markup = _filter_menu(f, communes)
    elif f.action == "o":
        need, facility = await needs_service.get_for_staff(session, actor=staff, need_id=f.id)
        text, markup = _detail(app, need, facility), _detail_keyboard(need, f)
    elif f.action == "a":
        need, _facility = await needs_service.get_for_staff(session, actor=staff, need_id=f.id)
        await query.answer()
        if need.attachment_kind == "photo":
            await query.message.answer_photo(need.attachment_file_id, caption=need.ref)
        else:
            await query.message.answer_document(need.attachment_file_id, caption=need.ref)
        return
    elif f.action == "m" and f.to == NeedStatus.DECLINED:
        need, _facility = await needs_service.get_for_staff(session, actor=staff, need_id=f.id)
        await query.answer()
        await start_form(query.message, app=app, session=session, user=staff.user, form="decline",
                         context={"need_id": need.id, "from": need.status},
                         intro=_("Declining need <b>{ref}</b>.").format(ref=need.ref))
        return
    elif f.action == "m" and f.to in NeedStatus.__members__.values():
        need = await needs_service.change_status(session, clock=app.clock, actor=staff, need_id=f.id,
                                                 to=NeedStatus(f.to), translate=app.translate)
        facility = await repos.get_facility(session, facility_id=need.facility_id) if need.facility_id else None
        await query.answer(_("Status changed. The registrant will be notified.") if needs_service.has_recipient(need)
                           else _("Status changed. Nobody is notified: the person has deleted their data."))
        await query.message.edit_text(_detail(app, need, facility), reply_markup=_detail_keyboard(need, f))
        return
    else:
        raise NotFound()
    await query.answer()
    await query.message.edit_text(text, reply_markup=markup)


@on_complete("decline")
async def declined(run: FormRun, data: dict[str, Any]) -> None:
    need = await needs_service.change_status(
        run.session, clock=run.app.clock, actor=actor(run.user, run.role), need_id=run.context["need_id"],
        to=NeedStatus.DECLINED, reason=data["reason"], translate=run.app.translate,
    )
    if needs_service.has_recipient(need):
        text = _("Need <b>{ref}</b> has been declined. The registrant will be notified.")
    else:
        text = _("Need <b>{ref}</b> has been declined. Nobody is notified: the person has deleted their data.")
    await run.reply(text.format(ref=need.ref))


@router.message(Command("export"))
async def export(message: Message, app: AppContext, session: AsyncSession, user: User | None, role: Role,
                 i18n: I18n) -> None:
    """/export: all needs as a CSV file with Vietnamese headers (staff only)."""
    staff = await staff_actor(app=app, session=session, user=user, role=role, tg_user=message.from_user,
                              locale=i18n.current_locale)
    data = await needs_service.export_csv(
        session, actor=staff, communes=app.communes, tz=app.tz,
        translate=lambda msgid: i18n.gettext(msgid, locale="vi"),
    )
    name = "nhu-cau-{date}.csv".format(date=app.today().strftime("%Y-%m-%d"))
    await message.answer_document(BufferedInputFile(data, filename=name), caption=_("All needs, for Excel."))
