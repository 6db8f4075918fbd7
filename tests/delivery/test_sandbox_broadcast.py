"""Broadcasts through the sandbox server's fault switches with the real aiogram Bot over HTTP and the real
Telegram sender: every person gets exactly one copy or is counted "unknown" (never two), nothing ends
"failed" after a 45 s outage, and the broadcast always reaches its final report."""

import asyncio
from collections import Counter

from sqlmodel import select

from bot.app import create_app
from bot.channels.telegram import TelegramSender
from bot.clock import FakeClock
from bot.services import announcements
from bot.services.outbox import OutboxWorker
from storage.models import Announcement, OutboxMessage, User
from tests.conftest import make_settings
from tests.delivery.conftest import sandbox_bot

TITLE = "Hội chợ hàng công nghiệp nông thôn 2026"


class OutageClock(FakeClock):
    """A fake clock that ends the sandbox's outage (every send answered 502) once `ends_at` has passed."""

    def __init__(self, start, sandbox, outage_s: float) -> None:
        super().__init__(start)
        self.sandbox, self.ends_at = sandbox, self.monotonic() + outage_s
        sandbox.faults.update({"p_5xx": 1.0})

    def advance(self, seconds: float = 0, **kwargs: float) -> None:
        super().advance(seconds, **kwargs)
        if self.monotonic() >= self.ends_at:
            self.sandbox.faults.update({"p_5xx": 0.0})


async def start_broadcast(app, sandbox, n: int) -> int:
    now = app.clock.now()
    async with app.session_maker() as s:
        users = [User(channel="telegram", external_id=str(30_000 + i), role="user", locale="vi",
                      created_at=now, updated_at=now) for i in range(n)]
        s.add_all(users)
        await s.flush()
        ann = await announcements.create(s, clock=app.clock, author=users[0], data={
            "kind": "general", "title": TITLE, "body": "Trung tâm hỗ trợ gian hàng miễn phí."})
        await announcements.start(s, clock=app.clock, ann_id=ann.id or 0, translate=app.translate,
                                  default_locale="vi")
        await s.commit()
    for u in users:
        sandbox.user(int(u.external_id))
    return ann.id or 0


async def finish(app, ann_id: int) -> tuple[Announcement, dict[str, int], dict[str, str]]:
    async with app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
        await announcements.finish_if_done(s, clock=app.clock, tz=app.tz, ann=ann)
        await s.commit()
        counts = await announcements.figures(s, ann_id=ann_id)
        rows = {r.chat_id: r.status for r in (await s.exec(select(OutboxMessage))).all()}
    return ann, counts, rows


def copies(sandbox, chat_ids) -> Counter:
    return Counter({c: sum(1 for m in sandbox.bot_messages(int(c)) if TITLE in (m.get("text") or ""))
                    for c in chat_ids})


def one_copy_or_unknown(rows: dict[str, str], got: Counter) -> None:
    for chat_id, status in rows.items():
        assert got[chat_id] <= 1, f"{chat_id} got {got[chat_id]} copies"
        assert status in ("sent", "unknown"), (chat_id, status)
        if status == "sent":
            assert got[chat_id] == 1


async def test_a_45_s_outage_with_drops_reaches_everyone_once(engine, sandbox) -> None:
    clock = OutageClock(FakeClock().now(), sandbox, 45)
    app = create_app(make_settings(), engine, clock=clock)
    ann_id = await start_broadcast(app, sandbox, 60)
    bot = sandbox_bot(sandbox.base_url)
    worker = OutboxWorker(app.session_maker, {"telegram": TelegramSender(bot)}, clock, rate=25)
    try:
        await worker.deliver_due(drain=True)
        sandbox.faults.update({"next_drop": 2})  # and two connections dropped mid-answer afterwards
        async with app.session_maker() as s:
            for chat_id in ("40000", "40001"):
                user = User(channel="telegram", external_id=chat_id, role="user", locale="vi",
                            created_at=clock.now(), updated_at=clock.now())
                s.add(user)
                await s.flush()
                s.add(OutboxMessage(channel="telegram", chat_id=chat_id, user_id=user.id, kind="announcement",
                                    text=TITLE, payload={}, status="pending", next_attempt_at=clock.now(),
                                    announcement_id=ann_id, created_at=clock.now()))
                sandbox.user(int(chat_id))
            await s.commit()
        await worker.deliver_due(drain=True)
    finally:
        await bot.session.close()
    ann, counts, rows = await finish(app, ann_id)
    assert ann.status == "sent"  # the final report
    assert (counts["sent"], counts["unknown"], counts["failed"], counts["pending"]) == (60, 2, 0, 0)
    one_copy_or_unknown(rows, copies(sandbox, rows))
    assert sandbox.stats["5xx"] < 40  # paused while down: probes, not every row's tries


async def test_kill_with_a_slow_api_then_restart(engine, sandbox) -> None:
    clock = FakeClock()
    app = create_app(make_settings(), engine, clock=clock)
    ann_id = await start_broadcast(app, sandbox, 40)
    sandbox.faults.update({"latency_ms": 300})  # slow, yet under the client's timeout
    bot = sandbox_bot(sandbox.base_url)
    first = OutboxWorker(app.session_maker, {"telegram": TelegramSender(bot)}, clock, rate=25, concurrency=8)
    task = asyncio.create_task(first.deliver_due(drain=True))
    await sandbox.wait_for(30_000, timeout=10)  # the first message arrived: others are in flight
    task.cancel()  # kill -9
    await asyncio.gather(task, return_exceptions=True)
    await bot.session.close()
    async with app.session_maker() as s:
        in_flight = sum(1 for r in (await s.exec(select(OutboxMessage))).all() if r.status == "sending")
    assert 0 < in_flight <= 8  # only calls that had started, never rows waiting for a slot
    sandbox.faults.update({"latency_ms": 0})
    bot = sandbox_bot(sandbox.base_url)
    second = OutboxWorker(app.session_maker, {"telegram": TelegramSender(bot)}, clock, rate=25)
    try:
        await second.deliver_due(drain=True)
    finally:
        await bot.session.close()
    clock.advance(second.stale_after.total_seconds() + 1)
    assert await second.recover_interrupted() == in_flight
    ann, counts, rows = await finish(app, ann_id)
    assert ann.status == "sent" and counts["unknown"] == in_flight and counts["sent"] == 40 - in_flight
    one_copy_or_unknown(rows, copies(sandbox, rows))
