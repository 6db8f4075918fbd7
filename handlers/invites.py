"""Staff: /invite links for collaborators and staff; /collaborators with revoke."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import Role
from bot.services import accounts
from bot.services.validation import format_phone
from handlers.callbacks import CollabCb
from handlers.common import ensure_staff, staff_actor
from handlers.forms import FormRun, on_complete, start_form
from handlers.keyboards import inline
from storage.models import User

router = Router(name="invites")


@router.message(Command("invite"))
async def invite(message: Message, app: AppContext, session: AsyncSession, user: User | None, role: Role,
                 i18n: I18n) -> None:
    """/invite: choose role (and commune), get a one-time link (staff only)."""
    staff = await staff_actor(app=app, session=session, user=user, role=role, tg_user=message.from_user,
                              locale=i18n.current_locale)
    await start_form(message, app=app, session=session, user=staff.user, form="invite")


@on_complete("invite")
async def invite_created(run: FormRun, data: dict[str, Any]) -> None:
    commune = int(data["commune"]) if data.get("commune") else None
    inv = await accounts.create_invite(run.session, clock=run.app.clock, creator=run.user, role=Role(data["role"]),
                                       commune_code=commune)
    me = await run.bot.me()
    link = f"https://t.me/{me.username}?start={inv.token}"
    who = (_("collaborator for {commune}").format(commune=escape(run.app.communes.name(commune)))
           if commune else _("staff member"))
    await run.reply(
        _("Invitation link for a {who}:").format(who=who) + f"\n{link}\n\n"
        + _("It works once and expires in 7 days. Send it only to that person.")
    )


@router.message(Command("collaborators"))
async def list_collaborators(message: Message, app: AppContext, session: AsyncSession, role: Role) -> None:
    """/collaborators: everyone with the collaborator role, with a revoke button each (staff only)."""
    ensure_staff(role)
    people = await accounts.collaborators(session)
    if not people:
        await message.answer(_("There are no collaborators yet. Create an invitation with /invite."))
        return
    lines = [_("<b>Collaborators</b> ({count})").format(count=len(people))]
    buttons = []
    for person in people:
        lines.append("• {name} · {phone} · {commune}".format(
            name=escape(person.full_name or "—"), phone=escape(format_phone(person.phone)),
            commune=escape(app.communes.name(person.commune_code))))
        buttons.append([(_("Revoke {name}").format(name=person.full_name or person.id),
                         CollabCb(action="r", id=person.id or 0).pack())])
    await message.answer("\n".join(lines), reply_markup=inline(buttons))


@router.callback_query(CollabCb.filter())
async def revoke(query: CallbackQuery, callback_data: CollabCb, app: AppContext, session: AsyncSession,
                 role: Role) -> None:
    """Revoke buttons: ask, then take the collaborator role away (staff only)."""
    ensure_staff(role)
    if callback_data.action == "r":
        await query.answer()
        await query.message.answer(_("Revoke this collaborator's access?"), reply_markup=inline(
            [[(_("Yes, revoke"), CollabCb(action="ry", id=callback_data.id).pack())]]))
        return
    person = await accounts.revoke_collaborator(session, clock=app.clock, user_id=callback_data.id)
    await query.answer()
    await query.message.edit_text(_("{name} is no longer a collaborator.").format(name=escape(person.full_name or "")))
