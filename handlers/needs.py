"""/need (file a need, own or on behalf of a facility) and /needs (list, withdraw)."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import CATEGORY_LABELS, STATUS_LABELS, NeedCategory, NeedStatus, Role
from bot.services import needs as needs_service
from handlers.callbacks import MyNeedCb
from handlers.common import actor
from handlers.forms import FormRun, on_complete, start_form
from handlers.keyboards import inline
from storage import repos
from storage.models import User

router = Router(name="needs")


@router.message(Command("need"))
async def new_need(message: Message, app: AppContext, session: AsyncSession, user: User | None,
                   role: Role) -> None:
    """/need: collaborators file for a facility in their commune; owners for their own facility."""
    if user is not None and role is Role.COLLABORATOR and user.commune_code:
        await start_form(message, app=app, session=session, user=user, form="need_proxy",
                         context={"commune_code": user.commune_code},
                         intro=_("New need for a facility in {commune}.").format(
                             commune=escape(app.communes.name(user.commune_code))))
        return
    facility = await repos.facility_of_owner(session, user_id=user.id) if user and user.id else None
    if user is None or facility is None:
        await message.answer(_("Please register your facility first with /start."))
        return
    await start_form(message, app=app, session=session, user=user, form="need",
                     intro=_("New need for <b>{facility}</b>.").format(facility=escape(facility.name)))


@on_complete("need")
@on_complete("need_proxy")
async def need_filed(run: FormRun, data: dict[str, Any]) -> None:
    need = await needs_service.file_need(run.session, clock=run.app.clock, tz=run.app.tz,
                                         actor=actor(run.user, run.role), data=data)
    await run.reply(
        _("Thank you! Your need has been received with reference <b>{ref}</b>.").format(ref=need.ref) + "\n"
        + _("The centre will review it; you will get a message here whenever its status changes. "
            "See all your needs with /needs.")
    )


@router.message(Command("needs"))
async def list_needs(message: Message, app: AppContext, session: AsyncSession, user: User | None) -> None:
    """/needs: one's own needs (and those filed for others) with their status."""
    rows = await needs_service.my_needs(session, user=user) if user else []
    if not rows:
        await message.answer(_("You have no needs yet. Send /need to file one."))
        return
    lines = [_("<b>Your needs</b>")]
    buttons = []
    for need, facility in rows:
        line = "• <b>{ref}</b> · {category} · {date}\n  {status}".format(
            ref=need.ref, category=_(CATEGORY_LABELS[NeedCategory(need.category)]),
            date=need.created_at.astimezone(app.tz).strftime("%d/%m/%Y"),
            status=_(STATUS_LABELS[NeedStatus(need.status)]),
        )
        if facility is not None and need.filed_by_user_id == (user.id if user else None):
            line += f" · {escape(facility.name)}"
        lines.append(line)
        if need.status == NeedStatus.RECEIVED:
            buttons.append([(_("Withdraw {ref}").format(ref=need.ref), MyNeedCb(action="w", id=need.id).pack())])
    await message.answer("\n".join(lines), reply_markup=inline(buttons) if buttons else None)


@router.callback_query(MyNeedCb.filter())
async def withdraw_need(query: CallbackQuery, callback_data: MyNeedCb, app: AppContext, session: AsyncSession,
                        user: User | None) -> None:
    """Withdraw buttons under /needs: ask, then withdraw (only one's own, only while received)."""
    need = await repos.get_need(session, need_id=callback_data.id)
    if user is None or need is None or user.id not in (need.registrant_user_id, need.filed_by_user_id):
        await query.answer(_("This item no longer exists or is not yours. Nothing was changed."), show_alert=True)
        return
    if callback_data.action == "w":
        await query.answer()
        await query.message.answer(
            _("Withdraw need <b>{ref}</b>? The centre will stop reviewing it.").format(ref=need.ref),
            reply_markup=inline([[(_("Yes, withdraw"), MyNeedCb(action="wy", id=need.id).pack())]]),
        )
        return
    await needs_service.withdraw(session, clock=app.clock, user=user, need_id=need.id or 0)
    await query.answer()
    await query.message.edit_text(_("Need <b>{ref}</b> has been withdrawn.").format(ref=need.ref))
