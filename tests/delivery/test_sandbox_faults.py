"""The outbox with the real Telegram sender and aiogram Bot against the sandbox server's fault switches:
each person gets exactly one copy, or a counted "unknown" — never two."""

import socket
from collections import Counter

import pytest

from bot.channels.base import TransientError
from bot.channels.telegram_app import create_bot
from bot.clock import FakeClock
from bot.services.outbox import OutboxWorker
from storage.db import create_session_maker
from tests.conftest import make_settings
from tests.delivery.conftest import sandbox_bot
from tests.delivery.test_outbox import make_users, queue_for, statuses


def copies(sandbox, users) -> Counter:
    return Counter({u.external_id: len(sandbox.bot_messages(int(u.external_id))) for u in users})


async def test_latency_above_the_client_timeout_is_unknown_and_sent_once(engine, clock, sandbox, telegram) -> None:
    users = await make_users(engine, clock, 2)
    for u in users:
        sandbox.user(int(u.external_id))
    await queue_for(engine, clock, users[:1])
    sandbox.faults.update({"latency_ms": 1000})  # twice the client's timeout: the answer comes too late
    worker = OutboxWorker(create_session_maker(engine), {"telegram": telegram}, clock)
    await worker.deliver_due(drain=True)
    assert await statuses(engine) == Counter({"unknown": 1})
    # The server did deliver it, after the client gave up: the one copy the person gets.
    await sandbox.wait_for(int(users[0].external_id), timeout=5)
    sandbox.faults.update({"latency_ms": 0})
    await queue_for(engine, clock, users[1:], kind="later")
    clock.advance(3600)
    await worker.deliver_due(drain=True)
    assert await statuses(engine) == Counter({"unknown": 1, "sent": 1})
    assert copies(sandbox, users) == Counter({users[0].external_id: 1, users[1].external_id: 1})
    assert sandbox.calls["sendMessage"] == 2  # the timed-out one was never tried again


async def test_a_dropped_connection_is_unknown_and_a_5xx_is_retried(engine, clock, sandbox, telegram) -> None:
    users = await make_users(engine, clock, 2)
    for u in users:
        sandbox.user(int(u.external_id))
    await queue_for(engine, clock, users[:1])
    sandbox.faults.update({"next_drop": 1})
    worker = OutboxWorker(create_session_maker(engine), {"telegram": telegram}, clock)
    await worker.deliver_due(drain=True)
    assert await statuses(engine) == Counter({"unknown": 1})
    sandbox.faults.update({"next_5xx": 2})
    await queue_for(engine, clock, users[1:], kind="later")
    await worker.deliver_due(drain=True)
    assert await statuses(engine) == Counter({"unknown": 1, "sent": 1})
    assert copies(sandbox, users) == Counter({users[0].external_id: 0, users[1].external_id: 1})
    assert sandbox.stats["dropped"] == 1 and sandbox.stats["5xx"] == 2


async def test_connection_refused_is_transient(clock: FakeClock) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from bot.channels.telegram import TelegramSender

    bot = sandbox_bot(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TransientError):
            await TelegramSender(bot).send("1", "hi", {})
    finally:
        await bot.session.close()


def test_the_client_timeout_is_the_setting(clock: FakeClock) -> None:
    bot = create_bot(make_settings(send_timeout=75), clock)
    assert bot.session.timeout == 75
    assert create_bot(make_settings(), clock).session.timeout == 60


async def test_a_long_text_with_a_file_is_not_resent_when_only_the_text_failed(clock: FakeClock) -> None:
    from aiogram import Bot

    from bot.channels.base import DeliveryUnknown
    from bot.channels.telegram import TelegramSender
    from tests.fakebot import RecordingSession

    session = RecordingSession()
    bot = Bot("123456:TEST-token", session=session)
    session.fail_next("SendMessage", 502, "Bad Gateway")
    with pytest.raises(DeliveryUnknown, match="file sent"):
        await TelegramSender(bot).send("7", "x" * 2000, {"attachment": {"kind": "document", "file_id": "F1"}})
    assert [c.method for c in session.calls] == ["SendDocument"]  # the file left once; never sent again
