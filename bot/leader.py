"""One scheduler leader among the processes sharing a database.

The scheduler's ticks (scheduled broadcasts, reminders, digests, progress) run only in the process that leads.
On PostgreSQL the leader is the process holding a session-level advisory lock (`pg_try_advisory_lock`) on a
connection of its own, kept for as long as the process lives: every other candidate tries again every
`retry` seconds, so when the leader dies (even by kill -9) its connection closes, the lock goes with it and
another process takes over within `retry` seconds. The leader checks its connection at the same pace and
stops leading at once if it is lost. On SQLite (one process) this process always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import ops_repos

log = logging.getLogger(__name__)
RETRY_SECONDS = 3.0


class Leadership:
    def __init__(self, engine: AsyncEngine, *, retry: float = RETRY_SECONDS) -> None:
        self.engine, self.retry = engine, retry
        self.postgres = engine.dialect.name == "postgresql"
        self.is_leader = not self.postgres
        self._conn: AsyncConnection | None = None
        self._stop = asyncio.Event()

    async def try_once(self) -> bool:
        """Take the lead if it is free, or check that this process still holds it; whether it leads now."""
        if not self.postgres:
            return True
        try:
            if self._conn is None:
                self._conn = await self.engine.connect()
            async with AsyncSession(bind=self._conn) as session:
                leads = await ops_repos.try_scheduler_lock(session)
                await session.commit()  # no transaction left open: the lock is the connection's, not its
        except Exception as exc:
            log.warning("scheduler leadership: the database connection was lost (%s)", type(exc).__name__)
            await self._drop_connection()
            leads = False
        if leads != self.is_leader:
            log.info("scheduler: %s", "this process leads (its ticks run here)" if leads else
                     "another process leads (ticks do not run here)")
        self.is_leader = leads
        return leads

    async def run(self) -> None:
        """Try (or check) every `retry` seconds until `stop()`."""
        while not self._stop.is_set():
            await self.try_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.retry)

    async def stop(self) -> None:
        """Give the lead away at once (a clean stop: another process takes over at its next try)."""
        self._stop.set()
        if self._conn is not None and self.is_leader:
            with contextlib.suppress(Exception):
                async with AsyncSession(bind=self._conn) as session:
                    await ops_repos.release_scheduler_lock(session)
                    await session.commit()
        self.is_leader = not self.postgres
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
