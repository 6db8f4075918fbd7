"""Migrations are a release step on PostgreSQL: start-up checks the database is at the code's revision and
stops with one line naming the command otherwise (SQLite keeps migrating at start: tests/e2e/test_startup.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import Settings
from bot.startup import StartupError, start_migration
from storage.db import create_engine
from storage.migrate import head_revision

PG_URL = os.environ.get("TEST_DATABASE_URL")


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    """A PostgreSQL database of its own (created, then dropped): start-up looks at its public schema."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    name = f"kc_release_{secrets.token_hex(4)}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_postgres_is_not_migrated_at_start_but_named_in_one_line(empty_database: str) -> None:
    settings = Settings(_env_file=None, database_url=empty_database)  # type: ignore[call-arg]
    with pytest.raises(StartupError) as refused:
        await start_migration(settings)
    assert str(refused.value) == (f"the database is at revision none (it is empty), the code needs {head_revision()}: "
                                  "run `python -m bot migrate`")
    engine = create_engine(empty_database)
    try:
        async with engine.begin() as conn:  # Alembic's own table, as an older release left it
            await conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO alembic_version VALUES ('0015')"))
        with pytest.raises(StartupError) as behind:
            await start_migration(settings)
        assert str(behind.value).startswith(f"the database is at revision 0015, the code needs {head_revision()}")
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()})
        assert await start_migration(settings) is None  # at the code's revision: starts, nothing to do
    finally:
        await engine.dispose()
