"""The operations endpoints: /healthz answers without sign-in (200 while the database answers, 503 when it does
not, nothing secret said) and /metrics shows what the pipeline handled, what the outbox sent and how deep it
is, as Prometheus reads it; METRICS_ENABLED=false takes /metrics away."""

from __future__ import annotations

import socket
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app as create_context
from bot.channels.base import RateLimited, Unreachable
from bot.channels.text import TextRenderer
from bot.clock import FakeClock
from bot.conversation.events import CommandEvent, Event, Who
from bot.conversation.pipeline import flatten
from bot.conversation.replies import Reply
from bot.services.outbox import OutboxWorker, enqueue
from bot.web.app import create_app
from storage.db import create_engine
from storage.models import Announcement, SendBudget, User
from tests.conftest import make_settings
from tests.web.conftest import Console

Sample = tuple[str, tuple[tuple[str, str], ...]]


async def scrape(client: httpx.AsyncClient) -> dict[Sample, float]:
    """/metrics as Prometheus reads it: {(sample name, labels): value}."""
    page = await client.get("/metrics")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page.text) for s in family.samples}


def gain(before: dict[Sample, float], after: dict[Sample, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


class ScriptedSender:
    """Sends at once; a chat's scripted failures are raised first, one per attempt."""

    channel = "telegram"

    def __init__(self, failures: dict[str, list[Exception]]) -> None:
        self.failures = failures
        self.sent: list[str] = []

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        if self.failures.get(chat_id):
            raise self.failures[chat_id].pop(0)
        self.sent.append(chat_id)


# --- /healthz ---


async def test_healthz_says_the_database_answers_without_sign_in(console: Console) -> None:
    page = await console.client.get("/healthz")
    assert page.status_code == 200
    body = page.json()
    # No scheduler here: PostgreSQL is asked whether another process leads (none does); SQLite cannot say.
    postgres = console.app.session_maker.kw["bind"].dialect.name == "postgresql"
    assert body.pop("scheduler_leader") == ("none" if postgres else "unknown")
    assert body == {"database": "ok", "channels": {"telegram": "configured", "zalo": "not configured"},
                    "scheduler": "not in this process"}
    assert "TEST-token" not in page.text  # make_settings' BOT_TOKEN


async def test_healthz_names_a_channel_the_senders_found_down(console: Console) -> None:
    async with console.app.session_maker() as session:
        session.add(SendBudget(name="telegram", tokens=0, refilled_at=console.clock.now(),
                               down_since=console.clock.now()))
        await session.commit()
    page = await console.client.get("/healthz")
    # A messenger's outage is waited out by the outbox: the process itself stays healthy.
    assert page.status_code == 200
    assert page.json()["channels"] == {"telegram": "down since 2026-03-02T02:00:00Z", "zalo": "not configured"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


async def test_healthz_is_503_when_the_database_does_not_answer(clock: FakeClock) -> None:
    engine = create_engine(f"postgresql+asyncpg://kc:very-secret-pw@127.0.0.1:{closed_port()}/kc")
    web = create_app(create_context(make_settings(), engine, clock=clock))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="https://console.test") as client:
            page = await client.get("/healthz")
    finally:
        await engine.dispose()
    assert page.status_code == 503
    assert page.json() == {"database": "error: connection refused",
                           "channels": {"telegram": "unknown", "zalo": "not configured"},
                           "scheduler": "not in this process", "scheduler_leader": "unknown"}
    for secret in ("very-secret-pw", "kc@", "127.0.0.1", "TEST-token"):
        assert secret not in page.text


async def test_healthz_on_an_unmigrated_sqlite_file_still_answers(tmp_path: Any, clock: FakeClock) -> None:
    """SELECT 1 works on an empty database: healthy, but the channels' state cannot be known."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    web = create_app(create_context(make_settings(), engine, clock=clock))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="https://console.test") as client:
            page = await client.get("/healthz")
    finally:
        await engine.dispose()
    assert page.status_code == 200
    assert page.json()["channels"] == {"telegram": "unknown", "zalo": "not configured"}


# --- /metrics ---


async def test_metrics_show_a_handled_event_and_the_outbox_sends_depth_and_broadcast(console: Console) -> None:
    app, clock = console.app, console.clock
    before = await scrape(console.client)  # no sign-in needed

    assert app.pipeline is not None
    who = Who("zalo", "a1b2c3d4", "Lan", "vi")
    replies = await app.pipeline.handle(Event(who, CommandEvent("help")), TextRenderer())
    assert flatten(replies)  # the person was answered

    now = clock.now()
    async with app.session_maker() as session:
        ann = Announcement(kind="fair", title="Hội chợ", body="…", status="sending", started_at=now,
                           created_at=now, updated_at=now)
        users = [User(channel="telegram", external_id=str(70_000 + i), role="user", locale="vi",
                      created_at=now, updated_at=now) for i in range(3)]
        session.add_all([ann, *users])
        await session.flush()
        for user in users:
            await enqueue(session, clock=clock, user=user, kind="announcement", reply=Reply.of("Mời tham dự"),
                          dedupe_key=f"ann:{ann.id}:{user.id}", announcement_id=ann.id)
        await session.commit()
    queued = await scrape(console.client)
    assert queued[("kc_outbox_depth", (("channel", "telegram"), ("kind", "announcement")))] == 3
    assert queued[("kc_broadcast_messages", (("announcement", str(ann.id)), ("status", "pending")))] == 3
    assert queued[("kc_database_up", ())] == 1

    sender = ScriptedSender({users[0].external_id: [RateLimited(2)],
                             users[1].external_id: [Unreachable("Forbidden: bot was blocked by the user")]})
    worker = OutboxWorker(app.session_maker, {"telegram": sender}, clock)
    await worker.deliver_due(drain=True)
    assert sorted(sender.sent) == [users[0].external_id, users[2].external_id]

    after = await scrape(console.client)
    assert gain(before, after, "kc_updates_handled_total", channel="zalo") == 1
    assert gain(before, after, "kc_update_seconds_count", channel="zalo") == 1
    assert gain(before, after, "kc_update_errors_total", channel="zalo") == 0
    sends = {outcome: gain(before, after, "kc_outbox_sends_total", channel="telegram", outcome=outcome)
             for outcome in ("sent", "retry_429", "retry", "blocked", "failed", "unknown")}
    assert sends == {"sent": 2, "retry_429": 1, "retry": 0, "blocked": 1, "failed": 0, "unknown": 0}
    assert ("kc_outbox_depth", (("channel", "telegram"), ("kind", "announcement"))) not in after
    assert after[("kc_broadcast_messages", (("announcement", str(ann.id)), ("status", "sent")))] == 2
    assert after[("kc_broadcast_messages", (("announcement", str(ann.id)), ("status", "blocked")))] == 1


async def test_metrics_can_be_switched_off(engine: AsyncEngine, clock: FakeClock) -> None:
    web = create_app(create_context(make_settings(metrics_enabled=False), engine, clock=clock))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="https://console.test") as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


async def test_the_zalo_webhook_listener_answers_healthz_too(engine: AsyncEngine, clock: FakeClock) -> None:
    """The bot process's own HTTP server (Zalo webhook mode) says how it is, its scheduler included; POSTs
    still need the webhook's secret."""
    from aiohttp.test_utils import TestClient, TestServer
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.channels.zalo.client import ZaloClient
    from bot.channels.zalo.runner import ZaloChannel

    app = create_context(make_settings(zalo_bot_token="1234567890:zalo-health-secret"), engine, clock=clock)
    assert app.pipeline is not None
    scheduler = AsyncIOScheduler()
    zalo = ZaloClient("1234567890:zalo-health-secret", base="http://127.0.0.1:9")
    channel = ZaloChannel(zalo, app.pipeline, scheduler=scheduler)
    async with TestClient(TestServer(channel.webhook_app("hook-secret-123"))) as client:
        page = await client.get("/healthz")
        assert page.status == 200
        assert await page.json() == {"database": "ok", "scheduler": "stopped", "scheduler_leader": "this process",
                                     "channels": {"telegram": "configured", "zalo": "configured"}}
        scheduler.start()
        try:
            assert (await (await client.get("/healthz")).json())["scheduler"] == "running"
        finally:
            scheduler.shutdown(wait=False)
        assert "zalo-health-secret" not in await (await client.get("/healthz")).text()
        assert (await client.post("/healthz", data=b"{}")).status == 403  # no secret header: refused
    await zalo.close()
