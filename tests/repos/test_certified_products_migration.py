"""Migration 0022 (certified products) up and down on a database at 0021: sign-ups stored before are kept, the
table appears, a product hangs on its sign-up (and goes with it), and going back removes only the new table.
SQLite always, PostgreSQL when TEST_DATABASE_URL is set (in a schema of the test's own, dropped afterwards)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.repos.test_own_contribution_migration import _alembic, empty_db  # noqa: F401

NOW = datetime(2026, 3, 1, tzinfo=UTC)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


async def test_0022_adds_certified_products_and_goes_back(empty_db: AsyncEngine) -> None:  # noqa: F811
    await _alembic(empty_db, "upgrade", "0021")
    async with empty_db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO announcements (id, kind, title, body, audience, questions, reminder_days, remind_unanswered,"
            " status, recipients, created_at, updated_at) VALUES (1, 'competition', 'Bình chọn', '…', '{}', '[]',"
            " '[7, 3, 1]', false, 'sent', 2, :now, :now)"), {"now": NOW})
        await conn.execute(text(
            "INSERT INTO signups (id, announcement_id, status, answers, participant_status, created_at, updated_at)"
            " VALUES (1, 1, 'signed_up', '{}', 'accepted', :now, :now), (2, 1, 'signed_up', '{}', 'registered',"
            " :now, :now)"), {"now": NOW})
    before = await _tables(empty_db)
    await _alembic(empty_db, "upgrade", "0022")
    assert await _tables(empty_db) - before == {"certified_products"}
    async with empty_db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO certified_products (signup_id, name, level, certified_on, commune_code, created_at) VALUES"
            " (1, 'Nước mắm cá linh', 'regional', '2026-02-15', 30307, :now),"
            " (2, 'Mắm thái', 'provincial', '2026-02-15', NULL, :now)"), {"now": NOW})
        await conn.execute(text("DELETE FROM signups WHERE id = 2"))  # its product goes with it
        rows = (await conn.execute(text("SELECT signup_id, name, level, commune_code FROM certified_products"))).all()
        assert [tuple(r) for r in rows] == [(1, "Nước mắm cá linh", "regional", 30307)]
    await _alembic(empty_db, "downgrade", "0021")
    assert await _tables(empty_db) == before
    async with empty_db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM signups"))).scalar() == 1
