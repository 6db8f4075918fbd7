"""Helpers for the roles tests: a second app on the same database, as after a settings change and restart."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode

from bot.app import create_app
from bot.channels.telegram_middlewares import CommitBeforeReply, EditOfNothingIsDone, RetryAfterMiddleware
from tests.conftest import ChatHarness, make_settings
from tests.fakebot import RecordingSession


def restarted(chat: ChatHarness, **settings: Any) -> ChatHarness:
    """The same database and clock, a new app and dispatcher built from changed settings."""
    new_settings = make_settings(**settings)
    app = create_app(new_settings, chat.app.session_maker.kw["bind"], clock=chat.clock)
    session = RecordingSession()
    bot = Bot(token=new_settings.bot_token.get_secret_value(), session=session,
              default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    session.middleware(RetryAfterMiddleware(chat.clock))
    session.middleware(CommitBeforeReply())
    session.middleware(EditOfNothingIsDone())
    return ChatHarness(app, session, bot, chat.clock)
