"""Delivery unknown: a send that may have left (timeout, dropped connection) is never resent and is
counted apart from failures; only errors that prove nothing left are retried."""

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlmodel import select

from bot.channels.base import DeliveryUnknown, TransientError
from bot.services.outbox import OutboxWorker
from storage.db import create_session_maker
from storage.models import OutboxMessage
from tests.delivery.test_outbox import FakeSender, make_users, queue_for, statuses


async def test_a_timeout_is_delivery_unknown_and_never_resent(engine, clock) -> None:
    users = await make_users(engine, clock, 3)
    await queue_for(engine, clock, users)
    slow, dropped, fine = (u.external_id for u in users)
    sender = FakeSender(clock, failures={slow: [TimeoutError()], dropped: [DeliveryUnknown("Server disconnected")]})
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock)
    await worker.deliver_due(drain=True)
    clock.advance(3600)
    await worker.deliver_due(drain=True)  # an hour later: still nothing resent
    assert Counter(sender.tried) == Counter({slow: 1, dropped: 1, fine: 1})
    assert await statuses(engine) == Counter({"unknown": 2, "sent": 1})
    assert (worker.stats["unknown"], worker.stats["failed"], worker.stats["sent"]) == (2, 0, 1)
    async with create_session_maker(engine)() as s:
        errors = {r.chat_id: r.last_error for r in (await s.exec(select(OutboxMessage))).all()}
    assert errors[slow] == "TimeoutError" and errors[dropped] == "Server disconnected"


async def test_errors_proving_nothing_left_are_retried(engine, clock) -> None:
    users = await make_users(engine, clock, 2)
    await queue_for(engine, clock, users)
    a, b = (u.external_id for u in users)
    sender = FakeSender(clock, failures={a: [ConnectionRefusedError(), TransientError("Bad Gateway")]})
    worker = OutboxWorker(create_session_maker(engine), {"telegram": sender}, clock)
    await worker.deliver_due(drain=True)
    assert Counter(sender.tried) == Counter({a: 3, b: 1})
    assert Counter(c for _, c in sender.delivered) == Counter({a: 1, b: 1})
    assert await statuses(engine) == Counter({"sent": 2})


def test_the_report_counts_unknown_apart_from_failed() -> None:
    from bot.domain import AnnouncementStatus, OutboxStatus
    from bot.services.announcements import progress_text
    from storage.models import Announcement

    ann = Announcement(kind="general", title="Hội chợ", body="x", status=AnnouncementStatus.SENT)
    counts = {s.value: 0 for s in OutboxStatus} | {"sent": 7, "failed": 1, "unknown": 2, "total": 10}
    text = progress_text(ann, counts, 25, lambda m: m)
    assert text.startswith("⚠️ Finished “Hội chợ”, but not every message is known to have arrived.")
    assert "Failed: 1" in text and "Delivery unknown (not resent, to avoid a second copy): 2" in text


class StuckSender:
    """Every call hangs (a very slow API) until the process dies."""

    channel = "telegram"

    def __init__(self) -> None:
        self.tried: list[str] = []
        self.calls = asyncio.Event()

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        self.tried.append(chat_id)
        self.calls.set()
        await asyncio.Event().wait()


async def test_rows_waiting_for_a_send_slot_at_a_kill_are_pending_and_sent_once_after_restart(engine, clock) -> None:
    users = await make_users(engine, clock, 10)
    await queue_for(engine, clock, users)
    maker = create_session_maker(engine)
    stuck = StuckSender()
    # Rate 30: the bucket allows 3 at once, but only 2 calls may be in flight.
    first = OutboxWorker(maker, {"telegram": stuck}, clock, rate=30, concurrency=2)
    task = asyncio.create_task(first.deliver_due(drain=True))
    while len(stuck.tried) < 2:
        stuck.calls.clear()
        await stuck.calls.wait()
    task.cancel()  # kill -9 while two calls hang
    with pytest.raises(asyncio.CancelledError):
        await task
    # Only the rows whose API call had started may have left; the rest simply wait again.
    assert await statuses(engine) == Counter({"sending": 2, "pending": 8})
    sender = FakeSender(clock)
    second = OutboxWorker(maker, {"telegram": sender}, clock, rate=30, concurrency=2)
    await second.deliver_due(drain=True)
    clock.advance(second.stale_after.total_seconds() + 1)
    assert await second.recover_interrupted() == 2
    assert await statuses(engine) == Counter({"sent": 8, "unknown": 2})
    assert not set(stuck.tried) & set(sender.tried)  # the two that may have left are never resent
    assert Counter(sender.tried) == Counter({u.external_id: 1 for u in users if u.external_id not in stuck.tried})
