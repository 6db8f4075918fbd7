"""TEST_DATABASE_URL may point at a database holding real data: the tests work in a schema of their own."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import PG_SCHEMA, PG_URL, _drop_pg_schema, _fresh_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
async def owner():
    """The database as its owner sees it (default search_path, `public` first)."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    engine = create_async_engine(PG_URL)
    yield engine
    await engine.dispose()


async def _tables(owner, schema: str) -> set[str]:
    async with owner.connect() as conn:
        rows = await conn.execute(text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                                  {"s": schema})
        return set(rows.scalars())


async def test_the_tests_migrate_into_their_own_schema_and_leave_public_alone(owner) -> None:
    canary = f"kc_canary_{PG_SCHEMA}"
    async with owner.begin() as conn:
        await conn.execute(text(f'CREATE TABLE public."{canary}" (note text)'))
        await conn.execute(text(f"INSERT INTO public.\"{canary}\" VALUES ('real data')"))
    try:
        engine = await _fresh_postgres(PG_URL or "")  # what every PostgreSQL test starts from
        await engine.dispose()
        async with owner.connect() as conn:
            kept = (await conn.execute(text(f'SELECT note FROM public."{canary}"'))).scalars().all()
        assert kept == ["real data"]
        assert {"users", "needs", "outbox", "alembic_version"} <= await _tables(owner, PG_SCHEMA)
        assert PG_SCHEMA.startswith(f"kc_test_{os.getpid()}_")  # one per test process: parallel runs never meet
        await _drop_pg_schema(PG_URL or "")  # what the end of the run does
        assert await _tables(owner, PG_SCHEMA) == set()
        async with owner.connect() as conn:
            assert (await conn.execute(text(f'SELECT count(*) FROM public."{canary}"'))).scalar() == 1
    finally:
        async with owner.begin() as conn:
            await conn.execute(text(f'DROP TABLE IF EXISTS public."{canary}"'))
