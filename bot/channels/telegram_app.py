"""The Telegram channel's wiring: the aiogram Bot (its HTTP session and request middlewares), the
Dispatcher (update middlewares, the pipeline's bridge, the routers still on aiogram) and the command menu."""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeDefault

from bot.app import MENU
from bot.channels.telegram_bridge import PipelineFirst
from bot.channels.telegram_middlewares import (
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
from bot.channels.telegram_routers import routers
from bot.clock import Clock
from bot.config import Settings
from bot.context import AppContext
from bot.i18n import I18n
from handlers.forms import OpenFormGuard
from handlers.menu import MenuButtons

log = logging.getLogger(__name__)


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
    for router in routers():
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

