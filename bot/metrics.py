"""Prometheus figures (prometheus-client), served as text at `/metrics` by the staff console.

Two sorts:

* **Counted in this process** as things happen: events the conversation pipeline handled, by channel, and
  how long each took (from arrival to the replies ready, waiting behind the same person's previous event
  included); events answered with an apology; outbox sends by channel and outcome. Each process counts its
  own (the figures of a `run` or `deliver` process live in that process).
* **Read from the database at each scrape** (`refresh`, then `exposition`): the outbox's depth by channel
  and kind, the running broadcasts' rows by status, and whether the database answered. They are the same
  whichever process serves them, so any one web process will do.

A `run` or `deliver` process serves its own at METRICS_PORT (`expose`), its database figures refreshed every
REFRESH_EVERY seconds.

Metric names start with `kc_`. Labels are bounded: channels, outcomes, kinds and statuses are fixed sets;
a broadcast's id appears only while it is being sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import ops_repos

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
CHANNELS = ("telegram", "zalo")
# What became of one send: sent; told to wait (429) or tried again later after an error that proves nothing
# left; blocked (the person cannot be messaged); failed; delivery unknown (never resent).
OUTCOMES = ("sent", "retry_429", "retry", "blocked", "failed", "unknown")
SCRAPE_TIMEOUT = 5.0  # seconds the database may take to answer a scrape's queries
REFRESH_EVERY = 15.0  # seconds between two reads of the database's figures in a run/deliver process

disable_created_metrics()  # no `_created` twin of every counter: half the series, nothing lost for Prometheus
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

UPDATES = Counter("kc_updates_handled", "Events (messages, commands, choices) the conversation pipeline handled",
                  ["channel"], registry=REGISTRY)
UPDATE_ERRORS = Counter("kc_update_errors", "Events answered with an apology because something failed",
                        ["channel"], registry=REGISTRY)
UPDATE_SECONDS = Histogram("kc_update_seconds", "Seconds from an event's arrival to its replies, committed",
                           ["channel"], registry=REGISTRY,
                           buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
OUTBOX_SENDS = Counter("kc_outbox_sends", "Outbox send attempts by channel and outcome", ["channel", "outcome"],
                       registry=REGISTRY)
SCHEDULER_JOBS = ("broadcasts", "reminders", "planning", "housekeeping")
SCHEDULER_TICKS = Counter("kc_scheduler_ticks", "Scheduler ticks run by this process (only while it leads)",
                          ["job"], registry=REGISTRY)


def scheduler_tick(job: str) -> None:
    SCHEDULER_TICKS.labels(job).inc()



def _start_at_zero() -> None:
    """Every series exists from the start (at 0), so rates and alerts see the first event too."""
    for job in SCHEDULER_JOBS:
        SCHEDULER_TICKS.labels(job)
    for channel in CHANNELS:
        UPDATES.labels(channel)
        UPDATE_ERRORS.labels(channel)
        UPDATE_SECONDS.labels(channel)
        for outcome in OUTCOMES:
            OUTBOX_SENDS.labels(channel, outcome)


_start_at_zero()


def update_handled(channel: str, seconds: float) -> None:
    UPDATES.labels(channel).inc()
    UPDATE_SECONDS.labels(channel).observe(max(0.0, seconds))


def update_failed(channel: str) -> None:
    UPDATE_ERRORS.labels(channel).inc()


def outbox_send(channel: str, status: str, error: str | None) -> None:
    """One send's result as the outbox recorded it: the row's new status and its error. A row back to
    `pending` without an error was told to wait (429); with one, it is tried again after an error."""
    outcome = ("retry" if error else "retry_429") if status == "pending" else status
    OUTBOX_SENDS.labels(channel, outcome).inc()


# --- figures read from the database at scrape time ---


@dataclass(frozen=True)
class DatabaseFigures:
    up: bool = False
    depth: list[tuple[str, str, int]] = field(default_factory=list)  # (channel, kind, rows)
    broadcasts: list[tuple[int, str, int]] = field(default_factory=list)  # (announcement id, status, rows)


class DatabaseCollector:
    """Yields the figures of the last `refresh` (replaced whole, so a scrape never sees half of two)."""

    def __init__(self) -> None:
        self.figures = DatabaseFigures()

    def _families(self, figures: DatabaseFigures) -> list[Metric]:
        up = GaugeMetricFamily("kc_database_up", "1 when the database answered this scrape's queries")
        depth = GaugeMetricFamily("kc_outbox_depth", "Outbox rows waiting to be sent or in flight",
                                  labels=["channel", "kind"])
        broadcast = GaugeMetricFamily("kc_broadcast_messages", "Outbox rows of each broadcast being sent, by status",
                                      labels=["announcement", "status"])
        if figures.up:
            up.add_metric([], 1)
            for channel, kind, n in figures.depth:
                depth.add_metric([channel, kind], n)
            for ann_id, status, n in figures.broadcasts:
                broadcast.add_metric([str(ann_id), status], n)
        else:
            up.add_metric([], 0)
        return [up, depth, broadcast]

    def describe(self) -> Iterator[Metric]:
        yield from self._families(DatabaseFigures(up=True))

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self.figures)


DATABASE = DatabaseCollector()
REGISTRY.register(DATABASE)


async def refresh(session_maker: async_sessionmaker[AsyncSession], *, timeout: float = SCRAPE_TIMEOUT) -> bool:
    """Read the database's figures for the next exposition; False (and `kc_database_up 0`) when it did not
    answer in time."""
    try:
        async with asyncio.timeout(timeout), session_maker() as session:
            figures = DatabaseFigures(up=True, depth=await ops_repos.outbox_depth(session),
                                      broadcasts=await ops_repos.running_broadcasts(session))
    except Exception:
        log.warning("metrics: the database's figures could not be read", exc_info=True)
        figures = DatabaseFigures(up=False)
    DATABASE.figures = figures
    return figures.up


def exposition() -> bytes:
    """Every figure in Prometheus' text format."""
    return generate_latest(REGISTRY)


_refreshing: set[asyncio.Task[None]] = set()


async def _refresh_every(session_maker: async_sessionmaker[AsyncSession], clock: Any, seconds: float) -> None:
    while True:
        await refresh(session_maker)
        await clock.sleep(seconds)


def expose(settings: Any, session_maker: async_sessionmaker[AsyncSession], clock: Any) -> Any:
    """With METRICS_PORT set, serve this process's figures at /metrics (a thread of prometheus-client) and
    keep the database's figures fresh; returns the HTTP server (None when not served)."""
    if not settings.metrics_enabled or not settings.metrics_port:
        return None
    server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=REGISTRY)
    task = asyncio.create_task(_refresh_every(session_maker, clock, REFRESH_EVERY))
    _refreshing.add(task)
    task.add_done_callback(_refreshing.discard)
    log.info("metrics at http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return server
