"""Migration 0007 on data stored before it: every person keeps their channel account as an identity and is
found through it with their facility; an identity can then move to another person.
SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from storage import repos
from storage.db import create_engine, create_session_maker
from storage.migrate import alembic_config, upgrade_to_head
from tests.conftest import DB_PARAMS, PG_URL


async def _upgrade(engine: Any, revision: str) -> None:
    from alembic import command

    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


@pytest.mark.parametrize("db", DB_PARAMS)
async def test_0007_gives_every_person_their_identity(db: str, tmp_path: Any) -> None:
    if db == "postgresql":
        engine = create_engine(PG_URL or "")
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    else:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        await _upgrade(engine, "0006")
        now = datetime(2026, 3, 1, tzinfo=UTC)
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (id, channel, external_id, full_name, locale, role, announcements_off,"
                " created_at, updated_at) VALUES"
                " (1, 'telegram', '111', 'Lan', 'vi', 'user', false, :now, :now),"
                " (2, 'zalo', '6ede9afa', NULL, 'vi', 'user', false, :now, :now)"), {"now": now})
            await conn.execute(text(
                "INSERT INTO facilities (id, name, commune_code, sector, owner_user_id, created_at, updated_at)"
                " VALUES (1, 'Cơ sở A', 30307, 'food', 1, :now, :now)"), {"now": now})
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT user_id, channel, external_id, created_at IS NOT NULL, last_seen_at FROM identities"
                " ORDER BY user_id"))).all()
        assert [tuple(r) for r in rows] == [(1, "telegram", "111", True, None), (2, "zalo", "6ede9afa", True, None)]
        maker = create_session_maker(engine)
        async with maker() as s:
            lan = await repos.get_user(s, channel="telegram", external_id="111")
            assert lan is not None and lan.id == 1
            facility = await repos.facility_of_owner(s, user_id=1)
            assert facility is not None and facility.name == "Cơ sở A"
            # Linked as /link merges an empty person: person 2's Zalo account moves to person 1, who is
            # notified there, and person 2 is deleted.
            identity = await repos.get_identity(s, channel="zalo", external_id="6ede9afa")
            assert identity is not None
            await repos.move_identity(s, identity=identity, user_id=1)
            await repos.delete_user(s, user_id=2)
            lan.channel, lan.external_id = "zalo", "6ede9afa"
            s.add(lan)
            await s.commit()
            found = await repos.get_user(s, channel="zalo", external_id="6ede9afa")
            assert found is not None and found.id == 1
            assert [i.channel for i in await repos.identities_of(s, user_id=1)] == ["telegram", "zalo"]
    finally:
        await engine.dispose()
