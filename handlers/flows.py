"""The channel-neutral flows, registered in one place (features move here from the aiogram routers)."""

from __future__ import annotations

from bot.conversation.events import Action
from bot.conversation.pipeline import Flows, Turn
from bot.i18n_marker import N_

NOT_UNDERSTOOD = N_("Sorry, I didn't understand that. Send /help to see what I can do.")
CANNOT_USE = N_("I can't use that kind of message here.")


async def not_understood(turn: Turn, action: Action) -> None:
    """The bot never goes silent: anything no flow takes gets a polite answer."""
    turn.say(turn._(NOT_UNDERSTOOD))


async def cannot_use(turn: Turn, action: Action) -> None:
    """Stickers, locations, group chats…"""
    turn.say(turn._(CANNOT_USE))


def build_flows() -> Flows:
    from handlers import forms, help, needs, privacy, profile, signup, start, subscriptions

    flows = Flows()
    forms.register(flows)
    help.register(flows)
    needs.register(flows)
    privacy.register(flows)
    profile.register(flows)
    signup.register(flows)
    start.register(flows)
    subscriptions.register(flows)
    flows.fallback = not_understood
    flows.unsupported = cannot_use
    return flows
