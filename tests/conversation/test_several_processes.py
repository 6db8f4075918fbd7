"""Two pipelines on one PostgreSQL database, as two processes would be: one person's events wait for each other
(the person's advisory lock), and a conversation saved from a stale read is handled again instead of
overwriting what the other writer saved."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.text import TextRenderer
from bot.clock import FakeClock
from bot.conversation.events import CommandEvent, Event, TextEvent, Who
from bot.conversation.pipeline import Flows, Pipeline, Turn
from storage import repos
from storage.db import create_engine
from storage.models import Conversation, User
from tests.conftest import make_settings
from tests.conversation.test_pipeline import demo_flows, texts

LAN = Who("zalo", "a1b2c3d4", "Lan", "vi")


async def waiting_for_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return bool((await conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))).scalar())


async def test_one_persons_events_wait_for_each_other_across_processes(pg_engine: AsyncEngine,
                                                                       clock: FakeClock) -> None:
    log: list[str] = []
    gate, entered = asyncio.Event(), asyncio.Event()
    # Two pipelines, each with its own in-process locks: only the database can order them.
    first = Pipeline(create_app(make_settings(), pg_engine, clock=clock), demo_flows(log, gate, entered))
    second = Pipeline(create_app(make_settings(), pg_engine, clock=clock), demo_flows(log, gate, entered))
    one = asyncio.create_task(first.handle(Event(LAN, CommandEvent("slow", "1")), TextRenderer()))
    await entered.wait()
    two = asyncio.create_task(second.handle(Event(LAN, CommandEvent("slow", "2")), TextRenderer()))
    async with asyncio.timeout(10):
        while not await waiting_for_a_lock(pg_engine):  # the second waits on the person's lock
            pass
    other = Who("zalo", "ffff0000", "Ba", "vi")  # someone else is not held up
    await Pipeline(create_app(make_settings(), pg_engine, clock=clock),
                   demo_flows(log, gate, entered)).handle(Event(other, CommandEvent("slow", "3")), TextRenderer())
    gate.set()
    await asyncio.gather(one, two)
    assert log == ["start 1", "start 3", "end 3", "end 1", "start 2", "end 2"]


def answering_flows(meanwhile: list[str]) -> Flows:
    """`/answer X` adds X to the open form's answers; the first time, another writer saves an answer of its own
    between this unit of work's read and its save (what a second process would do)."""
    flows = Flows()
    flows.always.add("answer")

    @flows.command("answer")
    async def answer(turn: Turn, action: CommandEvent) -> None:
        conv = turn.conversation
        assert conv is not None and turn.user is not None
        if meanwhile:
            async with turn.app.session_maker() as other:
                theirs = await other.get(Conversation, conv.user_id)
                assert theirs is not None
                theirs.data = {"answers": [*theirs.data.get("answers", []), meanwhile.pop()]}
                other.add(theirs)
                await other.commit()
        data = {"answers": [*conv.data.get("answers", []), action.args]}
        await repos.save_conversation(turn.session, user_id=conv.user_id, form=conv.form, step=conv.step, data=data,
                                      history=conv.history, context=conv.context, now=turn.app.clock.now())
        turn.say(", ".join(data["answers"]))

    return flows


async def test_a_save_from_a_stale_read_is_handled_again_and_no_answer_is_lost(pg_engine: AsyncEngine,
                                                                               clock: FakeClock) -> None:
    app = create_app(make_settings(), pg_engine, clock=clock)
    async with app.session_maker() as session:
        user = User(channel="zalo", external_id=LAN.external_id, created_at=clock.now(), updated_at=clock.now())
        session.add(user)
        await session.flush()
        session.add(Conversation(user_id=user.id, form="survey", step="q", data={"answers": []},
                                 updated_at=clock.now()))
        await session.commit()
        user_id = user.id
    meanwhile = ["B"]
    shown = await Pipeline(app, answering_flows(meanwhile)).handle(Event(LAN, CommandEvent("answer", "A")),
                                                                  TextRenderer())
    assert texts(shown) == ["B, A"] and meanwhile == []
    async with app.session_maker() as session:
        saved = await session.get(Conversation, user_id)
        assert saved is not None and saved.data == {"answers": ["B", "A"]} and saved.version == 3


async def test_a_stale_save_leaves_the_newer_row_alone(engine: AsyncEngine, clock: FakeClock) -> None:
    """The version check itself, on both databases: a save from a stale read raises, nothing is overwritten."""
    from sqlalchemy.orm.exc import StaleDataError

    app = create_app(make_settings(), engine, clock=clock)
    async with app.session_maker() as session:
        user = User(channel="zalo", external_id="c0ffee", created_at=clock.now(), updated_at=clock.now())
        session.add(user)
        await session.flush()
        session.add(Conversation(user_id=user.id, form="survey", data={"n": 1}, updated_at=clock.now()))
        await session.commit()
        user_id = user.id
    async with app.session_maker() as first:
        stale = await first.get(Conversation, user_id)
        assert stale is not None and stale.version == 1
        await first.commit()  # the read is over; the object keeps version 1
        async with app.session_maker() as second:
            newer = await second.get(Conversation, user_id)
            newer.data = {"n": 2}  # type: ignore[union-attr]
            await second.commit()
        stale.data = {"n": 3}
        first.add(stale)
        with pytest.raises(StaleDataError):
            await first.commit()
        await first.rollback()
    async with app.session_maker() as session:
        kept = await session.get(Conversation, user_id)
        assert kept is not None and kept.data == {"n": 2} and kept.version == 2


async def test_a_database_restart_costs_no_answer(pg_engine: AsyncEngine, clock: FakeClock) -> None:
    """The pool's connections die with the server (terminated here, as a restart does): the next event meets a
    dead connection and is handled once more on a new one; the person gets their answer, not an apology."""
    app = create_app(make_settings(), pg_engine, clock=clock)
    pipeline = Pipeline(app, demo_flows())
    assert texts(await pipeline.handle(Event(LAN, CommandEvent("start")), TextRenderer()))[0].startswith("Chọn ngành")
    async with pg_engine.connect() as conn:  # the connection the pool keeps (one: events came one at a time)
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
    admin = create_engine(pg_engine.url.render_as_string(hide_password=False))  # from outside the bot's pool
    try:
        async with admin.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar()
    finally:
        await admin.dispose()
    assert texts(await pipeline.handle(Event(LAN, TextEvent("2")), TextRenderer())) == ["Đã chọn: mech"]
