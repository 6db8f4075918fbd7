"""The outbox's claim order and pacing: priority before queue order, one chat's limit never slows the others,
and a busy lane keeps the refill a slow claim cycle earned (all on the fake clock)."""

import asyncio
import itertools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock
from bot.conversation.replies import Reply
from bot.domain import OutboxStatus, Priority
from bot.services import outbox
from bot.services.outbox import CARRY, OutboxWorker, refill
from storage import repos
from storage.db import create_session_maker
from storage.models import OutboxMessage
from tests.delivery.test_outbox import FakeSender, make_users, statuses


async def bulk(engine: AsyncEngine, clock: FakeClock, chats: list[str], *, kind: str = "announcement",
               priority: Priority = Priority.BULK) -> None:
    now = clock.now()
    rows: list[dict[str, Any]] = [{
        "channel": "telegram", "chat_id": chat, "user_id": None, "kind": kind, "priority": priority,
        **outbox.stored(Reply.of(f"{kind} {i}")), "status": OutboxStatus.PENDING, "attempts": 0,
        "next_attempt_at": now, "dedupe_key": None, "announcement_id": None, "created_at": now,
    } for i, chat in enumerate(chats)]
    async with create_session_maker(engine)() as s:
        await repos.bulk_insert(s, model=OutboxMessage, rows=rows)
        await s.commit()


async def wait_until(sender: FakeSender, chat: str) -> None:
    while chat not in (c for _, c in sender.delivered):
        await sender.wait_for(len(sender.delivered) + 1)


async def test_a_status_change_queued_during_a_big_broadcast_goes_in_the_next_claim(engine, clock) -> None:
    await bulk(engine, clock, [str(500_000 + i) for i in range(10_000)])
    (person,) = await make_users(engine, clock, 1)
    sender = FakeSender(clock)
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock, rate=25)
    task = asyncio.create_task(worker.deliver_due(drain=True))
    await sender.wait_for(50)
    async with create_session_maker(engine)() as s:
        await outbox.enqueue(s, clock=clock, user=person, kind="need_status", reply=Reply.of("Đã duyệt"))
        await s.commit()
    before, queued_at = len(sender.delivered), clock.monotonic()
    await wait_until(sender, person.external_id)
    await worker.stop()
    await task
    chats = [c for _, c in sender.delivered]
    at = chats.index(person.external_id)
    # Ahead of 9,950 announcement rows: only the sends of the claim already under way came before it.
    assert at - before <= 3
    assert sender.delivered[at][0] - queued_at < 0.5
    assert (await statuses(engine))[OutboxStatus.PENDING] > 9_000


async def test_one_chat_with_many_rows_due_never_slows_the_others(engine, clock) -> None:
    await bulk(engine, clock, ["7"] * 8)  # one chat's eight rows first in the queue
    others = [str(600_000 + i) for i in range(50)]
    await bulk(engine, clock, others)
    sender = FakeSender(clock)
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock, rate=25)
    start = clock.monotonic()
    assert await worker.deliver_due(drain=True) == 58
    times = {chat: t - start for t, chat in sender.delivered if chat != "7"}
    assert set(times) == set(others)
    assert max(times.values()) <= 3.0  # 50 + a few at 25/s, not one a second
    own = [t for t, chat in sender.delivered if chat == "7"]
    assert len(own) == 8 and all(b - a >= 1.0 for a, b in itertools.pairwise(own))


async def test_per_chat_order_is_kept_by_priority_then_queue_order(engine, clock) -> None:
    (person,) = await make_users(engine, clock, 1)
    chat = person.external_id
    await bulk(engine, clock, [chat], kind="announcement")
    await bulk(engine, clock, [chat], kind="reminder", priority=Priority.REMINDER)
    await bulk(engine, clock, [chat, chat], kind="reply", priority=Priority.REPLY)
    seen: list[str] = []

    class Recording(FakeSender):
        async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
            seen.append(text)
            await super().send(chat_id, text, payload)

    await OutboxWorker(create_session_maker(engine), {"telegram": Recording(clock)}, clock).deliver_due(drain=True)
    # The second reply waits for the first to be recorded (a reminder may slip in between), never before it.
    assert seen[0] == "reply 0" and seen[-1] == "announcement 0"
    assert sorted(seen) == ["announcement 0", "reminder 0", "reply 0", "reply 1"]


def test_refill_keeps_what_a_busy_lane_earned_during_a_slow_cycle() -> None:
    rate, capacity = 25.0, 2.5
    for cycle in (0.05, 0.1, 0.15, 0.2, CARRY):
        tokens, sent, elapsed = 0.0, 0, 0.0
        while elapsed < 100:
            elapsed += cycle
            tokens = refill(tokens, cycle, rate, capacity)
            take = int(tokens)
            tokens = min(capacity, tokens - take)
            sent += take
        assert sent / elapsed >= 0.97 * rate, cycle
    assert refill(capacity, 60, rate, capacity) == capacity  # a quiet lane: the cap bounds the burst
    assert refill(0.5, 60, rate, capacity) == 0.5 + CARRY * rate  # drained, then quiet: CARRY at most


class SlowClaims(OutboxWorker):
    """A loaded machine: every claim takes 0.15 s (more than the bucket's 0.1 s of refill)."""

    async def _claim(self, slots: int) -> tuple[list[OutboxMessage], float | None]:
        self.clock.advance(0.15)  # type: ignore[attr-defined]
        return await super()._claim(slots)


async def test_slow_claim_cycles_still_reach_the_configured_rate(engine, clock) -> None:
    await bulk(engine, clock, [str(700_000 + i) for i in range(500)])
    sender = FakeSender(clock)
    # Slots to spare: on the fake clock the sends' own writes look slow next to the 0.15 s claims.
    worker = SlowClaims(create_session_maker(engine), {"telegram": sender}, clock, rate=25, concurrency=64)
    assert await worker.deliver_due(drain=True) == 500
    span = sender.delivered[-1][0] - sender.delivered[0][0]
    assert 499 / span >= 0.97 * 25
    times = [t for t, _ in sender.delivered]
    assert max(sum(1 for t in times if w <= t < w + 1) for w in times) <= 25 + 2.5 + 1


async def test_a_busy_database_while_recording_a_send_is_waited_out(engine, clock, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    from bot.services import usage

    (person,) = await make_users(engine, clock, 1)
    await bulk(engine, clock, [person.external_id], kind="need_status", priority=Priority.NOTICE)
    record, calls = usage.record, []

    async def busy_once(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE channel_usage", {}, Exception("database is locked"))
        await record(*args, **kwargs)

    monkeypatch.setattr(usage, "record", busy_once)
    sender = FakeSender(clock)
    await OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock).deliver_due(drain=True)
    assert len(sender.delivered) == 1 and len(calls) == 2
    assert await statuses(engine) == {OutboxStatus.SENT: 1}  # recorded, not left `sending`
