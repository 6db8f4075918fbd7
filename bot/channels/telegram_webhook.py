"""Telegram's webhook mode: updates POSTed by Telegram to the console's ASGI app (`/webhook/telegram`).

Each POST must carry the secret given to `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`: a wrong or
missing one is answered 403 and nothing is read. An accepted update goes through the same Dispatcher as long
polling does (the pipeline, which counts the flood throttle, then the routers still on aiogram), and the POST is
answered once it has been handled and its replies sent: Telegram sends one chat's next update only after that,
so a person's updates stay in order even when they land on different processes.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import ValidationError

from bot.channels.telegram_app import create_dispatcher, set_command_menu
from bot.config import Settings
from bot.context import AppContext

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramWebhook:
    def __init__(self, settings: Settings, app: AppContext, bot: Bot, *, dispatcher: Dispatcher | None = None) -> None:
        assert settings.telegram_webhook_secret is not None
        self.secret = settings.telegram_webhook_secret.get_secret_value()
        self.bot = bot
        self.dp = dispatcher or create_dispatcher(settings, app)

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> int:
        """Handle one POST; the HTTP status to answer (403: refused, nothing done; 200: handled)."""
        given = headers.get(SECRET_HEADER)
        if not given or not hmac.compare_digest(given.encode(), self.secret.encode()):
            return 403
        try:
            update = Update.model_validate(json.loads(body), context={"bot": self.bot})
        except (ValueError, ValidationError):
            log.warning("Telegram: a webhook POST that is not an update was ignored")
            return 200  # answered, so Telegram does not send it again; nothing to handle
        await self.dp.feed_update(self.bot, update)
        return 200


async def set_webhook(settings: Settings, app: AppContext, bot: Bot) -> str:
    """`setWebhook(url, secret_token)` and the command menu; one line saying what was done."""
    assert settings.telegram_webhook_url is not None and settings.telegram_webhook_secret is not None
    await bot.set_webhook(settings.telegram_webhook_url,
                          secret_token=settings.telegram_webhook_secret.get_secret_value(),
                          allowed_updates=create_dispatcher(settings, app).resolve_used_update_types(),
                          drop_pending_updates=False)
    await set_command_menu(bot, app.i18n, settings.default_locale)
    return f"telegram: webhook set to {settings.telegram_webhook_url}"
