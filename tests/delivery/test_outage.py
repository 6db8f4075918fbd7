"""Outages: transient errors are retried for hours with capped back-off; while the channel is down every
worker pauses instead of burning each row's tries, the progress says so, and sending resumes by itself."""

import asyncio
from collections import Counter
from typing import Any

from bot.channels.base import ChannelSender, TransientError
from bot.channels.telegram import TelegramProgress
from bot.clock import FakeClock
from bot.scheduler import Runtime, refresh_progress
from bot.services.outbox import OutboxWorker, channel_down
from storage.db import create_session_maker
from tests.conftest import ChatHarness
from tests.delivery.test_outbox import make_users, queue_for, statuses
from tests.updates.test_announcements import STAFF, compose, people


class Outage:
    """Wraps a sender: for `seconds` from now (on the clock) every call meets a 502 from a dead gateway."""

    channel = "telegram"

    def __init__(self, clock: FakeClock, seconds: float, inner: ChannelSender | None = None) -> None:
        self.clock, self.until, self.inner = clock, clock.monotonic() + seconds, inner
        self.tried: list[str] = []
        self.delivered: list[str] = []

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        self.tried.append(chat_id)
        await asyncio.sleep(0)
        if self.clock.monotonic() < self.until:
            raise TransientError("Bad Gateway")
        if self.inner is not None:
            await self.inner.send(chat_id, text, payload)
        self.delivered.append(chat_id)


async def test_a_45_second_outage_delays_but_loses_nothing(engine, clock) -> None:
    users = await make_users(engine, clock, 228)
    await queue_for(engine, clock, users)
    sender = Outage(clock, 45)
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock, rate=25)
    await worker.deliver_due(drain=True)
    assert await statuses(engine) == Counter({"sent": 228})
    assert sorted(Counter(sender.delivered).values()) == [1] * 228
    wasted = len(sender.tried) - 228
    assert 0 < wasted <= 40  # paused while down: a few probes, not every row's tries
    assert worker.stats["paused"] >= 3 and max(s for s in [0.0, *clock.slept]) <= 60
    async with create_session_maker(engine)() as s:
        assert not await channel_down(s)  # the first success cleared it


async def test_the_progress_says_paused_while_telegram_is_unreachable_then_finishes(chat: ChatHarness) -> None:
    await people(chat)
    ann_id = await compose(chat, kind="general", title="Tin tức", deadline=None)
    outbox = chat.app.outbox
    outage = Outage(chat.clock, 45, inner=outbox.senders["telegram"])
    outbox.senders["telegram"] = outage
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    rt = Runtime(chat.app, TelegramProgress(chat.bot))
    await refresh_progress(rt)
    # The first tick posts the progress message (SendMessage), later ones edit it.
    progress = [c for c in chat.api.calls if c.method == "SendMessage" and c.chat_id == STAFF.id][-1].text
    assert progress.startswith("⏸ Paused: Telegram unreachable.") and "Waiting: 4" in progress
    chat.clock.advance(60)
    await outbox.deliver_due(drain=True)
    await refresh_progress(rt)
    report = [c for c in chat.api.calls if c.method == "EditMessageText"][-1].text
    assert report.startswith("✅ Finished") and "Sent: 4 of 4" in report and "Failed: 0" in report
    assert sorted(Counter(outage.delivered).values()) == [1] * 4


class HangThenTimeOut:
    """Calls hang until `release`, then time out together (Telegram stopped answering); later ones at once."""

    channel = "telegram"

    def __init__(self) -> None:
        self.tried: list[str] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        self.tried.append(chat_id)
        self.started.set()
        await self.release.wait()
        raise TimeoutError()


async def test_when_every_answer_times_out_the_worker_pauses_and_probes_one_at_a_time(engine, clock) -> None:
    users = await make_users(engine, clock, 100)
    await queue_for(engine, clock, users)
    sender = HangThenTimeOut()
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock, rate=30, concurrency=4)
    task = asyncio.create_task(worker.deliver_due())
    while len(sender.tried) < 4:
        sender.started.clear()
        await sender.started.wait()
    sender.release.set()  # the four calls in flight time out together
    await task  # returns once the pause is longer than it waits inline
    counts = await statuses(engine)
    # The four in flight could not be helped; after them a single probe, not another batch.
    assert counts["unknown"] == len(sender.tried) == 5 and counts["pending"] == 95
    async with create_session_maker(engine)() as s:
        assert await channel_down(s)
