"""Queries of the operations endpoints (/healthz, /metrics), the advisory locks that let several processes
share one PostgreSQL database, the updates already handled (one row per update, in its unit of work) and the
scheduler's pruning of what goes stale. Keyword-only arguments; never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal_column, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import insert_for
from storage.models import Announcement, OutboxMessage, SeenUpdate, SendBudget, ThrottleBucket

WAITING = ("pending", "sending")  # outbox rows not settled yet: the queue's depth


async def ping(session: AsyncSession) -> None:
    """`SELECT 1`: raises when the database does not answer."""
    await session.exec(select(literal_column("1")))


async def channels_down(session: AsyncSession) -> dict[str, datetime]:
    """Channels the senders consider unreachable (sends paused), with since when."""
    rows = await session.exec(
        select(SendBudget.name, SendBudget.down_since).where(col(SendBudget.down_since).is_not(None)))
    return {name: since for name, since in rows.all() if since is not None}


async def outbox_depth(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(channel, kind, rows waiting to be sent or in flight), for the kinds that have any."""
    rows = await session.exec(
        select(OutboxMessage.channel, OutboxMessage.kind, func.count()).select_from(OutboxMessage)
        .where(col(OutboxMessage.status).in_(WAITING))
        .group_by(col(OutboxMessage.channel), col(OutboxMessage.kind))
    )
    return [(channel, kind, int(n)) for channel, kind, n in rows.all()]


async def running_broadcasts(session: AsyncSession) -> list[tuple[int, str, int]]:
    """(announcement id, outbox status, rows) of every broadcast being sent."""
    rows = await session.exec(
        select(OutboxMessage.announcement_id, OutboxMessage.status, func.count()).select_from(OutboxMessage)
        .join(Announcement, col(Announcement.id) == col(OutboxMessage.announcement_id))
        .where(col(Announcement.status) == "sending")
        .group_by(col(OutboxMessage.announcement_id), col(OutboxMessage.status))
    )
    return [(int(ann_id), status, int(n)) for ann_id, status, n in rows.all()]


# --- several processes on one PostgreSQL database: advisory locks (no-ops on SQLite, one process) ---

# The first key of every advisory lock the bot takes ("kc"), so they never meet another application's.
LOCK_SPACE_PERSON = 0x6B63
_LOCK_PERSON = text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))")  # for every update: text, built once
LOCK_SPACE_SCHEDULER = 0x6B64
SCHEDULER_KEY = 1


def _postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


async def lock_person(session: AsyncSession, *, key: str) -> None:
    """Take the person's transaction-level lock (PostgreSQL `pg_advisory_xact_lock`), waiting while another
    process handles one of their events; released by the transaction's commit or rollback. `key` names the
    person's identity ("telegram:123"). SQLite serves one process, whose own lock already orders them."""
    if _postgres(session):
        await (await session.connection()).execute(_LOCK_PERSON, {"space": LOCK_SPACE_PERSON, "key": key})


async def try_scheduler_lock(session: AsyncSession) -> bool:
    """Try to take the scheduler leader's session-level lock (`pg_try_advisory_lock`) on the session's
    connection: True when this connection holds it now (also when it already did). SQLite: always True."""
    if not _postgres(session):
        return True
    row = await session.exec(select(func.pg_try_advisory_lock(LOCK_SPACE_SCHEDULER, SCHEDULER_KEY)))  # type: ignore[call-overload]
    return bool(row.one())


async def release_scheduler_lock(session: AsyncSession) -> None:
    if _postgres(session):
        await session.exec(select(func.pg_advisory_unlock(LOCK_SPACE_SCHEDULER, SCHEDULER_KEY)))  # type: ignore[call-overload]


async def scheduler_leader_known(session: AsyncSession) -> bool | None:
    """Whether some process holds the scheduler leader's lock; None on SQLite (nothing to ask)."""
    if not _postgres(session):
        return None
    row = await session.exec(select(literal_column(
        "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
        f"AND classid = {LOCK_SPACE_SCHEDULER} AND objid = {SCHEDULER_KEY} AND objsubid = 2)")))
    return bool(row.one())


# --- an update delivered more than once (a webhook retried on another process) is handled once ---

async def first_delivery(session: AsyncSession, *, channel: str, update_id: str, now: datetime) -> bool:
    """Mark the update as handled in the caller's transaction: True the first time, False when a committed
    transaction (of any process) already did. Under the person's lock, so a second delivery waits for the
    first's outcome: committed (a duplicate) or rolled back (handled afresh)."""
    stmt = insert_for(session)(SeenUpdate).values(channel=channel, update_id=update_id[:64], seen_at=now)
    stmt = stmt.on_conflict_do_nothing(index_elements=["channel", "update_id"]).returning(SeenUpdate.channel)
    return (await session.exec(stmt)).first() is not None  # type: ignore[call-overload]


async def seen_update(session: AsyncSession, *, channel: str, update_id: str) -> SeenUpdate | None:
    """The mark of an update some process handled (committed), if any."""
    return await session.get(SeenUpdate, (channel, update_id[:64]))


async def mark_handled(session: AsyncSession, *, channel: str, update_id: str, now: datetime,
                       replies: list[dict[str, Any]] | None) -> None:
    """Mark the update as handled in the caller's transaction, with the replies its turn is about to send."""
    await (await session.connection()).execute(_MARK_HANDLED, {
        "channel": channel, "update_id": update_id[:64], "seen_at": now, "replies": replies or None})


_MARK_HANDLED = insert(SeenUpdate.__table__)  # type: ignore[attr-defined]


async def forget_replies(session: AsyncSession, *, updates: Sequence[tuple[str, str]]) -> None:
    """These updates' replies were sent (or handed to the outbox): a delivery again sends nothing more.
    `updates` holds (channel, update id) pairs. On PostgreSQL the commit does not wait for the disk: lost in a
    crash, this costs at most a reply sent twice."""
    if not updates:
        return
    if _postgres(session):
        await session.exec(text("SET LOCAL synchronous_commit TO OFF"))  # type: ignore[call-overload]
    keys = sorted({(channel, update_id[:64]) for channel, update_id in updates})
    # One statement shape whatever the batch's size (executemany), so the driver's prepared statement is reused.
    await (await session.connection()).execute(_FORGET_REPLIES, [{"c": c, "u": u} for c, u in keys])


_FORGET_REPLIES = update(SeenUpdate).where(col(SeenUpdate.channel) == bindparam("c"),
                                           col(SeenUpdate.update_id) == bindparam("u")).values(replies=None)


async def prune_seen_updates(session: AsyncSession, *, before: datetime) -> int:
    """Forget the updates handled before `before`; how many rows went."""
    query = delete(SeenUpdate).where(col(SeenUpdate.seen_at) < before)
    result = await session.exec(query)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


async def prune_throttle(session: AsyncSession, *, before: float) -> int:
    """Drop the flood buckets last touched before `before` (seconds since the epoch): full again by then, they
    would give the same verdicts as a new one. How many rows went."""
    query = delete(ThrottleBucket).where(col(ThrottleBucket.refilled_at) < before)
    result = await session.exec(query)  # type: ignore[call-overload]
    return int(result.rowcount or 0)
