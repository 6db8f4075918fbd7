"""Shared fixtures: a movable clock, migrated databases, and a Dispatcher driven with fake updates."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.types import Update
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.telegram import TelegramSender
from bot.channels.telegram_app import create_dispatcher
from bot.channels.telegram_middlewares import CommitBeforeReply, EditOfNothingIsDone, RetryAfterMiddleware
from bot.clock import FakeClock
from bot.config import Settings
from bot.context import AppContext
from bot.services.outbox import OutboxWorker
from storage.db import create_engine
from storage.migrate import is_at_head, upgrade_to_head
from tests.fakebot import BOT_ID, Call, RecordingSession

STAFF_ID = 9001
TEST_MEDIA = Path(tempfile.gettempdir()) / f"kc-test-media-{os.getpid()}"  # files the tests' bots receive
PG_URL = os.environ.get("TEST_DATABASE_URL")
DB_PARAMS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else ["sqlite"]
# The tests' own schema in the TEST_DATABASE_URL database, unique per test process (several runs at once —
# CI and a developer — never meet); created per test, dropped at the end. Nothing else there is touched.
PG_SCHEMA = f"kc_test_{os.getpid()}_{secrets.token_hex(3)}"


@pytest.fixture
def clock() -> FakeClock:
    # Monday 2 March 2026, 09:00 in Ho Chi Minh City.
    return FakeClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))


def pg_schema_engine(url: str) -> AsyncEngine:
    """An engine whose connections see only PG_SCHEMA (search_path): Alembic creates every table there. Built
    as the bot builds its own (storage.db.create_engine), so the tests meet its pool as it is."""
    return create_engine(url, connect_args={"server_settings": {"search_path": PG_SCHEMA}})


async def _fresh_postgres(url: str) -> AsyncEngine:
    """PG_SCHEMA at the latest revision with empty tables: migrated once per run, then emptied per test."""
    engine = pg_schema_engine(url)
    if await is_at_head(engine):
        async with engine.begin() as conn:
            tables = (await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"),
                {"s": PG_SCHEMA})).scalars().all()
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        return engine
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        await conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
    await upgrade_to_head(engine)
    return engine


def pytest_sessionfinish(session: pytest.Session) -> None:
    if PG_URL:
        asyncio.run(_drop_pg_schema(PG_URL))


async def _drop_pg_schema(url: str) -> None:
    engine = pg_schema_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
    finally:
        await engine.dispose()


@pytest.fixture(params=DB_PARAMS)
async def engine(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[AsyncEngine]:
    """A database at the latest migration: SQLite always, PostgreSQL too when TEST_DATABASE_URL is set."""
    if request.param == "postgresql":
        eng = await _fresh_postgres(PG_URL or "")
    else:
        eng = create_engine(f"sqlite+aiosqlite:///{tmp_path}/test.db")
        await upgrade_to_head(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    """PostgreSQL only (in the tests' own schema), for what SQLite cannot do; skipped without TEST_DATABASE_URL."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    eng = await _fresh_postgres(PG_URL)
    yield eng
    await eng.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Any) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path}/test.db")
    await upgrade_to_head(eng)
    yield eng
    await eng.dispose()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"bot_token": "123456:TEST-token", "admin_ids": str(STAFF_ID),
                              "throttle_rate": 3.0, "throttle_burst": 6}
    values.setdefault("media_dir", str(TEST_MEDIA))
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Person:
    id: int
    first_name: str = "Lan"
    language_code: str | None = "vi"
    last_name: str | None = None


_HARNESSES = itertools.count()


class ChatHarness:
    """Feeds updates through the real Dispatcher; reads what the bot sent back via the fake API."""

    def __init__(self, app: AppContext, session: RecordingSession, bot: Bot, clock: FakeClock) -> None:
        self.app, self.api, self.bot, self.clock = app, session, bot, clock
        self.dp = create_dispatcher(app.settings, app)
        # Telegram never repeats an update_id, and the bot handles one update once: a harness started again on
        # the same database (a restarted process) goes on from ids of its own.
        self._update_ids = itertools.count(1 + next(_HARNESSES) * 1_000_000)
        self._message_ids = itertools.count(10_000)
        app.bot_username = "khuyencong_test_bot"  # what the runner learns from getMe at start-up
        app.outbox = OutboxWorker(app.session_maker, {"telegram": TelegramSender(bot)}, clock)

    def _user(self, p: Person) -> dict[str, Any]:
        out: dict[str, Any] = {"id": p.id, "is_bot": False, "first_name": p.first_name}
        if p.language_code:
            out["language_code"] = p.language_code
        if p.last_name:
            out["last_name"] = p.last_name
        return out

    async def _feed(self, update: dict[str, Any]) -> list[Call]:
        before = len(self.api.calls)
        update["update_id"] = next(self._update_ids)
        await self.dp.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))
        # Let the post-commit delivery task run (it is real async work, not a timer).
        for task in list(_pending_tasks()):
            await task
        self.clock.advance(seconds=2)  # people do not type 30 messages a second
        return self.api.calls[before:]

    def _message(self, p: Person, **content: Any) -> dict[str, Any]:
        return {"message": {"message_id": next(self._message_ids), "date": int(self.clock.now().timestamp()),
                            "chat": {"id": p.id, "type": "private", "first_name": p.first_name},
                            "from": self._user(p), **content}}

    async def send(self, p: Person, text: str) -> list[Call]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self._feed(self._message(p, **content))

    async def contact(self, p: Person, phone: str) -> list[Call]:
        return await self._feed(self._message(p, contact={"phone_number": phone, "first_name": p.first_name,
                                                          "user_id": p.id}))

    async def document(self, p: Person, name: str = "bao-gia.pdf") -> list[Call]:
        return await self._feed(self._message(p, document={"file_id": f"FILE-{name}", "file_unique_id": name,
                                                           "file_name": name}))

    async def sticker(self, p: Person) -> list[Call]:
        return await self._feed(self._message(p, sticker={
            "file_id": "st", "file_unique_id": "st", "type": "regular", "width": 512, "height": 512,
            "is_animated": False, "is_video": False}))

    async def press(self, p: Person, data: str, message_id: int = 1) -> list[Call]:
        return await self._feed({"callback_query": {
            "id": str(next(self._update_ids)), "from": self._user(p), "chat_instance": "ci", "data": data,
            "message": {"message_id": message_id, "date": int(self.clock.now().timestamp()),
                        "chat": {"id": p.id, "type": "private"},
                        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot"}, "text": "…"}}})

    async def press_button(self, p: Person, label_part: str, calls: list[Call] | None = None) -> list[Call]:
        """Press the button whose text contains `label_part` on the bot's last message with buttons to p."""
        source = calls if calls is not None else self.to(p)
        for call in reversed(source):
            for text_, data in call.buttons():
                if label_part.lower() in text_.lower() and data:
                    return await self.press(p, data, message_id=call.params.get("message_id", 1))
        raise AssertionError(f"no button containing {label_part!r}; last: {self.last(p).buttons()}")

    def to(self, p: Person) -> list[Call]:
        return [c for c in self.api.calls if c.chat_id == p.id and c.method in
                ("SendMessage", "SendDocument", "EditMessageText")]

    def last(self, p: Person) -> Call:
        return self.to(p)[-1]

    async def deliver(self) -> int:
        assert self.app.outbox is not None
        return await self.app.outbox.deliver_due()


def _pending_tasks() -> list[Any]:
    import asyncio

    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()
            and "deliver_due" in repr(t.get_coro())]


@pytest.fixture
async def chat(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[ChatHarness]:
    settings = make_settings()
    app = create_app(settings, engine, clock=clock)
    session = RecordingSession()
    bot = Bot(token=settings.bot_token.get_secret_value(), session=session,
              default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    session.middleware(RetryAfterMiddleware(clock))
    session.middleware(CommitBeforeReply())
    session.middleware(EditOfNothingIsDone())
    yield ChatHarness(app, session, bot, clock)


def form_cb(action: str, form: str, step: str, value: str = "") -> str:
    """A form button's data: action c=choose, b=back, s=skip, x=cancel, ok=confirm, ed=edit menu, p=page."""
    from bot.channels.telegram_render import pack_callback
    from bot.conversation.actions import form_arg

    return pack_callback(f"f.{action}", form_arg(form, step, value))


async def register_facility(chat: ChatHarness, p: Person, *, name: str = "Cơ sở nước mắm Hưng Thịnh",
                            commune: str = "long xuyen", sector: str = "food") -> None:
    """Walk the whole registration form with valid answers (language-independent)."""
    await chat.send(p, "/start")
    await chat.send(p, name)
    await chat.send(p, "Nguyễn Thị Lan")
    await chat.contact(p, "+84912345678")
    await chat.send(p, commune)
    await chat.press(p, form_cb("c", "register", "sector", sector))
    await chat.send(p, "nước mắm, khô cá")
    await chat.press(p, form_cb("c", "register", "consent", "yes"))
    await chat.press(p, form_cb("ok", "register", "__summary__"))


async def file_need(chat: ChatHarness, p: Person, *, category: str = "training", form: str = "need") -> list[Call]:
    """File a simple (non-machinery) need through the form; returns the confirmation calls."""
    await chat.send(p, "/need")
    await chat.press(p, form_cb("c", form, "category", category))
    await chat.send(p, "Cần tập huấn quản lý sản xuất")
    if category == "machinery":
        await chat.send(p, "Máy sấy lạnh")
        await chat.send(p, "150")
        await chat.press(p, form_cb("s", form, "own_contribution"))
    await chat.send(p, "5/2026")
    await chat.press(p, form_cb("s", form, "attachment"))
    return await chat.press(p, form_cb("ok", form, "__summary__"))


async def schedule_monthly_report(chat: ChatHarness) -> None:
    """Staff set a monthly collaborator report (day 10, reminders 3 and 1 days before)."""
    staff = Person(STAFF_ID, first_name="Hà", language_code="en")
    await chat.send(staff, "/reportschedule")
    await chat.send(staff, "Báo cáo tháng")
    await chat.press(staff, form_cb("c", "report_schedule", "frequency", "monthly"))
    await chat.send(staff, "10")
    await chat.send(staff, "3, 1")
    await chat.press(staff, form_cb("ok", "report_schedule", "__summary__"))


async def fill_report(chat: ChatHarness, ctv: Person, notes: str, *, confirm: bool = True) -> None:
    """A collaborator answers /report: 12 facilities visited, 3 needs collected, `notes`."""
    await chat.send(ctv, "/report")
    await chat.send(ctv, "12")
    await chat.send(ctv, "3")
    await chat.send(ctv, notes)
    if confirm:
        await chat.press(ctv, form_cb("ok", "report", "__summary__"))


def telegram_view(row: Any) -> str:
    """What Telegram shows of a queued outbox row: its stored reply rendered to HTML (first message's text)."""
    from bot.channels.telegram_render import TelegramRenderer
    from bot.conversation.replies import reply_from_json

    messages = TelegramRenderer().render(reply_from_json(row.payload["reply"])).messages
    return "".join(m.text for m in messages)  # type: ignore[attr-defined]
