"""The Telegram bridge under concurrency: an update handled by the pipeline holds one database connection,
not two, so many people at once cannot drain the pool."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Bot
from aiogram.types import Update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import create_app
from bot.channels.telegram_app import create_dispatcher
from bot.clock import FakeClock
from storage.migrate import upgrade_to_head
from tests.conftest import make_settings
from tests.fakebot import RecordingSession


async def test_many_people_at_once_with_a_small_pool(tmp_path: Any, clock: FakeClock) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/pool.db", pool_size=3, max_overflow=0,
                                 pool_timeout=5)
    await upgrade_to_head(engine)
    settings = make_settings(throttle_rate=100.0, throttle_burst=100)
    app = create_app(settings, engine, clock=clock)
    app.bot_username = "khuyencong_test_bot"
    session = RecordingSession()
    bot = Bot(token=settings.token(), session=session)
    dp = create_dispatcher(settings, app)

    def update(n: int) -> Update:
        person = {"id": 70_000 + n, "is_bot": False, "first_name": "Lan", "language_code": "en"}
        return Update.model_validate({"update_id": n, "message": {
            "message_id": n, "date": 1_767_225_600, "chat": {"id": 70_000 + n, "type": "private"},
            "from": person, "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}},
            context={"bot": bot})

    await asyncio.gather(*(dp.feed_update(bot, update(n)) for n in range(1, 21)))
    answered = {c.chat_id for c in session.calls if c.method == "SendMessage" and "What I can do" in c.text}
    assert answered == {70_000 + n for n in range(1, 21)}
    await engine.dispose()
