"""/start (with or without an invitation code) and what completes registration and joining."""

from __future__ import annotations

from html import escape
from typing import Any

from bot.channels.telegram_render import html_text
from bot.conversation import actions as A
from bot.conversation.events import Action, CommandEvent
from bot.conversation.pipeline import Flows, Turn, centre_contact
from bot.conversation.replies import Block, Choice, Reply, from_staff_html
from bot.domain import Role
from bot.i18n import gettext as _
from bot.i18n_marker import N_
from bot.services import accounts
from bot.services.announcements import set_announcements_off
from handlers import forms
from handlers.forms import FormRun, on_complete
from handlers.help import help_blocks, turn_help
from handlers.menu_words import menu_words
from storage import repos
from storage.models import User

# Typed instead of /start (accent-free, as people type them): greetings start registration for a newcomer
# and greet a registered person with the menu.
START_WORDS = ("start", "bat dau", "dang ky", "dang ki", "chao", "xin chao", "chao ban", "alo", "hello", "hi")

INTRO = N_("Hello! I am the assistant of the provincial khuyến công (industrial extension) centre. "
           "I help rural manufacturers register, ask for support and follow their requests.")
INVITE = N_("Would you like to register your facility? It takes about 2 minutes; then you can ask the centre "
            "for support here. Send /help to see everything I can do.")
REGISTER = N_("📝 Register my facility")
RESUMED = N_("You will receive the centre's announcements again. To stop them, send /stop; to choose topics, "
             "send /subscriptions.")


def help_text(role: Role) -> str:
    """What this person can do — only their role's commands (see handlers/help.py)."""
    return html_text(help_blocks(_, role))


async def person(turn: Turn) -> User:
    """The person's row, created on first contact with nothing personal in it (see accounts.first_contact)."""
    if turn.user is None:
        turn.user = await accounts.first_contact(turn.session, clock=turn.app.clock, channel=turn.who.channel,
                                                 external_id=turn.who.external_id, locale=turn.locale)
    return turn.user


async def start(turn: Turn, action: CommandEvent) -> None:
    """/start: welcome; a newcomer goes straight into facility registration; an invitation code joins."""
    if action.args:
        await start_with_invite(turn, action.args)
        return
    user = await person(turn)
    if user.announcements_off:
        await set_announcements_off(turn.session, clock=turn.app.clock, user=user, off=False)
        turn.say(turn._(RESUMED))
    facility = await repos.facility_of_owner(turn.session, user_id=user.id or 0)
    if facility is not None or turn.role is not Role.USER:
        name = user.full_name or turn.who.display_name
        greeting = Block(turn._("Welcome back, {name}!").format(name=name))
        turn.add(await turn_help(turn, before=(greeting,)))
        return
    intro = Block(turn._(INTRO) + "\n\n" + turn._("First, let's register your facility. It takes about 2 minutes."))
    await forms.start(turn, form="register", intro=intro)


async def greet(turn: Turn, action: Action) -> None:
    """Anything a newcomer writes that no flow takes ("toi muon vay von"): no dead end, but a greeting and the
    way into registration (greetings themselves, "chào", "alo", start it at once: START_WORDS)."""
    contact = centre_contact(turn._, turn.app.settings)
    turn.add(Reply.of(turn._(INTRO), turn._(INVITE), *([contact] if contact else []),
                      choices=[[Choice(turn._(REGISTER), A.REGISTER)]]))


async def register_chosen(turn: Turn, action: Action) -> None:
    """"Register my facility" from the greeting: as /start."""
    await start(turn, CommandEvent("start"))


async def start_with_invite(turn: Turn, token: str) -> None:
    """/start <token> from an invitation link: check it, then confirm name and phone."""
    invite = await accounts.check_invite(turn.session, clock=turn.app.clock, token=token)
    await person(turn)
    if invite.role == Role.STAFF:
        intro = turn._("You have been invited to join as <b>staff</b> of the khuyến công centre.")
    else:
        intro = turn._("You have been invited to be the khuyến công <b>collaborator</b> for {commune}.").format(
            commune=escape(turn.app.communes.name(invite.commune_code)))
    intro += "\n" + turn._("Please confirm your details.")
    await forms.start(turn, form="join", context={"token": invite.token}, intro=Block(*from_staff_html(intro)))


@on_complete("profile")
async def profile_saved(run: FormRun, data: dict[str, Any]) -> None:
    """/profile's edit confirmed (the consent given at registration stands)."""
    await accounts.save_facility(run.session, clock=run.app.clock, user=run.user, data=data)
    await run.reply(_("Your profile has been updated."))


@on_complete("register")
async def registered(run: FormRun, data: dict[str, Any]) -> None:
    facility = await accounts.save_facility(run.session, clock=run.app.clock, user=run.user, data=data)
    if run.context.get("edit"):  # a profile edit opened before the profile form existed
        await run.reply(_("Your profile has been updated."))
        return
    await run.reply(
        _("Thank you! <b>{facility}</b> is registered.").format(facility=escape(facility.name)) + "\n\n"
        + _("To ask the centre for support, choose “📝 New need” or send /need. For everything I can do, "
            "send /help."),
        keyboard=menu_words(run.turn._, run.role),
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
    await run.reply(text + "\n\n" + help_text(role), keyboard=menu_words(run.turn._, role))


def register(flows: Flows) -> None:
    flows.command("start")(start)
    flows.action(A.REGISTER)(register_chosen)
    for word in START_WORDS:
        flows.words[word] = "start"
