"""One scheduler leader among the processes sharing a database (bot/leader.py): the first to take the advisory
lock leads, the others stand by; when the leader stops or its connection dies, another takes over at its next
try; only the leader's ticks run; /healthz says who leads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import health, metrics, scheduler
from bot.app import create_app
from bot.clock import FakeClock
from bot.leader import Leadership
from tests.conftest import make_settings


async def test_one_leads_another_takes_over_when_it_stops(pg_engine: AsyncEngine) -> None:
    first, second = Leadership(pg_engine), Leadership(pg_engine)
    try:
        assert await first.try_once() and not await second.try_once()
        assert await first.try_once() and not await second.try_once()  # checking again changes nothing
        await first.stop()
        assert await second.try_once() and not await first.try_once()
    finally:
        await first.stop()
        await second.stop()


async def test_a_leader_whose_connection_dies_is_replaced(pg_engine: AsyncEngine) -> None:
    """kill -9 of the leader's process closes its connection: terminating the backend does the same."""
    first, second = Leadership(pg_engine), Leadership(pg_engine)
    try:
        assert await first.try_once()
        assert first._conn is not None
        pid = (await first._conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        await first._conn.commit()
        async with pg_engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert await second.try_once()
        assert not await first.try_once()  # it finds its connection gone, and the lead taken
    finally:
        await first.stop()
        await second.stop()


async def test_on_sqlite_the_one_process_always_leads(sqlite_engine: AsyncEngine) -> None:
    leader = Leadership(sqlite_engine)
    assert leader.is_leader and await leader.try_once()


@dataclass
class Standby:
    is_leader: bool = False


@dataclass
class Running:
    running: bool = True


async def test_ticks_run_only_where_the_lead_is_and_healthz_says_where(pg_engine: AsyncEngine,
                                                                         clock: FakeClock) -> None:
    app = create_app(make_settings(), pg_engine, clock=clock)
    standby = Standby()
    scheduler.register("standby-test", app, None, standby)  # type: ignore[arg-type]
    ticks = metrics.SCHEDULER_TICKS.labels("broadcasts")
    before = ticks._value.get()
    try:
        await scheduler.broadcasts_tick("standby-test")
        assert ticks._value.get() == before  # not leading: the tick is another process's
        standby.is_leader = True
        await scheduler.broadcasts_tick("standby-test")
        assert ticks._value.get() == before + 1
    finally:
        scheduler.unregister("standby-test")
    leader = Leadership(pg_engine)
    try:
        _status, body = await health.check(app, scheduler=Running(), leader=Standby())
        assert body["scheduler_leader"] == "none"  # nobody holds the lock yet
        assert await leader.try_once()
        _status, body = await health.check(app, scheduler=Running(), leader=Standby())
        assert body["scheduler_leader"] == "another process"
        _status, body = await health.check(app, scheduler=Running(), leader=leader)
        assert body["scheduler_leader"] == "this process"
    finally:
        await leader.stop()
