"""The bot on Zalo: updates from the sandbox's Zalo server through the pipeline, replies as numbered text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.zalo.client import ZaloClient
from bot.channels.zalo.runner import ZaloChannel
from bot.clock import FakeClock
from bot.sandbox.limits import RateLimits
from bot.sandbox.zalo import ZaloSandbox
from tests.conftest import make_settings

TOKEN = "1234567890:zalo-test-secret"


@pytest.fixture
async def zalo(sqlite_engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[tuple[ZaloSandbox, ZaloChannel]]:
    server = ZaloSandbox(bot_token=TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    app = create_app(make_settings(), sqlite_engine, clock=clock)
    assert app.pipeline is not None
    client = ZaloClient(TOKEN, base=server.base_url)
    channel = ZaloChannel(client, app.pipeline, poll_timeout=5)
    polling = asyncio.create_task(channel.run_polling())
    await server.polling.wait()
    yield server, channel
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    await channel.stop()
    await client.close()
    await server.stop()


async def say(server: ZaloSandbox, user: str, text: str, replies: int = 1) -> list[str]:
    mark = server.last_seq(user)
    await server.send_text(user, text)
    out = []
    for _ in range(replies):
        event = await server.wait_for(user, after=mark, timeout=15)
        out.append(event["text"])
        mark = event["seq"]
    return out


async def test_a_person_on_zalo_follows_topics_by_typing(zalo: tuple[ZaloSandbox, ZaloChannel]) -> None:
    server, _channel = zalo
    server.user("5a6b7c", "Trần Văn Ba")
    (listing,) = await say(server, "5a6b7c", "/subscriptions")
    assert "1. ✅ Hội chợ" in listing and "0. Về menu chính" in listing
    saved, listing = await say(server, "5a6b7c", "1", replies=2)
    assert saved == "Đã lưu." and "1. ⬜ Hội chợ" in listing


@pytest.mark.parametrize("hostile", ["<b>đậm</b> & </i>", "x" * 2500, "\u202eabc", "tên\u0000NUL"])
async def test_hostile_texts_get_a_polite_answer(zalo: tuple[ZaloSandbox, ZaloChannel], hostile: str) -> None:
    server, _channel = zalo
    (answer,) = await say(server, "77aa", hostile)
    assert answer.startswith("Xin chào!") and "Đăng ký cơ sở" in answer  # a newcomer: greeted, never echoed
    assert hostile not in answer and "\u202e" not in answer


async def test_stickers_and_unknown_events_are_answered(zalo: tuple[ZaloSandbox, ZaloChannel]) -> None:
    server, _channel = zalo
    mark = server.last_seq("88bb")
    await server.send_sticker("88bb")
    first = await server.wait_for("88bb", after=mark)
    await server.send_event("88bb", "message.location.received")
    second = await server.wait_for("88bb", after=first["seq"])
    assert first["text"] == second["text"] != ""


async def test_queued_messages_reach_zalo_as_text_in_order(sqlite_engine: AsyncEngine, clock: FakeClock) -> None:
    from bot.channels.zalo.send import ZaloSender
    from bot.conversation.replies import Reply, html_reply
    from bot.services import outbox
    from bot.services.outbox import OutboxWorker
    from storage.models import OutboxMessage, User

    server = ZaloSandbox(bot_token=TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    client = ZaloClient(TOKEN, base=server.base_url)
    app = create_app(make_settings(), sqlite_engine, clock=clock)
    try:
        await server.send_text("ab12", "chào")  # Zalo lets a bot write only to people who wrote to it
        server.user("gone99").has_written = True
        server.set_blocked("gone99")
        async with app.session_maker() as session:
            lan = User(channel="zalo", external_id="ab12", created_at=clock.now(), updated_at=clock.now())
            gone = User(channel="zalo", external_id="gone99", created_at=clock.now(), updated_at=clock.now())
            session.add_all([lan, gone])
            await session.flush()
            body = "\n\n".join(f"Đoạn {i}: " + "nội dung thông báo " * 20 for i in range(12))  # ~4,700 characters
            await outbox.enqueue(session, clock=clock, user=lan, kind="status", reply=html_reply(
                "Nhu cầu <b>NC-2026-0001</b> đã được duyệt &amp; đưa vào kế hoạch."))
            # A row queued before replies were stored (HTML text, Telegram buttons) still sends, without them.
            session.add(OutboxMessage(channel="zalo", chat_id="ab12", user_id=lan.id, kind="announcement", text=body,
                                      payload={"parse_mode": "HTML",
                                               "buttons": [[{"text": "Đăng ký", "data": "ar:s:1"}]]},
                                      status="pending", next_attempt_at=clock.now(), created_at=clock.now()))
            await outbox.enqueue(session, clock=clock, user=gone, kind="status", reply=Reply.of("Tin nhắn"))
            await session.commit()
        worker = OutboxWorker(app.session_maker, {"zalo": ZaloSender(client)}, clock)
        await worker.deliver_due(drain=True)
        texts = server.bot_texts("ab12")
        assert texts[0] == "Nhu cầu NC-2026-0001 đã được duyệt & đưa vào kế hoạch."
        assert len(texts) >= 4 and all(len(t) <= 2000 for t in texts)
        assert "\n\n".join(texts[1:]) == body  # every part once, in order; no buttons on Zalo yet
        async with app.session_maker() as session:
            from sqlmodel import select

            statuses = sorted((r.chat_id, r.status) for r in (await session.exec(select(OutboxMessage))).all())
        assert statuses == [("ab12", "sent"), ("ab12", "sent"), ("gone99", "blocked")]
    finally:
        await client.close()
        await server.stop()
