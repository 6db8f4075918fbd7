"""The one delivery path: rows in `outbox`, sent by a worker through a per-channel sender.

Rows move pending → sending → sent / failed / blocked. A row is claimed (set to `sending`)
in its own committed transaction before the network call, so two workers never send the same row.
A row found in `sending` after a crash has an unknown outcome (the message may have left):
it is marked failed with reason "interrupted" rather than sent again — nobody gets two copies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.base import ChannelSender, PermanentError, RateLimited, TransientError, Unreachable
from bot.clock import Clock
from bot.domain import OutboxStatus
from storage.models import OutboxMessage, User

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STALE_SENDING = timedelta(minutes=5)


async def enqueue(
    session: AsyncSession,
    *,
    clock: Clock,
    user: User,
    kind: str,
    text: str,
    payload: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """Queue one message to one person, in the caller's transaction (sent after it commits)."""
    now = clock.now()
    row = OutboxMessage(
        channel=user.channel,
        chat_id=user.external_id,
        user_id=user.id,
        kind=kind,
        text=text,
        payload=dict(payload or {"parse_mode": "HTML"}),
        status=OutboxStatus.PENDING,
        next_attempt_at=now,
        dedupe_key=dedupe_key,
        created_at=now,
    )
    session.add(row)
    session.info["outbox_dirty"] = True
    return row


class OutboxWorker:
    """Claims due rows and hands them to the channel's sender."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        senders: Mapping[str, ChannelSender],
        clock: Clock,
        *,
        batch: int = 50,
    ) -> None:
        self.session_maker = session_maker
        self.senders = dict(senders)
        self.clock = clock
        self.batch = batch
        self._lock = asyncio.Lock()

    async def recover_interrupted(self) -> int:
        """Rows left in `sending` by a crash: outcome unknown, so mark failed instead of risking a duplicate."""
        cutoff = self.clock.now() - STALE_SENDING
        async with self.session_maker() as session:
            result = await session.exec(
                update(OutboxMessage)  # type: ignore[call-overload]
                .where(col(OutboxMessage.status) == OutboxStatus.SENDING, col(OutboxMessage.next_attempt_at) < cutoff)
                .values(status=OutboxStatus.FAILED, last_error="interrupted: outcome unknown, not resent")
            )
            await session.commit()
            return int(result.rowcount or 0)

    async def _claim(self) -> list[OutboxMessage]:
        now = self.clock.now()
        async with self.session_maker() as session:
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING, col(OutboxMessage.next_attempt_at) <= now)
                .order_by(col(OutboxMessage.id))
                .limit(self.batch)
            )
            if session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.exec(query)).all())
            for row in rows:
                row.status = OutboxStatus.SENDING
                row.attempts += 1
                # While sending, next_attempt_at records when the claim was made (for crash recovery).
                row.next_attempt_at = now
            await session.commit()
            return rows

    async def deliver_due(self) -> int:
        """Send everything due now; returns how many rows were handled."""
        async with self._lock:
            handled = 0
            while rows := await self._claim():
                for row in rows:
                    await self._deliver(row)
                    handled += 1
            return handled

    async def _deliver(self, row: OutboxMessage) -> None:
        sender = self.senders.get(row.channel)
        status, error, retry_at, unreachable = OutboxStatus.SENT, None, None, False
        if sender is None:
            status, error = OutboxStatus.FAILED, f"no sender for channel {row.channel}"
        else:
            try:
                await sender.send(row.chat_id, row.text, row.payload)
            except RateLimited as exc:
                status, retry_at = OutboxStatus.PENDING, self.clock.now() + timedelta(seconds=exc.retry_after)
                row.attempts -= 1  # being told to wait is not a failed attempt
            except Unreachable as exc:
                status, error, unreachable = OutboxStatus.BLOCKED, str(exc)[:500], True
            except PermanentError as exc:
                status, error = OutboxStatus.FAILED, str(exc)[:500]
            except (TransientError, OSError, TimeoutError) as exc:
                error = str(exc)[:500] or type(exc).__name__
                if row.attempts >= MAX_ATTEMPTS:
                    status = OutboxStatus.FAILED
                else:
                    status = OutboxStatus.PENDING
                    retry_at = self.clock.now() + timedelta(seconds=min(300, 2 ** row.attempts))
        now = self.clock.now()
        async with self.session_maker() as session:
            values: dict[str, Any] = {"status": status, "last_error": error, "attempts": row.attempts}
            if status == OutboxStatus.SENT:
                values["sent_at"] = now
            if retry_at is not None:
                values["next_attempt_at"] = retry_at
            await session.exec(
                update(OutboxMessage).where(col(OutboxMessage.id) == row.id).values(**values)  # type: ignore[call-overload]
            )
            if unreachable and row.user_id is not None:
                await session.exec(
                    update(User).where(col(User.id) == row.user_id).values(unreachable_at=now)  # type: ignore[call-overload]
                )
            await session.commit()
        if status == OutboxStatus.FAILED:
            log.warning("outbox row %s failed: %s", row.id, error)
