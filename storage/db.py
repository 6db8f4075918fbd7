"""Engine and session factory. Nothing is created at import time."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)


def insert_for(session: AsyncSession) -> Any:
    """The session's dialect's `insert`, whose statements can say ON CONFLICT (PostgreSQL or SQLite)."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert


def create_engine(url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, a busy timeout and enforced foreign keys.

    PostgreSQL connections are not pinged at every checkout (`pool_pre_ping`: with asyncpg that is BEGIN, a
    query and ROLLBACK, three round trips, before every unit of work). A connection found dead when used
    (the server restarted) makes SQLAlchemy recycle the whole pool, and the unit of work that met it is done
    once more on a fresh connection (`connection_lost`: bot.conversation.pipeline, and the console's GET and HEAD
    requests in bot.web.app)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "connect_args": dict(connect_args or {})}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"].setdefault("timeout", 30)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says the database connection was found dead (and the pool has been recycled)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without a lazy refresh (async-safe).
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=False)
