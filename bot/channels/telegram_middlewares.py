"""Update pipeline: throttle → one DB session → who is writing → locale → domain errors as replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types import User as TgUser
from aiohttp import ClientConnectorError

from bot.clock import Clock
from bot.context import AppContext
from bot.errors import DomainError
from bot.i18n import I18n
from bot.i18n import gettext as _
from bot.services.accounts import effective_role, locale_from_language_code, seen
from bot.services.throttle import Throttle, Verdict
from storage import ops_repos, repos

log = logging.getLogger(__name__)
CHANNEL = "telegram"


class ThrottleMiddleware(BaseMiddleware):
    """A token bucket per person: a flood from one user is slowed politely, others are unaffected. The
    buckets are shared by every process on PostgreSQL or Redis (bot/services/throttle.py)."""

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle

    async def __call__(self, handler: Callable[..., Awaitable[Any]], event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        if tg_user is None:
            return await handler(event, data)
        verdict = await self.throttle.check(f"{CHANNEL}:{tg_user.id}")
        if verdict == Verdict.DROP:
            # The rest of the flood does nothing; but a press is still answered (with nothing), as the pipeline
            # answers one: Telegram spins on the button until it is. A message is never answered here.
            await _answer_dropped_press(event)
            return None
        if verdict == Verdict.WARN:
            # Tell them once per flood; answering every extra message would feed the flood.
            data["throttled"] = True
        return await handler(event, data)


async def _answer_dropped_press(event: TelegramObject) -> None:
    query = event.callback_query if isinstance(event, Update) else event
    if not isinstance(query, CallbackQuery):
        return
    try:
        await query.answer()
    except TelegramAPIError as exc:  # too old already, or Telegram away: the flood is dropped all the same
        log.info("a dropped press could not be answered: %s", exc)


_update_session: ContextVar[Any] = ContextVar("update_session", default=None)
# Methods after which a person sees the consequence of what they did.
_VISIBLE = {"SendMessage", "EditMessageText", "EditMessageReplyMarkup", "SendDocument", "SendPhoto",
            "AnswerCallbackQuery"}


class PerUserOrder(BaseMiddleware):
    """One person's updates are handled one at a time, in order (aiogram runs updates concurrently):
    two quick messages must not both answer the same form step."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    async def __call__(self, handler: Callable[..., Awaitable[Any]], event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        if tg_user is None:
            return await handler(event, data)
        lock = self._locks.setdefault(tg_user.id, asyncio.Lock())
        try:
            async with lock:
                return await handler(event, data)
        finally:
            if not lock.locked() and self._locks.get(tg_user.id) is lock:
                del self._locks[tg_user.id]


class DbSessionMiddleware(BaseMiddleware):
    """One session per update; committed when the handler succeeds, rolled back otherwise. The update is
    marked as handled in that transaction: delivered again (a webhook retried elsewhere), it is not handled twice.

    Together with CommitBeforeReply it also commits before each reply, so a crash after a reply
    never leaves the person looking at a step the database does not know about.
    """

    def __init__(self, app: AppContext) -> None:
        self.app = app

    async def __call__(self, handler: Callable[..., Awaitable[Any]], event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        async with self.app.session_maker() as session:
            data["session"] = session
            tg_user: TgUser | None = data.get("event_from_user")
            if tg_user is not None:  # the person's lock across processes, as the pipeline takes it
                await ops_repos.lock_person(session, key=f"{CHANNEL}:{tg_user.id}")
                if isinstance(event, Update) and not await ops_repos.first_delivery(
                        session, channel=CHANNEL, update_id=str(event.update_id), now=self.app.clock.now()):
                    log.info("a Telegram update delivered again was already handled: not handled twice")
                    return None
            token = _update_session.set(session)
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            finally:
                _update_session.reset(token)
            await session.commit()
            if session.info.pop("outbox_dirty", False) and self.app.outbox is not None:
                # Notifications leave right after commit instead of waiting for the next tick.
                self.app.outbox.notify()
            return result


class UserMiddleware(BaseMiddleware):
    """Loads who is writing (no upsert: the row is created on /start) and their open form."""

    def __init__(self, app: AppContext) -> None:
        self.app = app

    async def __call__(self, handler: Callable[..., Awaitable[Any]], event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        session = data["session"]
        user = conversation = None
        if tg_user is not None:
            user, identity, conversation, _staff = await repos.identity_with_conversation(
                session, channel=CHANNEL, external_id=str(tg_user.id))
            if user is not None and identity is not None:
                await seen(session, clock=self.app.clock, user=user, identity=identity,
                           notify=self.app.settings.notify_identity)
            if user is not None and user.unreachable_at is not None:
                user.unreachable_at = None  # they wrote again: reachable
                session.add(user)
        data["user"] = user
        data["role"] = effective_role(user, self.app.settings.admin_ids,
                                      telegram_id=tg_user.id if tg_user is not None else None)
        data["conversation"] = conversation
        return await handler(event, data)


class LocaleMiddleware(BaseMiddleware):
    """Stored choice first; otherwise Telegram's language_code (vi → vi, en → en, else the default)."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    def setup(self, router: Router) -> None:
        router.message.outer_middleware(self)
        router.callback_query.outer_middleware(self)

    def get_locale(self, data: dict[str, Any]) -> str:
        user = data.get("user")
        if user is not None and user.locale in self.i18n.available_locales:
            return user.locale
        tg_user: TgUser | None = data.get("event_from_user")
        return locale_from_language_code(tg_user.language_code if tg_user else None, self.i18n.default_locale)

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        data["i18n"] = self.i18n
        with self.i18n.context(), self.i18n.use_locale(self.get_locale(data)):
            return await handler(event, data)


class ErrorReplyMiddleware(BaseMiddleware):
    """The one error handler: domain errors become translated replies; anything else an apology."""

    async def __call__(self, handler: Callable[..., Awaitable[Any]], event: TelegramObject,
                       data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        except DomainError as exc:
            await data["session"].rollback()
            await _reply(event, exc.message.render(_))
        except Exception:
            log.exception("unhandled error while handling an update")
            await data["session"].rollback()
            await _reply(event, _("Sorry, something went wrong on our side. Please try again in a moment."))
        return None


async def _reply(event: TelegramObject, text: str) -> None:
    if isinstance(event, CallbackQuery):
        try:
            await event.answer(text, show_alert=True)
            return
        except TelegramBadRequest:
            pass  # the handler had answered the press before failing: say it in the chat instead
        if isinstance(event.message, Message):
            await event.message.answer(text)
        elif event.bot is not None:
            await event.bot.send_message(event.from_user.id, text)
    elif isinstance(event, Message):
        await event.answer(text)


_EDITS = frozenset({"EditMessageText", "EditMessageReplyMarkup", "EditMessageCaption"})


class EditOfNothingIsDone(BaseRequestMiddleware):
    """An edit into what the message already shows (a double tap, a toggle pressed twice) is a success:
    Telegram refuses it as "message is not modified", but the person sees what they should."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if type(method).__name__ in _EDITS and "message is not modified" in exc.message.lower():
                return True  # type: ignore[return-value]
            raise


class CommitBeforeReply(BaseRequestMiddleware):
    """Commits the update's work before a reply leaves: what the person sees is already saved.

    (aiogram confirms an update to Telegram while it is still being handled, so an update whose
    reply went out but whose transaction was lost to a crash would never come back.)
    """

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        session = _update_session.get()
        if session is not None and type(method).__name__ in _VISIBLE and session.in_transaction():
            await session.commit()
        return await make_request(bot, method)


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Any API call that meets flood control waits `retry_after` and is sent again; nothing is lost.

    The outbox's rules apply to replies too: a call that could not even connect, or that got a 5xx answer
    with a body, is retried with back-off (nothing was sent, so no duplicate is possible); a timeout or a
    connection dropped mid-answer is not, since the message may have left. After `attempts` such failures
    the error is raised: a reply then goes to the outbox (bot/channels/telegram_bridge.py), which keeps
    trying without holding the person's next message back.
    """

    def __init__(self, clock: Clock, max_retries: int = 8, attempts: int = 3) -> None:
        self.clock, self.max_retries, self.attempts = clock, max_retries, attempts

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        failures = 0
        for attempt in range(self.max_retries):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                log.info("flood control on %s: waiting %ss (attempt %d)", type(method).__name__,
                         exc.retry_after, attempt + 1)
                await self.clock.sleep(exc.retry_after)
                continue
            except TelegramServerError as exc:
                log.info("server error on %s (attempt %d): %s", type(method).__name__, attempt + 1, exc)
                error: TelegramAPIError = exc
            except TelegramNetworkError as exc:
                if not isinstance(exc.__cause__, ClientConnectorError):
                    raise  # the message may have left: never sent twice
                log.info("could not connect for %s (attempt %d): %s", type(method).__name__, attempt + 1, exc)
                error = exc
            failures += 1
            if failures >= self.attempts:
                raise error
            await self.clock.sleep(min(5.0, 0.5 * 2 ** (failures - 1)))
        return await make_request(bot, method)
