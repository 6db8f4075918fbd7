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
from bot.errors import NotFound
from bot.services import accounts
from bot.services.validation import format_phone
from handlers.callbacks import CollabCb, InviteCb
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
    link = f"https://t.me/{run.app.bot_username}?start={inv.token}"
    who = (_("collaborator for {commune}").format(commune=escape(run.app.communes.name(commune)))
           if commune else _("staff member"))
    await run.reply(
        _("Invitation link for a {who}:").format(who=who) + f"\n{link}\n\n"
        + _("It works once and expires in 7 days. Send it only to that person.")
    )


def _person_line(app: AppContext, person: User) -> str:
    return "• {name} · {phone}".format(name=escape(person.full_name or "—"), phone=escape(format_phone(person.phone)))


async def _access_view(app: AppContext, session: AsyncSession, me: User | None) -> tuple[str, list]:
    """Collaborators, staff and pending invitations, each with its Revoke or Cancel button."""
    lines: list[str] = []
    buttons: list[list[tuple[str, str]]] = []
    people = await accounts.collaborators(session)
    if people:
        lines.append(_("<b>Collaborators</b> ({count})").format(count=len(people)))
    for person in people:
        lines.append(_person_line(app, person) + " · " + escape(app.communes.name(person.commune_code)))
        buttons.append([(_("Revoke {name}").format(name=person.full_name or person.id),
                         CollabCb(action="r", id=person.id or 0).pack())])
    staff = await accounts.staff_members(session, admin_ids=app.settings.admin_ids,
                                         staff=app.settings.staff_identities())
    lines += ["", _("<b>Staff</b> ({count})").format(count=len(staff))]
    for person, from_settings in staff:
        lines.append(_person_line(app, person) + (" · ADMIN_IDS" if from_settings else ""))
        if me is None or person.id != me.id:
            buttons.append([(_("Revoke staff {name}").format(name=person.full_name or person.id),
                             CollabCb(action="r", id=person.id or 0).pack())])
    invites = await accounts.pending_invites(session, clock=app.clock)
    lines += ["", _("<b>Pending invitations</b> ({count})").format(count=len(invites))]
    for inv in invites:
        who = (_("collaborator for {commune}").format(commune=escape(app.communes.name(inv.commune_code)))
               if inv.role == Role.COLLABORATOR else _("staff member"))
        until = inv.expires_at.astimezone(app.tz).strftime("%d/%m/%Y %H:%M")
        lines.append("• " + _("{who}, valid until {date}").format(who=who, date=until))
        buttons.append([(_("Cancel the invitation: {who}").format(who=who)[:60],
                         InviteCb(action="x", token=inv.token).pack())])
    return "\n".join(lines).strip(), buttons


@router.message(Command("collaborators"))
async def list_collaborators(message: Message, app: AppContext, session: AsyncSession, user: User | None,
                             role: Role) -> None:
    """/collaborators: collaborators, staff and pending invitations, with Revoke and Cancel (staff only)."""
    ensure_staff(role)
    text, buttons = await _access_view(app, session, user)
    if not buttons and not await accounts.collaborators(session):
        text = _("There are no collaborators yet. Create an invitation with /invite.") + "\n\n" + text
    await message.answer(text, reply_markup=inline(buttons) if buttons else None)


@router.callback_query(CollabCb.filter())
async def revoke(query: CallbackQuery, callback_data: CollabCb, app: AppContext, session: AsyncSession,
                 user: User | None, role: Role) -> None:
    """Revoke buttons: ask, then take the collaborator's or staff member's access away (staff only)."""
    ensure_staff(role)
    if callback_data.action == "r":
        await query.answer()
        await query.message.answer(_("Revoke this person's access? Any form they have open will be closed."),
                                   reply_markup=inline([[(_("Yes, revoke"),
                                                          CollabCb(action="ry", id=callback_data.id).pack())]]))
        return
    if callback_data.action != "ry" or user is None:
        raise NotFound()
    person, was = await accounts.revoke_access(session, clock=app.clock, actor=user, user_id=callback_data.id,
                                               admin_ids=app.settings.admin_ids, translate=app.translate,
                                               staff=app.settings.staff_identities())
    await query.answer()
    name = escape(person.full_name or "")
    text = (_("{name} is no longer a collaborator.") if was is Role.COLLABORATOR
            else _("{name} no longer has staff access.")).format(name=name)
    await query.message.edit_text(text)


@router.callback_query(InviteCb.filter())
async def cancel_invite(query: CallbackQuery, callback_data: InviteCb, app: AppContext, session: AsyncSession,
                        role: Role) -> None:
    """Cancel buttons under /collaborators: ask, then withdraw an unused invitation (staff only)."""
    ensure_staff(role)
    if callback_data.action == "x":
        await query.answer()
        await query.message.answer(_("Cancel this invitation? Its link will no longer work."), reply_markup=inline(
            [[(_("Yes, cancel the invitation"), InviteCb(action="xy", token=callback_data.token).pack())]]))
        return
    if callback_data.action != "xy":
        raise NotFound()
    await accounts.cancel_invite(session, clock=app.clock, token=callback_data.token)
    await query.answer()
    await query.message.edit_text(_("The invitation has been cancelled; its link no longer works."))
