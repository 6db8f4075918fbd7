"""The Telegram channel's wiring: the aiogram Bot (its HTTP session and request middlewares), the
Dispatcher (update middlewares, the pipeline's bridge, the routers still on aiogram) and the command menu."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import BotCommand, BotCommandScopeDefault, User

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
from bot.services.throttle import throttle_of
from bot.startup import StartupError

log = logging.getLogger(__name__)

# aiogram reads every Bot API answer as `Response[<the method's result type>]`, a pydantic generic model.
# pydantic keeps a parametrised model in a weak cache: once the garbage collector frees it, the next answer
# builds the class and its validator again (~9 % of a webhook process's CPU in bench.updates). Strong
# references to the answers of the methods the bot calls keep them built for the life of the process.
KEPT_RESPONSES = tuple(Response[method.__returning__] for method in (  # type: ignore[name-defined,attr-defined]
    methods.SendMessage, methods.SendPhoto, methods.SendDocument, methods.EditMessageText,
    methods.EditMessageReplyMarkup, methods.AnswerCallbackQuery, methods.GetUpdates, methods.GetMe,
    methods.SetWebhook, methods.DeleteWebhook, methods.GetWebhookInfo, methods.SetMyCommands, methods.GetFile,
    methods.SendChatAction, methods.DeleteMessage))


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
    dp.update.outer_middleware(PerUserOrder())
    # The moved flows take their updates here, before a database session is opened for the old routers (the
    # pipeline counts them against the flood throttle in its own unit of work); the rest meet it next.
    dp.update.outer_middleware(PipelineFirst(app))
    dp.update.outer_middleware(ThrottleMiddleware(throttle_of(app)))
    dp.update.outer_middleware(DbSessionMiddleware(app))
    dp.update.outer_middleware(UserMiddleware(app))
    LocaleMiddleware(app.i18n).setup(dp)
    dp.message.outer_middleware(ErrorReplyMiddleware())
    dp.callback_query.outer_middleware(ErrorReplyMiddleware())
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



async def connect_telegram(bot: Bot, api_base: str) -> User:
    """getMe, once: a refused token or an unreachable server is one line, not a traceback."""
    where = urlsplit(api_base).netloc
    log.info("connecting to Telegram at %s…", where)
    try:
        return await bot.get_me()
    except TelegramUnauthorizedError:
        raise StartupError("Telegram refused the token (BOT_TOKEN): check it with @BotFather") from None
    except TelegramNetworkError:
        raise StartupError(f"cannot reach {where} (TELEGRAM_API_BASE): is the network up?") from None
    except TelegramAPIError as exc:
        raise StartupError(f"{where} (TELEGRAM_API_BASE) answered getMe with an error: {exc.message}") from None


class PollingStarted:
    """Session middleware: runs `callback` once, as the first getUpdates leaves (polling has begun)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback: Callable[[], None] | None = callback

    async def __call__(self, make_request: Callable[..., Any], bot: Bot, method: TelegramMethod[Any]) -> Response[Any]:
        if self.callback is not None and type(method).__name__ == "GetUpdates":
            callback, self.callback = self.callback, None
            callback()
        return await make_request(bot, method)


async def poll(settings: Settings, app: AppContext, bot: Bot, *, started: Callable[[], Awaitable[None]],
               stopping: Callable[[], Awaitable[None]]) -> None:
    """Long polling until a signal; `started` runs once the command menu is set, `stopping` at shutdown."""
    dp = create_dispatcher(settings, app)

    @dp.startup()
    async def on_startup() -> None:
        await set_command_menu(bot, app.i18n, settings.default_locale)
        await started()

    @dp.shutdown()
    async def on_shutdown() -> None:
        await stopping()

    await bot.delete_webhook(drop_pending_updates=False)
    await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types())
