"""The app factory: builds the Dispatcher (tests import it) and the Bot; nothing at import time."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.base import ChannelSender
from bot.channels.telegram import TelegramSender
from bot.channels.telegram_send import telegram_media
from bot.channels.text import TextRenderer
from bot.channels.zalo.client import ZaloClient
from bot.channels.zalo.send import ZaloSender
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.context import AppContext
from bot.conversation.pipeline import Pipeline
from bot.i18n import create_i18n
from bot.i18n_marker import N_
from bot.media import MediaStore
from bot.services.announcements import signup_form
from bot.services.communes import CommuneDirectory
from bot.services.forms.definitions import FORMS
from bot.services.forms.engine import FormEngine
from bot.services.outbox import OutboxWorker
from handlers.flows import build_flows
from storage.db import create_session_maker

log = logging.getLogger(__name__)

# (command, description) — descriptions are message ids, translated per language for the menu.
MENU = (
    ("start", N_("Start or register your facility")),
    ("need", N_("Ask the centre for support")),
    ("needs", N_("Your needs and their status")),
    ("profile", N_("Your facility's details")),
    ("help", N_("What I can do")),
    ("language", N_("Change language")),
    ("subscriptions", N_("Choose the announcements you receive")),
    ("mydata", N_("What we store about you")),
    ("forget", N_("Delete your personal data")),
)


def create_app(settings: Settings, engine: AsyncEngine, *, clock: Clock | None = None) -> AppContext:
    clock = clock or SystemClock()
    app = AppContext(
        settings=settings,
        clock=clock,
        session_maker=create_session_maker(engine),
        i18n=create_i18n(settings.default_locale, address_vi=settings.address_vi),
        communes=CommuneDirectory(settings.province_code),
        forms=FormEngine(FORMS, today=lambda: clock.now().astimezone(settings.tz).date(),
                         now_local=lambda: clock.now().astimezone(settings.tz),
                         ttl=timedelta(hours=settings.form_ttl_hours)),
    )
    app.forms.register_factory("signup", signup_form)
    app.pipeline = Pipeline(app, build_flows(
        lambda msgid: [app.i18n.gettext(msgid, locale=loc) for loc in app.i18n.available_locales]))
    app.media = MediaStore(settings.media_folder(), app.session_maker, clock, public_base_url=settings.public_base_url)
    return app


def attach_outbox(app: AppContext, bot: Any | None, zalo: ZaloClient | None = None) -> OutboxWorker:
    """The outbox worker with a sender for each channel this process serves; `bot` is the Telegram
    channel's aiogram Bot (built in bot/channels/telegram_app.py), or None."""
    senders: dict[str, ChannelSender] = {}
    if bot is not None:
        senders["telegram"] = TelegramSender(bot, media=telegram_media(app))
    if zalo is not None:
        media = app.media
        senders["zalo"] = ZaloSender(zalo, TextRenderer(media_url=media.url) if media is not None else None)
    app.outbox = OutboxWorker(app.session_maker, senders, app.clock,
                              rate=app.settings.send_rate, rates={"zalo": app.settings.zalo_send_rate},
                              send_timeout=app.settings.send_timeout,
                              retry_span=timedelta(hours=app.settings.retry_hours), tz=app.tz)
    return app.outbox
