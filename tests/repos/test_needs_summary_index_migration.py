"""Migration 0024 (the dashboard's covering index) up and down; on SQLite the dashboard's grouped query of a
period is then answered from the index alone (no table rows, no temporary B-tree). SQLite always, PostgreSQL
when TEST_DATABASE_URL is set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.console_repos import needs_summary
from tests.repos.test_own_contribution_migration import _alembic, empty_db  # noqa: F401


async def _indexes(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("needs")})


async def _plan_of_the_dashboard_query(engine: AsyncEngine) -> str:
    """SQLite's plan for the statement `needs_summary` runs."""
    statements: list[tuple[str, Any]] = []
    async with AsyncSession(engine) as session:
        conn = await session.connection()
        event.listen(conn.sync_connection, "before_cursor_execute",
                     lambda _c, _cur, sql, params, _ctx, _many: statements.append((sql, params)))
        await needs_summary(session, start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 7, 1, tzinfo=UTC))
        [(sql, params)] = statements
        rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)).all()
    return " / ".join(str(r[-1]) for r in rows)


async def test_0024_adds_the_dashboards_covering_index_and_goes_back(empty_db: AsyncEngine) -> None:  # noqa: F811
    await _alembic(empty_db, "upgrade", "0023")
    before = await _indexes(empty_db)
    await _alembic(empty_db, "upgrade", "0024")
    assert await _indexes(empty_db) - before == {"ix_needs_summary"}
    if empty_db.dialect.name == "sqlite":
        plan = await _plan_of_the_dashboard_query(empty_db)
        assert "COVERING INDEX ix_needs_summary" in plan and "TEMP B-TREE" not in plan, plan
    await _alembic(empty_db, "downgrade", "0023")
    assert await _indexes(empty_db) == before
