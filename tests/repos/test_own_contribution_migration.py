"""Migration 0014 on needs stored before it: every need and its estimated cost are kept, the own contribution
is empty until someone gives it; going back to 0013 keeps the needs too. SQLite always (its batch mode copies
the table), PostgreSQL when TEST_DATABASE_URL is set (in a schema of the test's own, dropped afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import select

from storage.db import create_engine, create_session_maker
from storage.migrate import alembic_config, upgrade_to_head
from storage.models import Need
from tests.conftest import DB_PARAMS, PG_SCHEMA, PG_URL

SCHEMA = f"{PG_SCHEMA}_m0014"


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


async def _need_columns(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("needs")})


async def test_0014_adds_an_empty_own_contribution_and_keeps_every_need(empty_db: AsyncEngine) -> None:
    await _alembic(empty_db, "upgrade", "0013")
    now = datetime(2026, 3, 1, tzinfo=UTC)
    async with empty_db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO needs (id, ref, category, description, machine, est_cost_million, status, created_at,"
            " updated_at) VALUES (1, 'NC-2026-0001', 'machinery', 'Cần máy sấy', 'Máy sấy lạnh', 150.5,"
            " 'received', :now, :now), (2, 'NC-2026-0002', 'training', 'Tập huấn', NULL, NULL, 'received',"
            " :now, :now)"), {"now": now})

    await upgrade_to_head(empty_db)
    maker = create_session_maker(empty_db)
    async with maker() as s:
        needs = (await s.exec(select(Need).order_by(Need.id))).all()  # type: ignore[arg-type]
        assert [(n.ref, n.est_cost_million, n.own_contribution_million) for n in needs] == [
            ("NC-2026-0001", Decimal("150.50"), None), ("NC-2026-0002", None, None)]
        needs[0].own_contribution_million = Decimal("40.25")
        s.add(needs[0])
        await s.commit()
    async with maker() as s:
        assert (await s.get(Need, 1)).own_contribution_million == Decimal("40.25")  # type: ignore[union-attr]

    await _alembic(empty_db, "downgrade", "0013")
    assert "own_contribution_million" not in await _need_columns(empty_db)
    async with empty_db.connect() as conn:
        rows = (await conn.execute(text("SELECT ref, machine FROM needs ORDER BY id"))).all()
    assert [tuple(r) for r in rows] == [("NC-2026-0001", "Máy sấy lạnh"), ("NC-2026-0002", None)]
    await upgrade_to_head(empty_db)
    assert "own_contribution_million" in await _need_columns(empty_db)
