"""What every staff flow checks first, on any channel: the person is staff now (re-read at every step)."""

from __future__ import annotations

from bot.conversation.events import Action, ChooseEvent
from bot.conversation.pipeline import Turn
from bot.domain import Role
from bot.errors import NotFound, PermissionDenied
from bot.services import accounts
from bot.services.needs import Actor


def refuse(turn: Turn, action: Action, msgid: str = PermissionDenied.default) -> None:
    """A polite refusal: a brief notice under a pressed choice, a message otherwise."""
    turn.say(turn._(msgid), notice=isinstance(action, ChooseEvent))


def not_found(turn: Turn, action: Action) -> None:
    refuse(turn, action, NotFound.default)


async def staff_actor(turn: Turn, action: Action) -> Actor | None:
    """The staff member acting, or None after refusing everyone else. An ADMIN_IDS member who never sent
    /start gets their row now (nothing personal in it, see accounts.first_contact)."""
    if turn.role is not Role.STAFF:
        refuse(turn, action)
        return None
    if turn.user is None:
        turn.user = await accounts.first_contact(turn.session, clock=turn.app.clock, channel=turn.who.channel,
                                                 external_id=turn.who.external_id, locale=turn.locale)
    return Actor(user=turn.user, role=Role.STAFF)


def whole_number(value: str, limit: int = 2**31 - 1) -> int | None:
    """A choice's argument as a bounded whole number (ASCII digits only), or None."""
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if number <= limit else None
