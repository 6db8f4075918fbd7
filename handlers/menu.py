"""The main menu: big reply-keyboard buttons per role, for people who do not type commands.

A press sends the button's text; `MenuButtons` turns it back into its command before routing, so the
command handlers serve both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import KeyboardButton, Message, MessageEntity, ReplyKeyboardMarkup, TelegramObject

from bot.domain import Role
from bot.i18n import I18n
from bot.i18n import gettext as _
from handlers.menu_words import BUTTONS


def main_menu(role: Role) -> ReplyKeyboardMarkup:
    """The role's menu in the current language."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_(label)) for label, _cmd in row] for row in BUTTONS[role]],
        resize_keyboard=True, is_persistent=True,
    )


class MenuButtons(BaseMiddleware):
    """Turns a menu button's text (in any language) into its command."""

    def __init__(self, i18n: I18n) -> None:
        self.commands: dict[str, str] = {}
        for rows in BUTTONS.values():
            for row in rows:
                for label, command in row:
                    for locale in i18n.available_locales:
                        self.commands[i18n.gettext(label, locale=locale)] = command
                    self.commands[label] = command

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Message) and event.text and (command := self.commands.get(event.text.strip())):
            event = event.model_copy(update={
                "text": command,
                "entities": [MessageEntity(type="bot_command", offset=0, length=len(command))],
            })
        return await handler(event, data)
