"""Queries of the operations endpoints (/healthz, /metrics). Keyword-only arguments; read only, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal_column
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Announcement, OutboxMessage, SendBudget

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
