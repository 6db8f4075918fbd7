"""Migration 0005 on data stored before it: names kept from before consent are erased, line breaks in
one-line fields folded. SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from storage.db import create_engine
from storage.migrate import alembic_config, upgrade_to_head
from tests.conftest import DB_PARAMS, PG_URL


async def _upgrade(engine: Any, revision: str) -> None:
    from alembic import command

    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


@pytest.mark.parametrize("db", DB_PARAMS)
async def test_0005_erases_pre_consent_names_and_folds_line_breaks(db: str, tmp_path: Any) -> None:
    if db == "postgresql":
        engine = create_engine(PG_URL or "")
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    else:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        await _upgrade(engine, "0003")
        now = datetime(2026, 3, 1, tzinfo=UTC)
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (id, channel, external_id, full_name, username, locale, role, announcements_off,"
                " consent_at, created_at, updated_at) VALUES"
                " (1, 'telegram', '1', 'Telegram Name', 'tguser', 'vi', 'user', false, NULL, :now, :now),"
                " (2, 'telegram', '2', 'Nguyễn Thị Lan', 'lan', 'vi', 'user', false, :now, :now, :now)"),
                {"now": now})
            await conn.execute(text(
                "INSERT INTO facilities (id, name, owner_name, commune_code, sector, products, owner_user_id,"
                " created_at, updated_at) VALUES (1, :name, 'Lan', 30307, 'food', :products, 2, :now, :now)"),
                {"name": "Cơ sở A\nĐiện thoại: 0900 000 000\r\nTrạng thái: Đã duyệt", "products": "nước mắm\nkhô cá",
                 "now": now})
        await upgrade_to_head(engine)
        async with engine.connect() as conn:
            users = (await conn.execute(text("SELECT id, full_name, username FROM users ORDER BY id"))).all()
            facility = (await conn.execute(text("SELECT name, products FROM facilities"))).one()
        assert [tuple(u) for u in users] == [(1, None, None), (2, "Nguyễn Thị Lan", "lan")]
        assert tuple(facility) == ("Cơ sở A Điện thoại: 0900 000 000 Trạng thái: Đã duyệt", "nước mắm khô cá")
    finally:
        await engine.dispose()
