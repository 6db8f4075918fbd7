"""/start (with or without an invite link), registration, /help, /language, /cancel."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.telegram_render import html_text
from bot.context import AppContext
from bot.domain import Role
from bot.services import accounts
from bot.services.announcements import set_announcements_off
from bot.services.validation import channel_text
from handlers.common import ensure_user
from handlers.forms import FormRun, on_complete, start_form
from handlers.help import help_blocks
from handlers.menu import main_menu
from storage import repos
from storage.models import User

router = Router(name="start")


def help_text(role: Role) -> str:
    """What this person can do — only their role's commands (see handlers/help.py)."""
    return html_text(help_blocks(_, role))


@router.message(CommandStart(deep_link=True))
async def start_with_invite(message: Message, command: CommandObject, app: AppContext, session: AsyncSession,
                            user: User | None, i18n: I18n) -> None:
    """/start <token> from an invitation link: check it, then confirm name and phone."""
    invite = await accounts.check_invite(session, clock=app.clock, token=command.args or "")
    user = await ensure_user(message, app=app, session=session, user=user, tg_user=message.from_user,
                             locale=i18n.current_locale)
    if invite.role == Role.STAFF:
        intro = _("You have been invited to join as <b>staff</b> of the khuyến công centre.")
    else:
        intro = _("You have been invited to be the khuyến công <b>collaborator</b> for {commune}.").format(
            commune=escape(app.communes.name(invite.commune_code)))
    await start_form(message, app=app, session=session, user=user, form="join", context={"token": invite.token},
                     intro=intro + "\n" + _("Please confirm your details."))


@router.message(CommandStart())
async def start(message: Message, app: AppContext, session: AsyncSession, user: User | None, role: Role,
                i18n: I18n) -> None:
    """/start: welcome; a newcomer goes straight into facility registration."""
    user = await ensure_user(message, app=app, session=session, user=user, tg_user=message.from_user,
                             locale=i18n.current_locale)
    if user.announcements_off:
        await set_announcements_off(session, clock=app.clock, user=user, off=False)
        await message.answer(_("Announcements are turned back on. Use /subscriptions to choose topics."))
    facility = await repos.facility_of_owner(session, user_id=user.id or 0)
    if facility is not None or role is not Role.USER:
        name = escape(user.full_name or channel_text(message.from_user.first_name, 64) or "")
        await message.answer(_("Welcome back, {name}!").format(name=name) + "\n\n" + help_text(role),
                             reply_markup=main_menu(role))
        return
    intro = _(
        "Hello! I am the assistant of the provincial khuyến công (industrial extension) centre. "
        "I help rural manufacturers register, ask for support and follow their requests."
    ) + "\n\n" + _("First, let's register your facility. It takes about 2 minutes.")
    await start_form(message, app=app, session=session, user=user, form="register", intro=intro)


@on_complete("register")
async def registered(run: FormRun, data: dict[str, Any]) -> None:
    facility = await accounts.save_facility(run.session, clock=run.app.clock, user=run.user, data=data)
    if run.context.get("edit"):
        await run.reply(_("Your profile has been updated."))
        return
    await run.reply(
        _("Thank you! <b>{facility}</b> is registered.").format(facility=escape(facility.name)) + "\n\n"
        + _("To ask the centre for support, press “📝 New need” or send /need. For everything I can do, "
            "send /help."),
        reply_markup=main_menu(run.role),
    )


@on_complete("join")
async def joined(run: FormRun, data: dict[str, Any]) -> None:
    invite = await accounts.accept_invite(run.session, clock=run.app.clock, user=run.user,
                                          token=run.context["token"], data=data)
    role = Role(invite.role)
    if role is Role.STAFF:
        text = _("Welcome to the team! You now have staff access.")
    else:
        text = _("Welcome! You are now the collaborator for {commune}.").format(
            commune=escape(run.app.communes.name(invite.commune_code)))
    await run.reply(text + "\n\n" + help_text(role), reply_markup=main_menu(role))


