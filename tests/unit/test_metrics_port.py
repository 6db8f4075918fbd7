"""A `run` or `deliver` process serves its own figures at METRICS_PORT (the console serves them at /metrics)."""

import asyncio
import socket
import urllib.request

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import metrics
from bot.clock import FakeClock
from storage.db import create_session_maker
from tests.conftest import make_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_no_port_no_server(sqlite_engine: AsyncEngine, clock: FakeClock) -> None:
    assert metrics.expose(make_settings(), create_session_maker(sqlite_engine), clock) is None


async def test_a_process_serves_its_sends_and_the_outbox_depth(sqlite_engine: AsyncEngine, clock: FakeClock) -> None:
    port = free_port()
    metrics.outbox_send("telegram", "pending", None)  # a 429
    maker = create_session_maker(sqlite_engine)
    server = metrics.expose(make_settings(metrics_port=port), maker, clock)
    tasks = list(metrics._refreshing)
    assert len(tasks) == 1  # the database's figures are kept fresh; stopped here, refreshed by hand below
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    try:
        assert await metrics.refresh(maker)
        url = f"http://127.0.0.1:{port}/metrics"
        body = (await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())).decode()
    finally:
        server.shutdown()
    assert 'kc_outbox_sends_total{channel="telegram",outcome="retry_429"}' in body
    assert "kc_database_up 1.0" in body
