"""The app factory: builds the Dispatcher (tests import it) and the Bot; nothing at import time."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeDefault
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers
from bot.channels.base import ChannelSender
from bot.channels.telegram import TelegramSender
from bot.channels.telegram_bridge import PipelineFirst
from bot.channels.zalo.client import ZaloClient
from bot.channels.zalo.send import ZaloSender
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.context import AppContext
from bot.conversation.pipeline import Pipeline
from bot.i18n import I18n, create_i18n
from bot.i18n_marker import N_
from bot.media import MediaStore
from bot.middlewares import (
    CommitBeforeReply,
    DbSessionMiddleware,
    EditOfNothingIsDone,
    ErrorReplyMiddleware,
    LocaleMiddleware,
    PerUserOrder,
    RetryAfterMiddleware,
    ThrottleMiddleware,
    UserMiddleware,
)
from bot.services.announcements import signup_form
from bot.services.communes import CommuneDirectory
from bot.services.forms.definitions import FORMS
from bot.services.forms.engine import FormEngine
from bot.services.outbox import OutboxWorker
from handlers.flows import build_flows
from handlers.forms import OpenFormGuard
from handlers.menu import MenuButtons
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
        i18n=create_i18n(settings.default_locale),
        communes=CommuneDirectory(settings.province_code),
        forms=FormEngine(FORMS, today=lambda: clock.now().astimezone(settings.tz).date(),
                         now_local=lambda: clock.now().astimezone(settings.tz),
                         ttl=timedelta(hours=settings.form_ttl_hours)),
    )
    app.forms.register_factory("signup", signup_form)
    app.pipeline = Pipeline(app, build_flows())
    app.media = MediaStore(settings.media_folder(), app.session_maker, clock, public_base_url=settings.public_base_url)
    return app


def create_bot(settings: Settings, clock: Clock, *, retry_flood: bool = True) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base),
                             timeout=settings.send_timeout)
    if retry_flood:
        session.middleware(RetryAfterMiddleware(clock))
    session.middleware(CommitBeforeReply())
    session.middleware(EditOfNothingIsDone())
    return Bot(
        token=settings.token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def create_dispatcher(settings: Settings, app: AppContext) -> Dispatcher:
    """Wire middlewares and routers; `app` reaches every handler as the `app` kwarg."""
    dp = Dispatcher(app=app)
    dp.update.outer_middleware(ThrottleMiddleware(app.clock, settings.throttle_rate, settings.throttle_burst))
    dp.update.outer_middleware(PerUserOrder())
    # The moved flows take their updates here, before a database session is opened for the old routers.
    dp.update.outer_middleware(PipelineFirst(app))
    dp.update.outer_middleware(DbSessionMiddleware(app))
    dp.update.outer_middleware(UserMiddleware(app))
    LocaleMiddleware(app.i18n).setup(dp)
    dp.message.outer_middleware(MenuButtons(app.i18n))
    dp.message.outer_middleware(ErrorReplyMiddleware())
    dp.callback_query.outer_middleware(ErrorReplyMiddleware())
    dp.message.outer_middleware(OpenFormGuard(app))
    dp.callback_query.outer_middleware(OpenFormGuard(app))
    for router in handlers.routers():
        # Routers are module-level singletons; a second dispatcher in one process (tests, a
        # restarted sandbox bot) takes them over from the first.
        router._parent_router = None
        dp.include_router(router)
    return dp


async def set_command_menu(bot: Bot, i18n: I18n, default_locale: str) -> None:
    """One menu per language; a refusal is logged and the bot carries on."""
    for locale in (None, *i18n.available_locales):
        commands = [BotCommand(command=c, description=i18n.gettext(d, locale=locale or default_locale))
                    for c, d in MENU]
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=locale)
        except TelegramAPIError as exc:
            log.warning("could not set the command menu for %s: %s", locale or "default", exc)


def attach_outbox(app: AppContext, bot: Bot | None, zalo: ZaloClient | None = None) -> OutboxWorker:
    """The outbox worker with a sender for each channel this process serves."""
    senders: dict[str, ChannelSender] = {}
    if bot is not None:
        senders["telegram"] = TelegramSender(bot)
    if zalo is not None:
        senders["zalo"] = ZaloSender(zalo)
    app.outbox = OutboxWorker(app.session_maker, senders, app.clock,
                              rate=app.settings.send_rate, send_timeout=app.settings.send_timeout,
                              retry_span=timedelta(hours=app.settings.retry_hours))
    return app.outbox
