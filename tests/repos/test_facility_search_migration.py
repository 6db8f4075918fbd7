"""Migration 0021 (facilities.search_folded) up and down on a database at 0020: facilities already there get
their search text (name and owner folded, phone digits) and going back removes only the column. SQLite always,
PostgreSQL when TEST_DATABASE_URL is set (in a schema of the test's own, dropped afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.db import create_engine
from storage.migrate import alembic_config
from tests.conftest import DB_PARAMS, PG_SCHEMA, PG_URL

SCHEMA = f"{PG_SCHEMA}_m0021"


@pytest.fixture(params=DB_PARAMS)
async def empty_db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/old.db")
        yield engine
        await engine.dispose()
        return
    engine = create_async_engine(PG_URL or "", connect_args={"server_settings": {"search_path": SCHEMA}})
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        await conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        await engine.dispose()


async def _alembic(engine: AsyncEngine, step: str, revision: str) -> None:
    from alembic import command

    async with engine.begin() as conn:
        await conn.run_sync(lambda c: getattr(command, step)(alembic_config(c), revision))


async def _columns(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("facilities")})


async def test_0021_fills_the_search_text_of_existing_facilities_and_goes_back(empty_db: AsyncEngine) -> None:
    await _alembic(empty_db, "upgrade", "0020")
    before = await _columns(empty_db)
    async with empty_db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO facilities (id, name, owner_name, phone, commune_code, sector, created_at, updated_at) "
            "VALUES (:id, :name, :owner, :phone, 30307, 'food', '2026-03-01 00:00:00+00', '2026-03-01 00:00:00+00')"),
            [{"id": 1, "name": "Cơ sở nước mắm Hưng Thịnh", "owner": "Nguyễn Thị Lan", "phone": "+84912345678"},
             {"id": 2, "name": "Xưởng mộc Đức", "owner": None, "phone": None}])
    await _alembic(empty_db, "upgrade", "0021")
    assert await _columns(empty_db) - before == {"search_folded"}
    async with empty_db.connect() as conn:
        rows = (await conn.execute(text("SELECT id, search_folded FROM facilities ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [
        (1, "co so nuoc mam hung thinh nguyen thi lan 84912345678 0912345678"), (2, "xuong moc duc")]
    await _alembic(empty_db, "downgrade", "0020")
    assert await _columns(empty_db) == before
    async with empty_db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM facilities"))).scalar() == 2
