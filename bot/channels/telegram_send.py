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
from bot.media import is_media_id, media_id_of

MediaFile = Callable[[MediaRef], Awaitable[str | BufferedInputFile]]
Uploaded = Callable[[MediaRef, str], Awaitable[None]]
CHANNEL = "telegram"
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
    def __init__(self, bot: Bot, media_file: MediaFile | None = None, uploaded: Uploaded | None = None) -> None:
        self.bot = bot
        self.media_file = media_file
        self.uploaded = uploaded  # told Telegram's file_id for a file it was sent as an upload
        self.done = 0  # messages of the last `deliver` handled so far (where it stopped, if it raised)

    async def deliver(self, chat_id: int, messages: Sequence[TelegramMessage], *,
                      edit_message_id: int | None = None, callback_query_id: str | None = None) -> list[int]:
        """Send the messages in order; returns the ids of the messages now showing them."""
        shown: list[int] = []
        pending = list(messages)
        self.done = 0
        if callback_query_id is not None:
            notice = pending.pop(0) if pending and pending[0].method == "notice" else None
            await self.bot.answer_callback_query(callback_query_id, text=notice.text if notice else None)
            self.done += notice is not None
        for message in pending:
            if message.method == "retire":
                if edit_message_id is not None:
                    await self._retire(chat_id, edit_message_id)
                self.done += 1
                continue
            edited = None
            if message.method == "edit" and edit_message_id is not None:
                edited = await self._edit(chat_id, edit_message_id, message)
            if edited is not None:
                shown.append(edited)
                self.done += 1
                continue
            shown.append(await self._send(chat_id, message))
            self.done += 1
        return shown

    async def send_media(self, chat_id: int, message: TelegramMessage, media: MediaRef, media_file: MediaFile) -> int:
        """A kept file: by Telegram's cached file_id, else uploaded (and its new file_id remembered)."""
        file = await media_file(media)
        send = self.bot.send_photo if message.method == "photo" else self.bot.send_document
        sent: Message = await send(chat_id, file, caption=message.text or None, parse_mode="HTML",
                                   reply_markup=markup_of(message.reply_markup))
        if isinstance(file, BufferedInputFile) and self.uploaded is not None:
            new_id = sent.photo[-1].file_id if sent.photo else (sent.document.file_id if sent.document else None)
            if new_id:
                await self.uploaded(media, new_id)
        return sent.message_id

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
        if message.method == "document" and message.file is not None:
            upload = BufferedInputFile(message.file.data, filename=message.file.name)
            sent_file: Message = await self.bot.send_document(chat_id, upload, caption=message.text or None,
                                                              parse_mode="HTML", reply_markup=markup)
            return sent_file.message_id
        if message.method in ("photo", "document") and message.media is not None and self.media_file is not None:
            return await self.send_media(chat_id, message, message.media, self.media_file)
        # A notice is plain text (a toast's); sent as a message it is escaped like any other words.
        text = escape(message.text, quote=False) if message.method == "notice" else message.text
        sent = await self.bot.send_message(chat_id=chat_id, text=text or "…", parse_mode="HTML",
                                           reply_markup=markup)
        return sent.message_id


def telegram_media(app: Any) -> tuple[MediaFile | None, Uploaded | None]:
    """How the sender gets a kept file (`app.media`, bot/media.py): the cached file_id, else the bytes.
    A file Telegram already holds (`tg:<file_id>`, as received before the media store) goes by its id."""
    media = getattr(app, "media", None)

    async def media_file(ref: MediaRef) -> str | BufferedInputFile:
        if ref.ref.startswith("tg:"):
            return ref.ref.removeprefix("tg:")
        media_id = media_id_of(ref.ref) or ref.ref
        if not is_media_id(media_id):
            return ref.ref  # Telegram's own file_id (an attachment stored before the media store)
        if media is None:
            raise LookupError(f"no media store for {ref.ref}")
        cached = await media.channel_id(media_id, CHANNEL)
        if cached:
            return str(cached)
        return BufferedInputFile(await media.read(media_id), filename=ref.name or media_id)

    async def uploaded(ref: MediaRef, file_id: str) -> None:
        if media is not None and not ref.ref.startswith("tg:"):
            await media.remember(media_id_of(ref.ref) or ref.ref, CHANNEL, file_id)

    return media_file, uploaded
