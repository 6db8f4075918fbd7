"""Delivery unknown: a send that may have left (timeout, dropped connection) is never resent and is
counted apart from failures; only errors that prove nothing left are retried."""

from collections import Counter

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
    assert "Failed: 1" in text and "Delivery unknown (not resent, to avoid a second copy): 2" in text
