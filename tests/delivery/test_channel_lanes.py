"""Each channel has its own pace and its own troubles: Zalo's slow rate, 429s or outage never hold back
Telegram, and rows of a channel this process does not serve wait for a process that does."""

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.channels.base import RateLimited, TransientError
from bot.clock import FakeClock
from bot.conversation.replies import Reply
from bot.services.outbox import OutboxWorker, channel_down, enqueue
from storage.db import create_session_maker
from storage.models import OutboxMessage, SendBudget, User
from tests.delivery.test_outbox import FakeSender


class ZaloFake(FakeSender):
    channel = "zalo"


async def people(engine: AsyncEngine, clock: FakeClock, channel: str, n: int) -> list[User]:
    async with create_session_maker(engine)() as s:
        users = [User(channel=channel, external_id=f"{channel[:2]}{i:05d}", role="user", locale="vi",
                      created_at=clock.now(), updated_at=clock.now()) for i in range(n)]
        s.add_all(users)
        for u in users:
            await s.flush()
            await enqueue(s, clock=clock, user=u, kind="announcement", reply=Reply.of(f"xin chào {u.external_id}"))
        await s.commit()
        return users


async def by_channel(engine: AsyncEngine) -> Counter:
    async with create_session_maker(engine)() as s:
        return Counter((r.channel, r.status) for r in (await s.exec(select(OutboxMessage))).all())


async def test_each_channel_keeps_its_own_rate(engine, clock) -> None:
    await people(engine, clock, "telegram", 100)
    await people(engine, clock, "zalo", 20)
    telegram, zalo = FakeSender(clock), ZaloFake(clock)
    worker = OutboxWorker(create_session_maker(engine), {"telegram": telegram, "zalo": zalo}, clock,
                          rate=25, rates={"zalo": 4})
    start = clock.monotonic()
    assert await worker.deliver_due(drain=True) == 120
    tg_times = [t - start for t, _ in telegram.delivered]
    zalo_times = [t - start for t, _ in zalo.delivered]
    # Telegram at 25/s is not slowed down by Zalo's 4/s: done in about 4 s, Zalo's 20 in about 5 s.
    assert len(tg_times) == 100 and tg_times[-1] <= 4.5
    assert len(zalo_times) == 20 and 4.0 <= zalo_times[-1] <= 5.5
    assert max(sum(1 for t in zalo_times if w <= t < w + 1) for w in zalo_times) <= 6
    assert await by_channel(engine) == Counter({("telegram", "sent"): 100, ("zalo", "sent"): 20})
    async with create_session_maker(engine)() as s:
        assert {b.name for b in (await s.exec(select(SendBudget))).all()} == {"telegram", "zalo"}


async def test_a_429_flood_on_zalo_pauses_zalo_only(engine, clock) -> None:
    await people(engine, clock, "telegram", 30)
    zalo_people = await people(engine, clock, "zalo", 6)
    telegram = FakeSender(clock)
    zalo = ZaloFake(clock, failures={u.external_id: [RateLimited(30)] for u in zalo_people[:3]})
    worker = OutboxWorker(create_session_maker(engine), {"telegram": telegram, "zalo": zalo}, clock,
                          rate=25, rates={"zalo": 10})
    start = clock.monotonic()
    await worker.deliver_due(drain=True)
    assert len(telegram.delivered) == 30 and telegram.delivered[-1][0] - start < 2.0
    zalo_first = min(t for t, _ in zalo.delivered) - start
    assert zalo_first >= 30.0  # three 429s within a second paused Zalo's sends for the 30 s asked
    assert sorted(c for _, c in zalo.delivered) == sorted(u.external_id for u in zalo_people)
    assert await by_channel(engine) == Counter({("telegram", "sent"): 30, ("zalo", "sent"): 6})


async def test_zalo_down_is_zalo_down(engine, clock) -> None:
    zalo_people = await people(engine, clock, "zalo", 5)
    await people(engine, clock, "telegram", 10)
    zalo = ZaloFake(clock, failures={u.external_id: [TransientError("502 Bad Gateway")] * 2 for u in zalo_people})
    telegram = FakeSender(clock)
    worker = OutboxWorker(create_session_maker(engine), {"telegram": telegram, "zalo": zalo}, clock, rate=25)
    await worker.deliver_due(drain=False)
    assert len(telegram.delivered) == 10
    async with create_session_maker(engine)() as s:
        assert await channel_down(s, channel="zalo") and not await channel_down(s, channel="telegram")
        assert await channel_down(s)  # "any channel"
    await worker.deliver_due(drain=True)
    assert sorted(c for _, c in zalo.delivered) == sorted(u.external_id for u in zalo_people)
    async with create_session_maker(engine)() as s:
        assert not await channel_down(s)  # the first success cleared it


async def test_rows_of_a_channel_without_a_sender_wait_for_one(engine, clock) -> None:
    zalo_people = await people(engine, clock, "zalo", 3)
    await people(engine, clock, "telegram", 2)
    telegram = FakeSender(clock)
    assert await OutboxWorker(create_session_maker(engine), {"telegram": telegram}, clock).deliver_due(drain=True) == 2
    assert await by_channel(engine) == Counter({("telegram", "sent"): 2, ("zalo", "pending"): 3})
    zalo = ZaloFake(clock)  # the process that serves Zalo
    assert await OutboxWorker(create_session_maker(engine), {"zalo": zalo}, clock).deliver_due(drain=True) == 3
    assert sorted(c for _, c in zalo.delivered) == sorted(u.external_id for u in zalo_people)


class PartsZalo:
    """Zalo's side of sendMessage: the scripted calls answer 429 (no retry_after, nothing sent)."""

    channel = "zalo"

    def __init__(self, refuse_calls: set[int]) -> None:
        self.refuse_calls, self.calls = refuse_calls, 0
        self.received: list[str] = []

    async def send_message(self, chat_id: str, text: str) -> None:
        from bot.channels.zalo.client import ZaloRateLimited

        self.calls += 1
        if self.calls in self.refuse_calls:
            raise ZaloRateLimited("Too many requests (429)", 429)
        self.received.append(text)


async def test_a_long_text_stopped_by_a_429_after_its_first_part_resumes_from_the_second(engine, clock) -> None:
    """Zalo refuses part 2 of 2 with 429: part 1 has arrived, part 2 provably not — the row waits and then
    sends part 2 only (never part 1 twice, never "unknown"); both parts are counted, once."""
    from bot.channels.zalo.send import ZaloSender
    from bot.services import usage

    body = "Trung tâm hỗ trợ gian hàng miễn phí. " * 80  # about 3,000 characters: two parts on Zalo
    async with create_session_maker(engine)() as s:
        user = User(channel="zalo", external_id="ab01", role="user", locale="vi", created_at=clock.now(),
                    updated_at=clock.now())
        s.add(user)
        await s.flush()
        await enqueue(s, clock=clock, user=user, kind="announcement", reply=Reply.of("Hội chợ 2027", body))
        await s.commit()
    zalo = PartsZalo(refuse_calls={2})
    worker = OutboxWorker(create_session_maker(engine), {"zalo": ZaloSender(zalo)}, clock)  # type: ignore[arg-type]
    await worker.deliver_due(drain=True)
    assert zalo.calls == 3 and len(zalo.received) == 2
    assert zalo.received[0].startswith("Hội chợ 2027") and "".join(zalo.received).count("Trung tâm") == 80
    async with create_session_maker(engine)() as s:
        (row,) = (await s.exec(select(OutboxMessage))).all()
        assert (row.status, row.payload["parts_sent"], row.attempts) == ("sent", 1, 1)
        assert (await usage.of_month(s, channel="zalo", moment=clock.now(), quota=0)).sent == 2
