"""Answers the first message of a flood politely (the middleware drops the rest)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.i18n import gettext as _

router = Router(name="throttle")


class Throttled(Filter):
    async def __call__(self, event: TelegramObject, throttled: bool = False) -> bool:
        return throttled


@router.message(Throttled())
async def slow_down(message: Message) -> None:
    """A message beyond the per-person rate (in a group, nothing: groups are not served)."""
    if message.chat.type != "private":
        return
    await message.answer(_("You are sending messages very quickly. Please wait a few seconds, then continue."))


@router.callback_query(Throttled())
async def slow_down_press(query: CallbackQuery) -> None:
    """A button press beyond the per-person rate."""
    await query.answer(_("Please wait a moment before pressing again."))
