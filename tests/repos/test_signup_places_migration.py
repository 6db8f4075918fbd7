"""Migration 0017 on sign-ups stored before it: each stays, "registered", in the line at the time it was made
(declined ones have no place in it); announcements get no capacity; going back one revision keeps every
sign-up. SQLite always (its batch mode copies the tables), PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from storage.db import create_session_maker
from storage.migrate import upgrade_to_head
from storage.models import Announcement, Signup
from tests.repos.test_own_contribution_migration import _alembic, empty_db  # noqa: F401


async def _columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: {column["name"] for column in inspect(c).get_columns(table)})


async def test_0017_keeps_every_sign_up_registered_in_the_order_it_came(empty_db: AsyncEngine) -> None:  # noqa: F811
    await _alembic(empty_db, "upgrade", "0015")
    made = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    async with empty_db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO announcements (id, kind, title, body, audience, questions, reminder_days, remind_unanswered,"
            " status, recipients, created_at, updated_at) VALUES (1, 'fair', 'Hội chợ', 'Gian hàng', '{}',"
            " '[\"Sản phẩm?\"]', '[7, 3, 1]', false, 'sent', 3, :now, :now)"), {"now": made})
        await conn.execute(text(
            "INSERT INTO signups (id, announcement_id, status, answers, created_at, updated_at) VALUES"
            " (1, 1, 'signed_up', '{\"q1\": \"Nước mắm\"}', :now, :now), (2, 1, 'declined', '{}', :now, :now)"),
            {"now": made})

    await upgrade_to_head(empty_db)
    async with create_session_maker(empty_db)() as s:
        rows = (await s.exec(select(Signup).order_by(col(Signup.id)))).all()
        assert [(r.status, r.participant_status, r.signed_up_at, r.answers) for r in rows] == [
            ("signed_up", "registered", made, {"q1": "Nước mắm"}), ("declined", "registered", None, {})]
        assert (await s.get(Announcement, 1)).capacity is None  # type: ignore[union-attr]

    await _alembic(empty_db, "downgrade", "0016")
    assert "participant_status" not in await _columns(empty_db, "signups")
    assert "capacity" not in await _columns(empty_db, "announcements")
    async with empty_db.connect() as conn:
        kept = (await conn.execute(text("SELECT id, status FROM signups ORDER BY id"))).all()
    assert [tuple(r) for r in kept] == [(1, "signed_up"), (2, "declined")]
    await upgrade_to_head(empty_db)
    assert "signed_up_at" in await _columns(empty_db, "signups")
