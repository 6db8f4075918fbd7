"""/help (only the reader's role's commands, with the main menu), /language, and /cancel with nothing open."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import SUPPORTED_LOCALES
from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.pipeline import Flows, Turn, centre_contact
from bot.conversation.replies import Block, Bold, Choice, Reply
from bot.domain import Role
from bot.i18n_marker import N_
from bot.services import accounts
from handlers.menu_words import menu_word, menu_words
from storage import repos

LANGUAGES = (("vi", "🇻🇳 Tiếng Việt"), ("en", "🇬🇧 English"))


# The commands that have a word in the role's main menu are named by that word first (what people see on the
# menu, and may type on a text channel), with the command as the alternative.
MENU_LINE = N_("“{word}” – {what} (or {command})")
OWNER_LINES = (("/profile", N_("see or change your facility's details")),
               ("/need", N_("ask the centre for support (machinery, fairs, training…)")),
               ("/needs", N_("your needs and their status")))
COLLABORATOR_LINES = (("/need", N_("file a need for a facility in your commune")),
                      ("/needs", N_("the needs you filed and their status")),
                      ("/report", N_("send your periodic report to the centre")))
STAFF_MENU_LINES = (("/inbox", N_("review needs, filter them and change their status")),
                    ("/announce", N_("send an announcement (fair, competition, call, training, news)")),
                    ("/broadcasts", N_("announcements sent, running and scheduled, with sign-ups")))


def _menu_lines(_: Callable[[str], str], role: Role, entries: tuple[tuple[str, str], ...]) -> list[str]:
    """A line per command: its menu word when the role's menu has one, else the command itself."""
    lines = []
    for command, what in entries:
        word = menu_word(_, role, command)
        lines.append(_(MENU_LINE).format(word=word, what=_(what), command=command) if word
                     else f"{command} – {_(what)}")
    return lines


def help_blocks(_: Callable[[str], str], role: Role, *, registered: bool = False,
                contact: Block | None = None) -> list[Block]:
    """What this person can do — only their role's commands — and how to reach the centre."""
    if role is Role.COLLABORATOR:
        lines = [_("/profile – your details"), *_menu_lines(_, role, COLLABORATOR_LINES)]
    elif role is Role.STAFF:
        lines = [_("/profile – your details")]
    else:
        lines = [] if registered else [_("/start – register your facility")]
        lines += _menu_lines(_, role, OWNER_LINES)
    lines.append(_("/subscriptions – choose which announcements you receive; /stop – no announcements"))
    blocks = [Block(Bold(_("What I can do for you")), "\n", "\n".join(lines))]
    if role is Role.STAFF:
        staff = [*_menu_lines(_, role, STAFF_MENU_LINES),
                 _("/export – download all needs as a spreadsheet (CSV)"),
                 _("/invite – create an invitation link for a collaborator or staff member"),
                 _("/collaborators – list collaborators and revoke access"),
                 _("/reportschedule – set a recurring report deadline for collaborators"),
                 _("/reports – which collaborators have reported")]
        blocks.append(Block(Bold(_("Staff")), "\n", "\n".join(staff)))
    blocks.append(Block("\n".join([_("/language – change language"),
                                   _("/link – use the bot on another channel too (Telegram, Zalo)"),
                                   _("/mydata – see everything stored about you"),
                                   _("/forget – delete your personal data"),
                                   _("/cancel – stop what you are filling in")])))
    if contact is not None:
        blocks.append(contact)
    return blocks


def help_reply(_: Callable[[str], str], role: Role, *, before: tuple[Block, ...] = (), registered: bool = False,
               contact: Block | None = None) -> Reply:
    return Reply(blocks=(*before, *help_blocks(_, role, registered=registered, contact=contact)),
                 keyboard=menu_words(_, role))


async def turn_help(turn: Turn, *, before: tuple[Block, ...] = ()) -> Reply:
    """/help for the person of this turn: their role, whether their facility is registered, the centre."""
    user = turn.user
    registered = bool(user and user.id and await repos.facility_of_owner(turn.session, user_id=user.id))
    return help_reply(turn._, turn.role, before=before, registered=registered,
                      contact=centre_contact(turn._, turn.app.settings))


async def show_help(turn: Turn, action: Action) -> None:
    """/help: the commands of this person's role, with the main menu."""
    turn.add(await turn_help(turn))


async def choose_language(turn: Turn, action: Action) -> None:
    """/language: offer Vietnamese and English."""
    turn.say(turn._("Choose your language:"),
             choices=[[Choice(label, A.LANGUAGE, code) for code, label in LANGUAGES]])


async def set_language(turn: Turn, action: ChooseEvent) -> None:
    """A language chosen: stored, and the answer (and the main menu's words) in the new language."""
    if action.arg not in SUPPORTED_LOCALES:
        turn.say(turn._("This button is no longer active."), notice=True)
        return
    user = turn.user or await accounts.first_contact(
        turn.session, clock=turn.app.clock, channel=turn.who.channel, external_id=turn.who.external_id,
        locale=action.arg)
    turn.user = user
    await accounts.set_locale(turn.session, clock=turn.app.clock, user=user, locale=action.arg)
    turn.locale = action.arg
    turn.add(await turn_help(turn, before=(Block(turn._("Language set to English.")),)))


async def nothing_to_cancel(turn: Turn, action: Action) -> None:
    """/cancel with no form open (an open form takes its own /cancel)."""
    turn.say(turn._("There is nothing to cancel."))


def register(flows: Flows) -> None:
    flows.command("help")(show_help)
    flows.action(A.MENU)(show_help)
    flows.command("language")(choose_language)
    flows.command("cancel")(nothing_to_cancel)
    flows.action(A.LANGUAGE)(set_language)
    for word in ("menu", "help", "tro giup", "giup", "huong dan"):
        flows.words[word] = "help"
