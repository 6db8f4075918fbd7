"""The Telegram side of the conversation pipeline: updates for flows that have moved to the channel-neutral
layer go through it (event → pipeline → Telegram renderer → send); the rest still reach their aiogram
routers while the move goes on."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.telegram_inbound import event_of_callback, event_of_message
from bot.channels.telegram_render import TelegramRenderer, unpack_callback
from bot.channels.telegram_send import TelegramReplySender
from bot.context import AppContext
from bot.conversation.pipeline import Flows, flatten
from storage.models import Conversation

RENDERER = TelegramRenderer()


def command_name(message: Message) -> str | None:
    text = message.text or ""
    if not text.startswith("/") or len(text) < 2:
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower()


class FlowCommand(Filter):
    """A command a moved flow handles, or anything while a form is open (the form takes it), except the
    commands that always work (they may still be on aiogram)."""

    def __init__(self, flows: Flows) -> None:
        self.flows = flows

    async def __call__(self, message: Message, conversation: Conversation | None = None) -> bool:
        name = command_name(message)
        if conversation is not None:
            return name not in self.flows.always
        return name is not None and name in self.flows.commands


class FlowAction(Filter):
    def __init__(self, flows: Flows) -> None:
        self.flows = flows

    async def __call__(self, query: CallbackQuery) -> bool:
        return query.data is not None and unpack_callback(query.data)[0] in self.flows.actions


async def release(session: AsyncSession) -> None:
    """The update's own session (opened by the middlewares, which read the person and their form) gives its
    connection back before the pipeline takes one: holding both, concurrent updates would drain the pool."""
    await session.commit()


async def know_username(app: AppContext, bot: Bot) -> None:
    """Deep links name the bot; aiogram caches getMe, so this asks Telegram once."""
    if app.bot_username is None:
        app.bot_username = (await bot.me()).username


def bridge_router(flows: Flows) -> Router:
    router = Router(name="pipeline")

    @router.message(FlowCommand(flows))
    async def on_command(message: Message, bot: Bot, app: AppContext, session: AsyncSession) -> None:
        event = event_of_message(message)
        if event is None or app.pipeline is None:
            return
        await release(session)
        await know_username(app, bot)
        rendered = await app.pipeline.handle(event, RENDERER)
        await TelegramReplySender(bot).deliver(message.chat.id, flatten(rendered))  # type: ignore[arg-type]

    @router.callback_query(FlowAction(flows))
    async def on_press(query: CallbackQuery, bot: Bot, app: AppContext, session: AsyncSession) -> None:
        event = event_of_callback(query)
        if event is None or app.pipeline is None:
            await query.answer()
            return
        await release(session)
        await know_username(app, bot)
        rendered = await app.pipeline.handle(event, RENDERER)
        shown = query.message
        chat_id = shown.chat.id if shown is not None else query.from_user.id
        await TelegramReplySender(bot).deliver(
            chat_id, flatten(rendered), callback_query_id=query.id,  # type: ignore[arg-type]
            edit_message_id=shown.message_id if isinstance(shown, Message) else None)

    return router
