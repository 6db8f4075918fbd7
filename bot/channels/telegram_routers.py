"""The aiogram routers the Telegram channel keeps: the flood notice first, and a last resort so the bot never
goes silent (every feature is a flow on the pipeline, reached through the bridge before these)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.i18n import gettext as _
from bot.services.throttle import PRESS_SLOWER, SLOW_DOWN

throttle = Router(name="throttle")
fallback = Router(name="fallback")


class Throttled(Filter):
    async def __call__(self, event: TelegramObject, throttled: bool = False) -> bool:
        return throttled


@throttle.message(Throttled())
async def slow_down(message: Message) -> None:
    """A message beyond the per-person rate (in a group, nothing: groups are not served)."""
    if message.chat.type != "private":
        return
    await message.answer(_(SLOW_DOWN))


@throttle.callback_query(Throttled())
async def slow_down_press(query: CallbackQuery) -> None:
    """A button press beyond the per-person rate."""
    await query.answer(_(PRESS_SLOWER))


@fallback.message()
async def not_understood(message: Message) -> None:
    """Any message no other handler took."""
    await message.answer(_("Sorry, I didn't understand that. Send /help to see what I can do."))


@fallback.callback_query()
async def stale_button(query: CallbackQuery) -> None:
    """A press on a button nobody handles any more (old message, forged data)."""
    await query.answer(_("This button is no longer active."))


def routers() -> list[Router]:
    """In matching order: throttle first (it only matches flagged updates), fallback last. The pipeline's
    bridge (an outer middleware, bot/channels/telegram_bridge.py) has taken everything it handles before."""
    return [throttle, fallback]
