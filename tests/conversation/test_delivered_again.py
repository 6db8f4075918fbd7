"""An update delivered more than once (a webhook POST that got no answer, tried again on another process) is
handled once across every process sharing the database; the replies of a turn its process committed but may
not have sent are handed to the outbox instead of being lost. The scheduler's leader forgets the marks after a
day, and the flood buckets once they are full again."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram.types import Update
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot import scheduler
from bot.app import create_app
from bot.channels.text import TextRenderer
from bot.clock import FakeClock
from bot.conversation import pipeline as pipeline_module
from bot.conversation.events import CommandEvent, Event, Who
from bot.conversation.pipeline import Flows, Pipeline, Turn
from bot.services.outbox import REPLY_KIND
from bot.services.throttle import DatabaseThrottle, Verdict
from storage.db import create_session_maker
from storage.models import OutboxMessage, SeenUpdate, ThrottleBucket
from tests.conftest import ChatHarness, Person, make_settings
from tests.conversation.test_pipeline import texts

LAN = Who("zalo", "a1b2c3d4", "Lan", "vi")


def noting_flows(noted: list[str]) -> Flows:
    """`/note X` remembers X (here: in a list both "processes" share) and says so."""
    flows = Flows()

    @flows.command("note")
    async def note(turn: Turn, action: CommandEvent) -> None:
        noted.append(action.args)
        turn.say(f"noted {action.args}")

    return flows


async def outbox_texts(engine: AsyncEngine) -> list[str]:
    async with create_session_maker(engine)() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == REPLY_KIND)
                                   .order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    return [row.text for row in rows]


async def test_an_update_delivered_again_to_another_process_is_handled_once_and_still_answered(
        engine: AsyncEngine, clock: FakeClock) -> None:
    noted: list[str] = []
    first = Pipeline(create_app(make_settings(), engine, clock=clock), noting_flows(noted))
    second = Pipeline(create_app(make_settings(), engine, clock=clock), noting_flows(noted))
    note_a = Event(LAN, CommandEvent("note", "A"))
    # The first process handles and commits it, then dies before its replies leave (they are never sent).
    assert texts(await first.handle(note_a, TextRenderer(), update_id="m1")) == ["noted A"]
    # Delivered again to the second: not handled twice, and the reply goes out through the outbox.
    assert await second.handle(note_a, TextRenderer(), update_id="m1") == []
    assert noted == ["A"] and await outbox_texts(engine) == ["noted A"]
    # A third delivery: still once, and the reply is not queued twice.
    assert await first.handle(note_a, TextRenderer(), update_id="m1") == []
    assert noted == ["A"] and await outbox_texts(engine) == ["noted A"]
    # Other updates are handled: the next one, and the same id on another channel.
    ba = Who("zalo", "b0b0b0", "Ba", "vi")  # (Lan's next replies would queue behind hers in the outbox)
    note_b = Event(ba, CommandEvent("note", "B"))
    assert texts(await second.handle(note_b, TextRenderer(), update_id="m2")) == ["noted B"]
    await second.answered(ba, "m2")  # its replies were sent: a delivery again (a lost 200) sends nothing more
    await second.flush_answered()  # (forgotten within a second, together with other updates answered meanwhile)
    assert await first.handle(note_b, TextRenderer(), update_id="m2") == []
    assert await outbox_texts(engine) == ["noted A"]
    assert texts(await first.handle(Event(LAN, CommandEvent("note", "D")), TextRenderer(), update_id="m3")) == []
    assert await outbox_texts(engine) == ["noted A", "noted D"]  # behind the reply sent again, in order
    await first.handle(Event(Who("telegram", "42", "Ba", "vi"), CommandEvent("note", "C")), TextRenderer(),
                       update_id="m1")
    assert noted == ["A", "B", "D", "C"]


async def kept_replies(engine: AsyncEngine) -> dict[str, bool]:
    async with create_session_maker(engine)() as session:
        return {row.update_id: bool(row.replies) for row in (await session.exec(select(SeenUpdate))).all()}


async def test_answered_updates_are_forgotten_together_within_a_second_or_a_full_batch(
        engine: AsyncEngine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Pipeline(create_app(make_settings(), engine, clock=clock), noting_flows([]))
    people = [Who("zalo", f"p{n}", "Ba", "vi") for n in range(4)]
    for n, who in enumerate(people):
        assert texts(await pipeline.handle(Event(who, CommandEvent("note", str(n))), TextRenderer(),
                                           update_id=f"u{n}")) == [f"noted {n}"]
    await pipeline.answered(people[0], "u0")
    await pipeline.answered(people[1], "u1")
    # Not yet written: the two are forgotten together, when the second is up (or the batch full).
    assert await kept_replies(engine) == {"u0": True, "u1": True, "u2": True, "u3": True}
    await pipeline.flush_answered()
    assert await kept_replies(engine) == {"u0": False, "u1": False, "u2": True, "u3": True}
    # A delivery again of an answered update sends nothing; of one not answered, its replies (outbox).
    assert await pipeline.handle(Event(people[1], CommandEvent("note", "1")), TextRenderer(), update_id="u1") == []
    assert await pipeline.handle(Event(people[2], CommandEvent("note", "2")), TextRenderer(), update_id="u2") == []
    assert await outbox_texts(engine) == ["noted 2"]

    monkeypatch.setattr(pipeline_module, "ANSWERED_BATCH", 2)
    await pipeline.answered(people[3], "u3")
    assert (await kept_replies(engine))["u3"] is True
    await pipeline.answered(people[0], "u0")  # the batch is full: written at once
    assert (await kept_replies(engine))["u3"] is False

    monkeypatch.setattr(pipeline_module, "ANSWERED_FLUSH_S", 0)
    assert texts(await pipeline.handle(Event(people[0], CommandEvent("note", "5")), TextRenderer(),
                                       update_id="u5")) == ["noted 5"]
    written = asyncio.Event()
    flush = pipeline.flush_answered

    async def flush_and_tell() -> None:
        await flush()
        written.set()

    monkeypatch.setattr(pipeline, "flush_answered", flush_and_tell)
    await pipeline.answered(people[0], "u5")  # alone: written when its time is up (at once here)
    await asyncio.wait_for(written.wait(), timeout=10)
    assert (await kept_replies(engine))["u5"] is False

    # A process stopping within the second writes what it answered on its way out.
    monkeypatch.setattr(pipeline_module, "ANSWERED_FLUSH_S", 3600)
    assert texts(await pipeline.handle(Event(people[1], CommandEvent("note", "6")), TextRenderer(),
                                       update_id="u6")) == ["noted 6"]
    await pipeline.answered(people[1], "u6")
    await pipeline.close()
    assert (await kept_replies(engine))["u6"] is False


async def test_a_failed_turn_is_not_marked_and_is_handled_when_delivered_again(engine: AsyncEngine,
                                                                               clock: FakeClock) -> None:
    attempts: list[str] = []
    flows = Flows()

    @flows.command("flaky")
    async def flaky(turn: Turn, action: CommandEvent) -> None:
        attempts.append("try")
        if len(attempts) == 1:
            raise RuntimeError("the first attempt fails")
        turn.say("done")

    pipeline = Pipeline(create_app(make_settings(), engine, clock=clock), flows)
    event = Event(LAN, CommandEvent("flaky"))
    assert "Xin lỗi" in texts(await pipeline.handle(event, TextRenderer(), update_id="m9"))[0]
    assert texts(await pipeline.handle(event, TextRenderer(), update_id="m9")) == ["done"]
    assert await pipeline.handle(event, TextRenderer(), update_id="m9") == []
    assert attempts == ["try", "try"]


async def test_a_telegram_update_fed_twice_is_answered_once(chat: ChatHarness) -> None:
    lan = Person(7301, language_code="vi")
    update = chat._message(lan, text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}])
    update["update_id"] = 987_654_321
    sent: list[Any] = []
    for _ in range(2):
        before = len(chat.api.calls)
        await chat.dp.feed_update(chat.bot, Update.model_validate(update, context={"bot": chat.bot}))
        sent.append([c for c in chat.api.calls[before:] if c.method == "SendMessage"])
    assert sent[0] and sent[1] == []


async def count(engine: AsyncEngine, model: Any) -> int:
    async with create_session_maker(engine)() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_housekeeping_forgets_full_flood_buckets_and_day_old_updates_on_the_leader_only(
        engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(throttle_rate=3.0, throttle_burst=6), engine, clock=clock)
    throttle = DatabaseThrottle(app.session_maker, clock, 3.0, 6)
    await throttle.check("telegram:1")
    clock.advance(30)
    await throttle.check("zalo:2")
    await Pipeline(app, noting_flows([])).handle(Event(LAN, CommandEvent("note", "A")), TextRenderer(), update_id="u1")
    clock.advance(40)  # the first bucket is full again (6 / 3 s, and a minute more); the second may not be
    not_leading: Any = SimpleNamespace(is_leader=False)
    standby = scheduler.register("housekeeping-test", app, None, leader=not_leading)
    try:
        await scheduler.housekeeping_tick("housekeeping-test")
        assert await count(engine, ThrottleBucket) == 2  # another process leads: nothing done here
        standby.leader = None  # this process leads
        await scheduler.housekeeping_tick("housekeeping-test")
        async with app.session_maker() as session:
            assert [b.key for b in (await session.exec(select(ThrottleBucket))).all()] == ["zalo:2"]
        assert await count(engine, SeenUpdate) == 1  # handled a minute ago: kept
        assert await throttle.check("telegram:1") == Verdict.PASS  # a new bucket, full: the same verdict
        clock.advance(days=1)
        assert await scheduler.prune(app) == (1, 2)
        assert await count(engine, SeenUpdate) == 0 and await count(engine, ThrottleBucket) == 0
    finally:
        scheduler.unregister("housekeeping-test")
