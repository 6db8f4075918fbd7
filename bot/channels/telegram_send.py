"""Sends what the Telegram renderer produced, handling Telegram's quirks once, here:

* a pressed button's callback is answered exactly once (with the reply's notice, or empty);
* an edit that changes nothing ("message is not modified") is a success, not an error;
* an edit Telegram refuses (too old, not found, a photo) is sent as a new message instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from html import escape
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.channels.telegram_render import TelegramMessage
from bot.conversation.replies import MediaRef

MediaFile = Callable[[MediaRef], Awaitable[str | BufferedInputFile | None]]
_EDIT_REFUSED = ("message can't be edited", "message to edit not found", "there is no text in the message")


def markup_of(data: dict[str, Any] | None) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    if not data:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.model_validate(data)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.model_validate(data)
    if data.get("remove_keyboard"):
        return ReplyKeyboardRemove()
    return None


class TelegramReplySender:
    def __init__(self, bot: Bot, media_file: MediaFile | None = None) -> None:
        self.bot = bot
        self.media_file = media_file

    async def deliver(self, chat_id: int, messages: Sequence[TelegramMessage], *,
                      edit_message_id: int | None = None, callback_query_id: str | None = None) -> list[int]:
        """Send the messages in order; returns the ids of the messages now showing them."""
        shown: list[int] = []
        pending = list(messages)
        if callback_query_id is not None:
            notice = pending.pop(0) if pending and pending[0].method == "notice" else None
            await self.bot.answer_callback_query(callback_query_id, text=notice.text if notice else None)
        for message in pending:
            if message.method == "retire":
                if edit_message_id is not None:
                    await self._retire(chat_id, edit_message_id)
                continue
            edited = None
            if message.method == "edit" and edit_message_id is not None:
                edited = await self._edit(chat_id, edit_message_id, message)
            if edited is not None:
                shown.append(edited)
                continue
            shown.append(await self._send(chat_id, message))
        return shown

    async def _retire(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
        except TelegramBadRequest as exc:
            text = exc.message.lower()
            if "message is not modified" not in text and not any(reason in text for reason in _EDIT_REFUSED):
                raise

    async def _edit(self, chat_id: int, message_id: int, message: TelegramMessage) -> int | None:
        markup = markup_of(message.reply_markup)
        try:
            await self.bot.edit_message_text(
                chat_id=chat_id, message_id=message_id, text=message.text, parse_mode="HTML",
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None)
        except TelegramBadRequest as exc:
            text = exc.message.lower()
            if "message is not modified" in text:
                return message_id  # a double tap: what they see is already right
            if any(reason in text for reason in _EDIT_REFUSED):
                return None
            raise
        return message_id

    async def _send(self, chat_id: int, message: TelegramMessage) -> int:
        markup = markup_of(message.reply_markup)
        file = await self._file(message)
        if file is not None:
            send = self.bot.send_photo if message.method == "photo" else self.bot.send_document
            sent: Message = await send(chat_id, file, caption=message.text or None, parse_mode="HTML",
                                       reply_markup=markup)
            return sent.message_id
        # A notice is plain text (a toast's); sent as a message it is escaped like any other words.
        text = escape(message.text, quote=False) if message.method == "notice" else message.text
        sent = await self.bot.send_message(chat_id=chat_id, text=text or "…", parse_mode="HTML",
                                           reply_markup=markup)
        return sent.message_id

    async def _file(self, message: TelegramMessage) -> str | BufferedInputFile | None:
        """What to upload or re-send: a file made for this reply, or a stored file the channel can reach."""
        if message.method == "document" and message.file is not None:
            return BufferedInputFile(message.file.data, filename=message.file.name)
        if message.method in ("photo", "document") and message.media is not None and self.media_file is not None:
            return await self.media_file(message.media)
        return None


async def telegram_file_id(media: MediaRef) -> str | None:
    """A file Telegram already holds (`tg:<file_id>`, as received) is re-sent by its id."""
    return media.ref.removeprefix("tg:") if media.ref.startswith("tg:") else None
