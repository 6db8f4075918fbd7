"""Webhook mode on the console's ASGI app: POST /webhook/telegram and /webhook/zalo take a messenger's updates
into the same pipeline as polling; a wrong or missing secret is 403 and nothing is processed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app as create_context
from bot.channels.telegram_webhook import SECRET_HEADER, TelegramWebhook
from bot.channels.zalo.client import ZaloClient
from bot.channels.zalo.runner import ZaloChannel
from bot.clock import FakeClock
from bot.sandbox.limits import RateLimits
from bot.sandbox.zalo import ZaloSandbox
from bot.web.app import create_app
from storage.models import Identity
from tests.conftest import make_settings
from tests.fakebot import RecordingSession

SECRET = "tg-hook_secret-1"
ZALO_TOKEN = "1234567890:zalo-hook-secret"
ZALO_SECRET = "zalo-hook-secret-123"


def start_update(update_id: int, user_id: int = 4242, text: str = "/start") -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1772416800, "chat": {"id": user_id, "type": "private", "first_name": "Lan"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Lan", "language_code": "vi"}, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}}


@pytest.fixture
async def telegram(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingSession]]:
    settings = make_settings(telegram_mode="webhook", telegram_webhook_url="https://bot.example.vn/webhook/telegram",
                             telegram_webhook_secret=SECRET)
    app = create_context(settings, engine, clock=clock)
    api = RecordingSession()
    bot = Bot(token=settings.token(), session=api, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    web = create_app(app, webhooks={"telegram": TelegramWebhook(settings, app, bot).receive})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="https://console.test") as client:
        yield client, api


async def identities(engine: AsyncEngine) -> list[str]:
    from sqlmodel.ext.asyncio.session import AsyncSession

    async with AsyncSession(engine) as session:
        return [i.external_id for i in (await session.exec(select(Identity))).all()]


async def test_a_telegram_update_with_the_secret_is_handled_and_answered(
        telegram: tuple[httpx.AsyncClient, RecordingSession], engine: AsyncEngine) -> None:
    client, api = telegram
    page = await client.post("/webhook/telegram", content=json.dumps(start_update(1)),
                             headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"})
    assert page.status_code == 200
    # Answered once handled: the reply has already gone to the person.
    sent = [c for c in api.calls if c.method == "SendMessage" and c.chat_id == 4242]
    assert sent and "Tên cơ sở của anh/chị là gì?" in sent[0].text


@pytest.mark.parametrize("header", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_telegram_update_without_the_right_secret_is_refused_and_not_processed(
        telegram: tuple[httpx.AsyncClient, RecordingSession], engine: AsyncEngine, header: str | None) -> None:
    client, api = telegram
    headers = {SECRET_HEADER: header} if header is not None else {}
    page = await client.post("/webhook/telegram", content=json.dumps(start_update(1)), headers=headers)
    assert page.status_code == 403
    assert api.calls == [] and await identities(engine) == []


async def test_a_body_that_is_not_an_update_is_answered_and_ignored(
        telegram: tuple[httpx.AsyncClient, RecordingSession]) -> None:
    client, api = telegram
    page = await client.post("/webhook/telegram", content=b"{not json", headers={SECRET_HEADER: SECRET})
    assert page.status_code == 200 and api.calls == []


async def test_a_channel_not_in_webhook_mode_here_is_not_found(
        telegram: tuple[httpx.AsyncClient, RecordingSession]) -> None:
    client, _api = telegram
    page = await client.post("/webhook/zalo", content=b"{}", headers={"X-Bot-Api-Secret-Token": ZALO_SECRET})
    assert page.status_code == 404


async def test_zalo_updates_through_the_console_are_checked_deduplicated_and_answered(
        sqlite_engine: AsyncEngine, clock: FakeClock) -> None:
    server = ZaloSandbox(bot_token=ZALO_TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    app = create_context(make_settings(zalo_bot_token=ZALO_TOKEN), sqlite_engine, clock=clock)
    assert app.pipeline is not None
    zalo = ZaloClient(ZALO_TOKEN, base=server.base_url)
    channel = ZaloChannel(zalo, app.pipeline)

    async def receive(body: bytes, headers: Any) -> int:
        return await channel.receive(body, headers, ZALO_SECRET)

    web = create_app(app, webhooks={"zalo": receive})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="https://c.test") as client, \
                httpx.AsyncClient(base_url=server.base_url) as zalo_api:
            server.user("7c7c7c", "Nguyễn Thị Lan")
            await server.send_text("7c7c7c", "chào")
            # What Zalo would POST: the update as getUpdates gives it ({"ok", "result"}, accepted as it is).
            body = (await zalo_api.post(f"/bot{ZALO_TOKEN}/getUpdates", json={"timeout": 0})).content
            refused = await client.post("/webhook/zalo", content=body, headers={"X-Bot-Api-Secret-Token": "nope"})
            assert refused.status_code == 403 and server.events("7c7c7c")[-1]["kind"] == "user"
            for _ in range(2):  # Zalo retries a POST: the second is answered and not handled again
                page = await client.post("/webhook/zalo", content=body, headers={"X-Bot-Api-Secret-Token": ZALO_SECRET})
                assert page.status_code == 200
            answers = [e for e in server.events("7c7c7c") if e["kind"] != "user"]
            assert len(answers) == 1 and "đăng ký cơ sở" in answers[0]["text"]
    finally:
        await zalo.close()
        await server.stop()


async def zalo_body(server: ZaloSandbox, zalo_api: httpx.AsyncClient, user: str, text: str) -> bytes:
    """What Zalo would POST for a person's message (the update as getUpdates gives it)."""
    await server.send_text(user, text)
    return (await zalo_api.post(f"/bot{ZALO_TOKEN}/getUpdates", json={"timeout": 0})).content


async def test_a_zalo_update_posted_again_to_another_process_is_handled_once(engine: AsyncEngine,
                                                                            clock: FakeClock) -> None:
    server = ZaloSandbox(bot_token=ZALO_TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    zalo = ZaloClient(ZALO_TOKEN, base=server.base_url)
    # Two processes behind a load balancer: each its own memory of the ids it saw, one database.
    channels = []
    for _ in range(2):
        app = create_context(make_settings(zalo_bot_token=ZALO_TOKEN), engine, clock=clock)
        assert app.pipeline is not None
        channels.append(ZaloChannel(zalo, app.pipeline))
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as zalo_api:
            server.user("7c7c7c", "Nguyễn Thị Lan")
            body = await zalo_body(server, zalo_api, "7c7c7c", "/start")
            for channel in (*channels, channels[0]):
                assert await channel.receive(body, {"X-Bot-Api-Secret-Token": ZALO_SECRET}, ZALO_SECRET) == 200
                # Zalo posts it again seconds later at the earliest: by then the answer is written (within 1 s).
                await channel.pipeline.flush_answered()
            answers = [e for e in server.events("7c7c7c") if e["kind"] != "user"]
            assert len(answers) == 1 and "Tên cơ sở" in answers[0]["text"]
            # The next message goes on from there: the form's first answer, taken once.
            body = await zalo_body(server, zalo_api, "7c7c7c", "Cơ sở Hưng Thịnh")
            for channel in reversed(channels):
                assert await channel.receive(body, {"X-Bot-Api-Secret-Token": ZALO_SECRET}, ZALO_SECRET) == 200
                await channel.pipeline.flush_answered()
            answers = [e for e in server.events("7c7c7c") if e["kind"] != "user"]
            assert len(answers) == 2 and "chủ cơ sở" in answers[1]["text"]
    finally:
        await zalo.close()
        await server.stop()


async def test_a_zalo_person_flooding_the_bot_is_told_once_to_slow_down(engine: AsyncEngine,
                                                                       clock: FakeClock) -> None:
    from bot.services.throttle import throttle_of

    server = ZaloSandbox(bot_token=ZALO_TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    zalo = ZaloClient(ZALO_TOKEN, base=server.base_url)
    settings = make_settings(zalo_bot_token=ZALO_TOKEN, throttle_rate=3.0, throttle_burst=6)
    app = create_context(settings, engine, clock=clock)
    assert app.pipeline is not None
    # What the runner wires: the store every process shares on PostgreSQL (memory on SQLite).
    throttle_of(app)
    channel = ZaloChannel(zalo, app.pipeline)
    headers = {"X-Bot-Api-Secret-Token": ZALO_SECRET}
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as zalo_api:
            server.user("f100d", "Trần Văn Ba")
            server.user("07e4", "Lê Thị Cúc")
            seen = []
            for n in range(9):
                await channel.receive(await zalo_body(server, zalo_api, "f100d", f"hỏi {n}"), headers, ZALO_SECRET)
                seen.append(len([e for e in server.events("f100d") if e["kind"] != "user"]))
            texts = [e["text"] for e in server.events("f100d") if e["kind"] != "user"]
            slow = [t for t in texts if "gửi tin nhắn quá nhanh" in t]
            assert len(slow) == 1 and texts[-1] == slow[0]  # told once, after the burst of 6
            assert seen[6] == seen[5] + 1 and seen[8] == seen[6]  # the rest of the flood: dropped
            # Someone else is not slowed; and after a pause the flooder is answered again.
            await channel.receive(await zalo_body(server, zalo_api, "07e4", "xin chào"), headers, ZALO_SECRET)
            assert [e for e in server.events("07e4") if e["kind"] != "user"]
            clock.advance(5)
            await channel.receive(await zalo_body(server, zalo_api, "f100d", "chào"), headers, ZALO_SECRET)
            assert len([e for e in server.events("f100d") if e["kind"] != "user"]) > seen[8]
    finally:
        await zalo.close()
        await server.stop()
