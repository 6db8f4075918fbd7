"""`/healthz`: what a load balancer or an orchestrator asks a process (the staff console, and the bot's Zalo
webhook listener when there is one).

    {"database": "ok" | "error: <reason>",
     "channels": {"telegram": "configured" | "not configured" | "down since <UTC time>", "zalo": …},
     "scheduler": "running" | "stopped" | "not in this process",
     "scheduler_leader": "this process" | "another process" | "none" | "unknown"}

200 when the database answers `SELECT 1`, 503 otherwise: only the database decides, so a messenger's outage
(which the outbox waits out by itself) never gets a healthy process restarted. "down since" is the senders'
view, from the database (`send_budget.down_since`). Nothing secret is said: no address, no user name, no
token — the reason is a kind of failure, the details go to the log.

`scheduler_leader` says where the scheduler's ticks run (bot/leader.py): here, in another process (PostgreSQL
knows who holds the leader's lock), nowhere (no leader: none is running, or it died less than a few seconds
ago) or "unknown" (SQLite, without a scheduler in this process: nothing to ask).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from bot.context import AppContext
from storage import ops_repos

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds the database may take to answer
CHANNELS = ("telegram", "zalo")


async def check(app: AppContext, *, scheduler: Any | None = None, leader: Any | None = None,
                timeout: float = TIMEOUT) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of a health check; `scheduler` is this process's APScheduler, if it runs one, and
    `leader` its bot.leader.Leadership."""
    database = "ok"
    down: dict[str, Any] | None = None
    known: bool | None = None
    try:
        async with asyncio.timeout(timeout), app.session_maker() as session:
            await ops_repos.ping(session)
            known = await ops_repos.scheduler_leader_known(session)
            try:
                down = await ops_repos.channels_down(session)
            except Exception:  # an unmigrated database answers SELECT 1: the channels are then unknown
                log.warning("health check: the channels' state could not be read", exc_info=True)
    except Exception as exc:
        log.warning("health check: the database did not answer", exc_info=True)
        database = f"error: {reason(exc)}"
    settings = app.settings
    configured = {"telegram": settings.bot_token is not None, "zalo": settings.zalo_bot_token is not None}
    channels = {}
    for name in CHANNELS:
        if not configured[name]:
            channels[name] = "not configured"
        elif down is None:
            channels[name] = "unknown"
        elif name in down:
            channels[name] = f"down since {_utc(down[name])}"
        else:
            channels[name] = "configured"
    state = "not in this process" if scheduler is None else "running" if scheduler.running else "stopped"
    body = {"database": database, "channels": channels, "scheduler": state,
            "scheduler_leader": _leader(scheduler, leader, known)}
    return (200 if database == "ok" else 503), body


def _leader(scheduler: Any | None, leader: Any | None, known: bool | None) -> str:
    if scheduler is not None and (leader is None or leader.is_leader):
        return "this process"
    if known is None:
        return "unknown"
    return "another process" if known else "none"


def _utc(moment: datetime) -> str:
    aware = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def reason(exc: BaseException) -> str:
    """A failure's kind, without the details (which may name hosts, databases or users)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if type(exc).__name__ == "gaierror":
        return "unknown host"
    if isinstance(exc, OSError):
        return "cannot connect"
    return type(exc).__name__
