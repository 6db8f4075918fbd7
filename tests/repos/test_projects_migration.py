"""Migration 0018 (projects and their needs) up and down on a database at 0017: the tables appear, a need is
kept in a project with its amounts, and going back removes only the project tables. SQLite always,
PostgreSQL when TEST_DATABASE_URL is set (in a schema of the test's own, dropped afterwards)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.repos.test_own_contribution_migration import _alembic, empty_db  # noqa: F401


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


async def test_0018_adds_the_project_tables_and_goes_back(empty_db: AsyncEngine) -> None:  # noqa: F811
    await _alembic(empty_db, "upgrade", "0017")
    before = await _tables(empty_db)
    await _alembic(empty_db, "upgrade", "0018")
    assert await _tables(empty_db) - before == {"projects", "project_needs"}
    async with empty_db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO needs (id, category, description, status, created_at, updated_at) "
            "VALUES (1, 'machinery', 'Máy sấy', 'approved', '2026-03-01 00:00:00+00', '2026-03-01 00:00:00+00')"))
        await conn.execute(text(
            "INSERT INTO projects (id, name, funding_source, year, approved_on, status, created_at, updated_at) "
            "VALUES (1, 'Đề án 2026', 'local', 2026, '2026-03-15', 'approved', '2026-03-15 00:00:00+00', "
            "'2026-03-15 00:00:00+00')"))
        await conn.execute(text(
            "INSERT INTO project_needs (project_id, need_id, support_million, own_contribution_million, added_at) "
            "VALUES (1, 1, 120.5, 40, '2026-03-15 00:00:00+00')"))
        with pytest.raises(IntegrityError):  # a need is in one project at most
            async with conn.begin_nested():
                await conn.execute(text(
                    "INSERT INTO project_needs (project_id, need_id, support_million, own_contribution_million, "
                    "added_at) VALUES (1, 1, 1, 0, '2026-03-15 00:00:00+00')"))
        rows = (await conn.execute(text("SELECT need_id, support_million FROM project_needs"))).all()
        assert [(n, float(s)) for n, s in rows] == [(1, 120.5)]
    await _alembic(empty_db, "downgrade", "0017")
    assert await _tables(empty_db) == before
    async with empty_db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM needs"))).scalar() == 1
