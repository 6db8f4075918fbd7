"""Last resort: the bot never goes silent on a message it does not understand."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.i18n import gettext as _

router = Router(name="fallback")


@router.message()
async def not_understood(message: Message) -> None:
    """Any message no other handler took."""
    await message.answer(_("Sorry, I didn't understand that. Send /help to see what I can do."))


@router.callback_query()
async def stale_button(query: CallbackQuery) -> None:
    """A press on a button nobody handles any more (old message, forged data)."""
    await query.answer(_("This button is no longer active."))
