"""Telegram sender for the outbox: maps Bot API errors onto delivery outcomes."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.channels.base import PermanentError, RateLimited, TransientError, Unreachable


class TelegramSender:
    channel = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        try:
            await self.bot.send_message(chat_id=int(chat_id), text=text, parse_mode=payload.get("parse_mode"))
        except TelegramRetryAfter as exc:
            raise RateLimited(exc.retry_after) from exc
        except TelegramForbiddenError as exc:
            raise Unreachable(exc.message) from exc
        except (TelegramBadRequest, TelegramNotFound) as exc:
            if "chat not found" in exc.message.lower():
                raise Unreachable(exc.message) from exc
            raise PermanentError(exc.message) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise TransientError(exc.message) from exc
