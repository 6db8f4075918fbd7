"""Stopping the process (SIGTERM, Ctrl-C) while a tick is under way: the tick finishes, nothing is logged as a
failed job (APScheduler's asyncio executor cancels running jobs on shutdown and logs each with its traceback)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.scheduler import stop_scheduler


async def test_a_tick_under_way_finishes_before_the_scheduler_stops(caplog: pytest.LogCaptureFixture) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def tick() -> None:
        started.set()
        await release.wait()  # a query in flight
        finished.append("tick")

    scheduler = AsyncIOScheduler()
    scheduler.add_job(tick, "interval", seconds=3600, next_run_time=datetime.now().astimezone())
    scheduler.start()
    await asyncio.wait_for(started.wait(), 30)
    with caplog.at_level(logging.ERROR, logger="apscheduler"):
        stopping = asyncio.create_task(stop_scheduler(scheduler))
        await asyncio.sleep(0)  # the stop has begun and waits for the tick
        assert not stopping.done()
        release.set()
        await asyncio.wait_for(stopping, 30)
    assert finished == ["tick"]
    assert not scheduler.running
    assert "raised an exception" not in caplog.text
