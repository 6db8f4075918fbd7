"""The channel-neutral flows, registered in one place (features move here from the aiogram routers)."""

from __future__ import annotations

from collections.abc import Callable

from bot.conversation.events import Action, UnsupportedEvent
from bot.conversation.pipeline import Flows, Turn, centre_contact
from bot.conversation.replies import Reply
from bot.domain import Role
from bot.i18n_marker import N_
from bot.services.questions import can_ask
from handlers.menu_words import typed_menu_words

NOT_UNDERSTOOD = N_("Sorry, I didn't understand that. Send /help to see what I can do.")
CANNOT_USE = N_("I can't use that kind of message here.")
PRIVATE_ONLY = N_("I only work in a private chat, so that nothing about you is shown to others. "
                  "Please write to me directly.")


async def not_understood(turn: Turn, action: Action) -> None:
    """The bot never goes silent, and leaves nobody at a dead end: anything no flow takes gets a registered
    person the menu and the choice to send their words to the centre as a question, a newcomer a greeting and
    the way into registration, and staff a short answer."""
    from handlers import questions as question_flows
    from handlers import start

    if await can_ask(turn.session, user=turn.user, role=turn.role):
        await question_flows.offer(turn, action)
        return
    if turn.role is Role.USER:
        await start.greet(turn, action)
        return
    contact = centre_contact(turn._, turn.app.settings)
    turn.say(turn._(NOT_UNDERSTOOD), *([contact] if contact else []))


async def cannot_use(turn: Turn, action: Action) -> None:
    """Stickers, locations, group chats…"""
    if isinstance(action, UnsupportedEvent) and action.what == "group":
        private_only(turn)
        return
    turn.say(turn._(CANNOT_USE))


def private_only(turn: Turn) -> None:
    """In a group: one short notice (a toast for a pressed button), with the way to a private chat."""
    text = turn._(PRIVATE_ONLY)
    if turn.app.bot_username and turn.who.channel == "telegram":
        text += f" https://t.me/{turn.app.bot_username}"
    turn.add(Reply.of(text, notice=True))


def build_flows(translations: Callable[[str], list[str]] | None = None) -> Flows:
    """Every flow; `translations` (a message id → its text in each language) lets the main menu's words be typed
    on a text channel ("nhu cau cua toi" → /needs) as they are pressed on Telegram."""
    from handlers import (
        announce,
        forms,
        help,
        inbox,
        invites,
        link,
        needs,
        privacy,
        profile,
        questions,
        reports,
        signup,
        start,
        subscriptions,
    )

    flows = Flows()
    announce.register(flows)
    forms.register(flows)
    help.register(flows)
    inbox.register(flows)
    invites.register(flows)
    link.register(flows)
    needs.register(flows)
    privacy.register(flows)
    profile.register(flows)
    questions.register(flows)
    reports.register(flows)
    signup.register(flows)
    start.register(flows)
    subscriptions.register(flows)
    if translations is not None:
        for word, command in typed_menu_words(translations).items():
            flows.words.setdefault(word, command)
    flows.fallback = invites.typed_code(not_understood)  # a typed invitation code joins, on any channel
    flows.unsupported = cannot_use
    return flows
