"""/start (with or without an invite link), registration, /help, /language, /cancel."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import Role
from bot.services import accounts
from bot.services.announcements import set_announcements_off
from bot.services.validation import channel_text
from handlers.callbacks import LangCb
from handlers.common import ensure_user
from handlers.forms import FormRun, on_complete, start_form
from handlers.keyboards import inline
from handlers.menu import main_menu
from storage import repos
from storage.models import User

router = Router(name="start")


def help_text(role: Role) -> str:
    """What this person can do — only their role's commands."""
    lines = [
        _("<b>What I can do for you</b>"),
        _("/start – register your facility"),
        _("/profile – see or change your facility's details"),
        _("/need – ask the centre for support (machinery, fairs, training…)"),
        _("/needs – your needs and their status"),
        _("/subscriptions – choose which announcements you receive; /stop – no announcements"),
    ]
    if role is Role.COLLABORATOR:
        lines.append(_("/need – as a collaborator: file a need for a facility in your commune"))
        lines.append(_("/report – send your periodic report to the centre"))
    if role is Role.STAFF:
        lines += [
            "",
            _("<b>Staff</b>"),
            _("/inbox – review needs, filter them and change their status"),
            _("/export – download all needs as a spreadsheet (CSV)"),
            _("/invite – create an invitation link for a collaborator or staff member"),
            _("/collaborators – list collaborators and revoke access"),
            _("/announce – send an announcement (fair, competition, call, training, news)"),
            _("/broadcasts – announcements sent, running and scheduled, with sign-ups"),
            _("/reportschedule – set a recurring report deadline for collaborators"),
            _("/reports – which collaborators have reported"),
        ]
    lines += [
        "",
        _("/language – change language"),
        _("/mydata – see everything stored about you"),
        _("/forget – delete your personal data"),
        _("/cancel – stop what you are filling in"),
    ]
    return "\n".join(lines)


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


@router.message(Command("help"))
async def show_help(message: Message, role: Role) -> None:
    """/help: the commands of this person's role, with the menu buttons."""
    await message.answer(help_text(role), reply_markup=main_menu(role))


@router.message(Command("cancel"))
async def nothing_to_cancel(message: Message) -> None:
    """/cancel outside a form."""
    await message.answer(_("There is nothing to cancel."))


@router.message(Command("language"))
async def choose_language(message: Message) -> None:
    """/language: offer Vietnamese and English."""
    await message.answer(_("Choose your language:"), reply_markup=inline([
        [("🇻🇳 Tiếng Việt", LangCb(code="vi").pack()), ("🇬🇧 English", LangCb(code="en").pack())],
    ]))


@router.callback_query(LangCb.filter())
async def set_language(query: CallbackQuery, callback_data: LangCb, app: AppContext, session: AsyncSession,
                       user: User | None, role: Role, i18n: I18n) -> None:
    """A press on a language button: store it and answer in the new language."""
    user = await ensure_user(query.message, app=app, session=session, user=user, tg_user=query.from_user,
                             locale=callback_data.code)
    await accounts.set_locale(session, clock=app.clock, user=user, locale=callback_data.code)
    with i18n.use_locale(callback_data.code):
        await query.answer()
        await query.message.answer(_("Language set to English.") + "\n\n" + help_text(role))
