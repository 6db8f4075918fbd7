"""The delivery engine: state machine, pacing on a fake clock, error handling, crash and resume,
several workers sharing the work (on PostgreSQL: SKIP LOCKED)."""

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.channels.base import PermanentError, RateLimited, TransientError, Unreachable
from bot.clock import FakeClock
from bot.conversation.replies import Reply
from bot.services.outbox import BACKOFF_CAP, RETRY_SPAN, OutboxWorker, enqueue
from storage.db import create_session_maker
from storage.models import OutboxMessage, User


class FakeSender:
    """Records (time, chat) of every delivered message; scripted failures per chat."""

    channel = "telegram"

    def __init__(self, clock: FakeClock, failures: dict[str, list[Exception]] | None = None,
                 latency: float = 0.0) -> None:
        self.clock = clock
        self.failures = failures or {}
        self.latency = latency
        self.delivered: list[tuple[float, str]] = []
        self.tried: list[str] = []  # every call, whatever its outcome
        self._progress = asyncio.Event()

    async def wait_for(self, n: int) -> None:
        """Until n messages have been delivered (no polling)."""
        while len(self.delivered) < n:
            self._progress.clear()
            await self._progress.wait()

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        self.tried.append(chat_id)
        if self.latency:
            await asyncio.sleep(self.latency)  # real concurrency between workers (PostgreSQL test)
        else:
            await asyncio.sleep(0)
        queue = self.failures.get(chat_id)
        if queue:
            raise queue.pop(0)
        self.delivered.append((self.clock.monotonic(), chat_id))
        self._progress.set()


async def make_users(engine: AsyncEngine, clock: FakeClock, n: int) -> list[User]:
    async with create_session_maker(engine)() as s:
        users = [User(channel="telegram", external_id=str(100_000 + i), role="user", locale="vi",
                      created_at=clock.now(), updated_at=clock.now()) for i in range(n)]
        s.add_all(users)
        await s.commit()
        return users


async def queue_for(engine: AsyncEngine, clock: FakeClock, users: list[User], kind: str = "announcement") -> None:
    async with create_session_maker(engine)() as s:
        for u in users:
            await enqueue(s, clock=clock, user=u, kind=kind, reply=Reply.of(f"hello {u.external_id}"),
                          dedupe_key=f"{kind}:{u.id}")
        await s.commit()


async def statuses(engine: AsyncEngine) -> Counter:
    async with create_session_maker(engine)() as s:
        return Counter(r.status for r in (await s.exec(select(OutboxMessage))).all())


async def test_pacing_keeps_the_global_rate_and_one_message_per_chat_per_second(engine, clock) -> None:
    users = await make_users(engine, clock, 100)
    await queue_for(engine, clock, users)
    await queue_for(engine, clock, users[:1], kind="second")  # a second message to the first chat
    sender = FakeSender(clock)
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock, rate=25)
    start = clock.monotonic()
    assert await worker.deliver_due(drain=True) == 101
    times = [t - start for t, _ in sender.delivered]
    assert len(times) == 101
    # No one-second window holds more than the rate, plus the bucket's burst (rate/10), plus one token's
    # fraction carried in: 25 + 2.5 + 1 → 28 at most (Telegram's limit is about 30).
    assert max(sum(1 for t in times if w <= t < w + 1) for w in times) <= 28
    assert 3.0 <= times[-1] <= 4.5  # 101 messages at 25/s
    first_chat = [t for t, chat in sender.delivered if chat == users[0].external_id]
    assert len(first_chat) == 2 and first_chat[1] - first_chat[0] >= 1.0
    assert await statuses(engine) == Counter({"sent": 101})


async def test_enqueue_is_idempotent_by_dedupe_key(engine, clock) -> None:
    users = await make_users(engine, clock, 1)
    await queue_for(engine, clock, users)
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError from either driver
        await queue_for(engine, clock, users)


async def test_429_waits_retry_after_and_sends_the_same_row(engine, clock) -> None:
    users = await make_users(engine, clock, 3)
    await queue_for(engine, clock, users)
    sender = FakeSender(clock, failures={users[1].external_id: [RateLimited(5)]})
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock)
    await worker.deliver_due(drain=True)
    assert sorted(c for _, c in sender.delivered) == sorted(u.external_id for u in users)
    async with create_session_maker(engine)() as s:
        row = (await s.exec(select(OutboxMessage).where(OutboxMessage.user_id == users[1].id))).one()
    assert row.status == "sent" and row.attempts == 1  # a 429 is not a failed attempt
    assert worker.stats["retries_429"] == 1
    retried_at = next(t for t, c in sender.delivered if c == users[1].external_id)
    assert retried_at - min(t for t, _ in sender.delivered) >= 5


async def test_403_marks_blocked_and_stops_messaging_until_they_write(engine, clock) -> None:
    users = await make_users(engine, clock, 2)
    await queue_for(engine, clock, users)
    sender = FakeSender(clock, failures={users[0].external_id: [Unreachable("Forbidden: bot was blocked by the user")]})
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock)
    await worker.deliver_due(drain=True)
    async with create_session_maker(engine)() as s:
        blocked = await s.get(User, users[0].id)
        assert blocked.unreachable_at is not None
    await queue_for(engine, clock, users[:1], kind="later")  # a later message to the same person
    await worker.deliver_due(drain=True)
    assert [c for _, c in sender.delivered] == [users[1].external_id]
    assert await statuses(engine) == Counter({"blocked": 2, "sent": 1})


async def test_5xx_and_connect_errors_retry_with_capped_backoff_for_the_retry_span_then_fail(engine, clock) -> None:
    users = await make_users(engine, clock, 2)
    await queue_for(engine, clock, users)
    start = clock.now()
    sender = FakeSender(clock, failures={
        users[0].external_id: [TransientError("Bad Gateway"), ConnectionRefusedError()],  # sent on the 3rd try
        users[1].external_id: [TransientError("Internal Server Error")] * 1000,
    })
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock)
    await worker.deliver_due(drain=True)
    async with create_session_maker(engine)() as s:
        rows = {r.user_id: r for r in (await s.exec(select(OutboxMessage))).all()}
    assert rows[users[0].id].status == "sent" and rows[users[0].id].attempts == 3
    failed = rows[users[1].id]
    assert failed.status == "failed" and failed.last_error == "Internal Server Error"
    assert clock.now() - start >= RETRY_SPAN  # retried for the whole span (hours), not 5 attempts
    assert max(clock.slept) <= BACKOFF_CAP and max(clock.slept) >= 60  # exponential, capped
    assert sender.tried.count(users[1].external_id) == failed.attempts < 200


async def test_bad_request_fails_at_once(engine, clock) -> None:
    users = await make_users(engine, clock, 1)
    await queue_for(engine, clock, users)
    sender = FakeSender(clock, failures={users[0].external_id: [PermanentError("Bad Request: can't parse entities")]})
    await OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock).deliver_due(drain=True)
    assert await statuses(engine) == Counter({"failed": 1})


async def test_kill_mid_broadcast_then_resume_gives_each_one_copy_or_a_reported_interruption(engine, clock) -> None:
    users = await make_users(engine, clock, 60)
    await queue_for(engine, clock, users)
    sender = FakeSender(clock)
    maker = create_session_maker(engine)
    first = OutboxWorker(maker, {"telegram": sender}, clock, rate=25)
    task = asyncio.create_task(first.deliver_due(drain=True))
    await sender.wait_for(20)
    task.cancel()  # the process dies: whatever was claimed stays in `sending`
    with pytest.raises(asyncio.CancelledError):
        await task
    in_flight = (await statuses(engine))["sending"]
    # A restarted process: pending rows continue at once; `sending` ones are left until stale.
    second = OutboxWorker(maker, {"telegram": sender}, clock, rate=25)
    assert await second.recover_interrupted() == 0
    await second.deliver_due(drain=True)
    clock.advance(second.stale_after.total_seconds() + 1)
    assert await second.recover_interrupted() == in_flight
    counts = Counter(c for _, c in sender.delivered)
    assert max(counts.values()) == 1  # nobody got two copies
    final = await statuses(engine)
    assert final["sent"] + final["unknown"] == 60 and final["unknown"] == in_flight
    async with create_session_maker(engine)() as s:
        sent_chats = {r.chat_id for r in (await s.exec(select(OutboxMessage))).all() if r.status == "sent"}
    assert sent_chats <= set(counts)  # every row recorded as sent was really delivered
    # Rows killed mid-send are the only ones whose outcome is unknown: reported as interrupted, never resent.


async def test_graceful_stop_finishes_what_is_in_flight(engine, clock) -> None:
    users = await make_users(engine, clock, 40)
    await queue_for(engine, clock, users)
    sender = FakeSender(clock)
    maker = create_session_maker(engine)
    worker = OutboxWorker(maker, {"telegram": sender}, clock, rate=25)
    task = asyncio.create_task(worker.deliver_due(drain=True))
    await sender.wait_for(10)
    await worker.stop()
    await task
    mid = await statuses(engine)
    assert mid["sending"] == 0 and mid["sent"] == len(sender.delivered)
    resumed = OutboxWorker(maker, {"telegram": sender}, clock, rate=25)
    await resumed.deliver_due(drain=True)
    assert await statuses(engine) == Counter({"sent": 40})
    assert sorted(Counter(c for _, c in sender.delivered).values()) == [1] * 40


@pytest.mark.postgres
async def test_two_workers_share_the_work_without_duplicates_and_within_the_rate(pg_engine, clock) -> None:
    """SKIP LOCKED sharing needs PostgreSQL: this test has no SQLite twin."""
    engine = pg_engine
    users = await make_users(engine, clock, 200)
    await queue_for(engine, clock, users)
    sender = FakeSender(clock, latency=0.002)
    maker = create_session_maker(engine)
    w1 = OutboxWorker(maker, {"telegram": sender}, clock, rate=25)
    w2 = OutboxWorker(maker, {"telegram": sender}, clock, rate=25)
    handled = await asyncio.gather(w1.deliver_due(drain=True), w2.deliver_due(drain=True))
    assert sum(handled) == 200 and all(h > 0 for h in handled)  # both took part
    counts = Counter(c for _, c in sender.delivered)
    assert len(counts) == 200 and max(counts.values()) == 1
    times = sorted(t for t, _ in sender.delivered)
    assert max(sum(1 for t in times if w <= t < w + 1) for w in times) <= 28  # one shared budget, not 2 x 25


async def test_rows_of_people_already_unreachable_are_not_sent(engine, clock) -> None:
    users = await make_users(engine, clock, 2)
    async with create_session_maker(engine)() as s:
        await s.exec(update(User).where(col(User.id) == users[0].id).values(unreachable_at=clock.now()))
        await s.commit()
    await queue_for(engine, clock, users)
    sender = FakeSender(clock)
    await OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock).deliver_due(drain=True)
    assert [c for _, c in sender.delivered] == [users[1].external_id]
