"""Telegram sender for the outbox: renders the stored neutral reply at send time (TelegramRenderer) and maps
API errors onto outcomes. Rows queued before replies were stored (HTML text, button dicts) still send."""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import ClientConnectorError

from bot.channels.base import DeliveryUnknown, PermanentError, RateLimited, TransientError, Unreachable
from bot.channels.telegram_render import TelegramMessage, TelegramRenderer
from bot.channels.telegram_send import MediaFile, TelegramReplySender, Uploaded, markup_of
from bot.conversation.replies import Reply, reply_from_json

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024


def nothing_left(exc: TelegramNetworkError) -> bool:
    """True only when the request provably never reached the server (refused, DNS, cannot connect).

    A timeout, a reset or a server that hung up mid-answer may come after the message left.
    """
    return isinstance(exc.__cause__, ClientConnectorError)


def keyboard(rows: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b["text"], callback_data=b["data"]) for b in row] for row in rows])


class TelegramSender:
    channel = "telegram"

    def __init__(self, bot: Bot, renderer: TelegramRenderer | None = None, *,
                 media: tuple[MediaFile | None, Uploaded | None] = (None, None)) -> None:
        """`media`: how a file of our media store is sent (telegram_send.telegram_media(app))."""
        self.bot = bot
        self.renderer = renderer or TelegramRenderer()
        self.media_file, self.uploaded = media

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> int:
        try:
            return await self._send(int(chat_id), text, payload)
        except TelegramRetryAfter as exc:
            raise RateLimited(exc.retry_after) from exc
        except TelegramForbiddenError as exc:
            raise Unreachable(exc.message) from exc
        except (TelegramBadRequest, TelegramNotFound) as exc:
            if "chat not found" in exc.message.lower() or "user is deactivated" in exc.message.lower():
                raise Unreachable(exc.message) from exc
            raise PermanentError(exc.message) from exc
        except TelegramServerError as exc:
            raise TransientError(exc.message) from exc  # a 5xx answered with a body: not sent
        except TelegramNetworkError as exc:
            if nothing_left(exc):
                raise TransientError(exc.message) from exc
            raise DeliveryUnknown(exc.message) from exc
        except ClientDecodeError as exc:
            raise DeliveryUnknown(f"unreadable answer: {str(exc)[:200]}") from exc

    async def _send(self, chat_id: int, text: str, payload: dict[str, Any]) -> int:
        if "reply" in payload:
            messages = self.renderer.render(reply_from_json(payload["reply"])).messages
            first = int(payload.get("parts_sent") or 0)  # a queued reply whose first messages already left
            for index, message in enumerate(messages):
                if index < first:
                    continue
                try:
                    await self._send_rendered(chat_id, message)  # type: ignore[arg-type]
                except Exception as exc:
                    if index == first:
                        raise
                    # Part of it has arrived: sending the row again would repeat that part.
                    reason = getattr(exc, "message", str(exc))
                    raise DeliveryUnknown(f"part {index + 1} of {len(messages)} not sent: {reason}"[:500]) from exc
            return len(messages) - first
        await self._send_legacy(chat_id, text, payload)
        return 1

    async def _send_rendered(self, chat_id: int, message: TelegramMessage) -> None:
        if message.method == "retire":
            return  # taking the buttons off a pressed message: nothing to do for a new one
        markup = markup_of(message.reply_markup)
        if message.method in ("photo", "document") and message.media is not None and self.media_file is not None:
            # A file of our media store: by Telegram's cached file_id, else uploaded once.
            await TelegramReplySender(self.bot, self.media_file, self.uploaded).send_media(
                chat_id, message, message.media, self.media_file)
            return
        if message.method in ("photo", "document") and message.media is not None:
            # An announcement's file as a Telegram file id (what staff sent us).
            send = self.bot.send_photo if message.method == "photo" else self.bot.send_document
            await send(chat_id, message.media.ref, caption=message.text or None, parse_mode="HTML",
                       reply_markup=markup)
            return
        # A notice (a pressed button's toast, queued as a reply) is plain text, escaped like the reply sender's.
        text = escape(message.text, quote=False) if message.method == "notice" else message.text
        await self.bot.send_message(chat_id=chat_id, text=text or "…", parse_mode="HTML", reply_markup=markup)

    async def _send_legacy(self, chat_id: int, text: str, payload: dict[str, Any]) -> None:
        """A row queued before replies were stored: HTML text, {"text", "data"} buttons, a file id."""
        markup = keyboard(payload.get("buttons"))
        parse_mode = payload.get("parse_mode")
        attachment = payload.get("attachment")
        if attachment and len(text) <= CAPTION_LIMIT:
            # One message: the file with the text as its caption.
            send = self.bot.send_photo if attachment["kind"] == "photo" else self.bot.send_document
            await send(chat_id, attachment["file_id"], caption=text, parse_mode=parse_mode, reply_markup=markup)
            return
        if attachment:
            # Captions are limited to 1024 characters: the file first, then the full text with the buttons.
            send = self.bot.send_photo if attachment["kind"] == "photo" else self.bot.send_document
            await send(chat_id, attachment["file_id"])
            try:
                await self.bot.send_message(chat_id=chat_id, text=text, parse_mode=parse_mode, reply_markup=markup)
            except (TelegramServerError, TelegramNetworkError, TelegramRetryAfter) as exc:
                # The file has left: sending the row again would give a second copy of it.
                raise DeliveryUnknown(f"file sent, text not: {exc.message}"[:500]) from exc
            return
        await self.bot.send_message(chat_id=chat_id, text=text, parse_mode=parse_mode, reply_markup=markup)


class TelegramProgress:
    """Staff's broadcast progress on Telegram: one message, posted once and then edited in place.

    The text is a neutral reply, escaped by the renderer (a title with "<" shows as written). A refused
    call is logged, never raised: progress is a courtesy, the broadcast goes on without it."""

    def __init__(self, bot: Bot, renderer: TelegramRenderer | None = None) -> None:
        self.bot = bot
        self.renderer = renderer or TelegramRenderer()

    def _html(self, reply: Reply) -> str:
        return "\n\n".join(m.text for m in self.renderer.render(reply).messages)  # type: ignore[attr-defined]

    async def post(self, chat_id: str, reply: Reply) -> int | None:
        try:
            sent = await self.bot.send_message(int(chat_id), self._html(reply), parse_mode="HTML")
        except TelegramAPIError as exc:
            log.warning("could not create the progress message: %s", exc)
            return None
        return sent.message_id

    async def update(self, chat_id: str, message_id: int, reply: Reply) -> bool:
        try:
            await self.bot.edit_message_text(text=self._html(reply), chat_id=int(chat_id), message_id=message_id,
                                             parse_mode="HTML")
        except TelegramAPIError as exc:
            log.info("progress message not updated: %s", exc)
            return False
        return True
