"""The Telegram side of the conversation pipeline.

An outer middleware sees each update before any database session is opened for it: what the moved flows
handle goes through the pipeline (event → flow → Telegram renderer → send) with one unit of work; the
rest (commands and buttons still on aiogram routers) continues down the old middleware chain. So an
update never holds two database connections at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiohttp import ClientError
from sqlalchemy.exc import SQLAlchemyError

from bot.channels.telegram import nothing_left
from bot.channels.telegram_inbound import event_of_callback, event_of_message, ignored
from bot.channels.telegram_render import TelegramRenderer, unpack_callback
from bot.channels.telegram_send import TelegramReplySender, telegram_media
from bot.context import AppContext
from bot.conversation.events import CommandEvent, Event, MediaEvent, UnsupportedEvent, Who
from bot.conversation.pipeline import flatten, queued
from bot.conversation.replies import Rendered
from bot.i18n import I18n
from bot.services.throttle import may_pass
from handlers.menu_words import BUTTONS

log = logging.getLogger(__name__)
RENDERER = TelegramRenderer()


def menu_commands(i18n: I18n) -> dict[str, str]:
    """The main menu's words, in every language, → the command each stands for."""
    out: dict[str, str] = {}
    for rows in BUTTONS.values():
        for row in rows:
            for label, command in row:
                for locale in i18n.available_locales:
                    out[i18n.gettext(label, locale=locale)] = command.lstrip("/")
                out[label] = command.lstrip("/")
    return out


class PipelineFirst(BaseMiddleware):
    """Hands the updates of moved flows to the pipeline; lets the others through to the aiogram routers."""

    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.menu = menu_commands(app.i18n)

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        if self.app.pipeline is None or not isinstance(event, Update):
            return await handler(event, data)
        bot: Bot = data["bot"]
        if event.message is not None:
            done = await self._message(event.message, bot, str(event.update_id))
        elif event.callback_query is not None:
            done = await self._press(event.callback_query, bot, str(event.update_id))
        else:
            done = False
        return None if done else await handler(event, data)

    async def _message(self, message: Message, bot: Bot, update_id: str) -> bool:
        if ignored(message):
            return True  # group chatter: not ours to answer, and never for the aiogram routers
        event = event_of_message(message)
        if event is None:
            return False
        if isinstance(event.action, MediaEvent):
            event = Event(event.who, await self._kept(bot, event.who, event.action))
        if message.text and (command := self.menu.get(message.text.strip())):
            event = Event(event.who, CommandEvent(command))  # a main-menu button
        flows = self.app.pipeline.flows  # type: ignore[union-attr]
        action = event.action
        if isinstance(action, CommandEvent) and action.name in flows.always and action.name not in flows.commands:
            return False  # works in the middle of a form, and is still an aiogram handler
        # A command not moved yet is the pipeline's only while a form is open (the form answers it).
        fallthrough = isinstance(action, CommandEvent) and action.name not in flows.commands
        await self._know_username(bot)
        rendered = await self.app.pipeline.handle(  # type: ignore[union-attr]
            event, RENDERER, fallthrough=fallthrough, update_id=update_id)
        if rendered is None:
            return False
        await self._send(bot, message.chat.id, rendered, event, update_id)
        return True

    async def _press(self, query: CallbackQuery, bot: Bot, update_id: str) -> bool:
        event = event_of_callback(query)
        if event is None:
            return False
        if not isinstance(event.action, UnsupportedEvent) and (
                unpack_callback(query.data or "")[0] not in self.app.pipeline.flows.actions):  # type: ignore[union-attr]
            return False  # a button of a feature still on the aiogram routers
        await self._know_username(bot)
        rendered = await self.app.pipeline.handle(event, RENDERER, update_id=update_id)  # type: ignore[union-attr]
        shown = query.message
        chat_id = shown.chat.id if shown is not None else query.from_user.id
        await self._send(bot, chat_id, rendered, event, update_id, callback_query_id=query.id,
                         edit_message_id=shown.message_id if isinstance(shown, Message) else None)
        return True

    async def _send(self, bot: Bot, chat_id: int, rendered: list[Rendered], event: Event, update_id: str,
                    **kwargs: Any) -> None:
        """Send the replies; what could not go after the sender's retries goes to the outbox (never lost)."""
        await self._deliver(bot, chat_id, rendered, event, **kwargs)
        if flatten(rendered):
            await self.app.pipeline.answered(event.who, update_id)  # type: ignore[union-attr]

    async def _deliver(self, bot: Bot, chat_id: int, rendered: list[Rendered], event: Event, **kwargs: Any) -> None:
        sender = TelegramReplySender(bot, *telegram_media(self.app))
        try:
            await sender.deliver(chat_id, flatten(rendered), **kwargs)
        except (TelegramServerError, TelegramRetryAfter, TelegramNetworkError) as exc:
            unknown = isinstance(exc, TelegramNetworkError) and not nothing_left(exc)
            if unknown:  # a timeout or a dropped answer: that message may have arrived, never sent twice
                log.warning("a reply may or may not have arrived: %s", exc)
            if chat_id == int(event.who.external_id) and self.app.pipeline is not None:
                await self.app.pipeline.defer(event.who, queued(rendered, RENDERER.caps, done=sender.done,
                                                                unknown=unknown))
        except TelegramAPIError as exc:
            # What was done is committed; a reply Telegram refused is logged, not retried here.
            log.warning("a reply could not be sent: %s", exc)

    async def _kept(self, bot: Bot, who: Who, action: MediaEvent) -> MediaEvent:
        """Download a received file at once into the media store; if that fails the person's file is still
        taken, by Telegram's own id (nothing they sent is lost)."""
        media = self.app.media
        file_id = action.ref.removeprefix("tg:")
        if media is None or not action.ref.startswith("tg:"):
            return action
        if not await may_pass(self.app, who.address):
            return action  # a flood: the pipeline drops it, and the file is not fetched only to be dropped
        try:
            data = await bot.download(file_id)
            if data is None:
                return action
            ref = await media.keep(data.read(), kind=action.kind, name=action.name, channel="telegram",
                                   channel_id=file_id)
        except (TelegramAPIError, ClientError, OSError, ValueError, SQLAlchemyError) as exc:
            log.warning("a received file could not be kept: %s", exc)
            return action
        return MediaEvent(ref.ref, action.kind, action.name, action.caption)

    async def _know_username(self, bot: Bot) -> None:
        """Deep links name the bot; aiogram caches getMe, so this asks Telegram once."""
        if self.app.bot_username is None:
            self.app.bot_username = (await bot.me()).username
