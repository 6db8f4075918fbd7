"""Benchmark: the staff console on 10,000 facilities and 50,000 needs, on SQLite or PostgreSQL.

    python -m bench.console [--facilities 10000] [--needs 50000] [--requests 20]
                            [--database sqlite|postgresql] [--database-url URL]

The rows are written straight into the tables (Core executemany, not through the flows); then the console runs
in this process (the FastAPI app over httpx's ASGI transport, signed in as staff) and each page is asked for
once (timed apart: caches are cold), then `--requests` times: the needs table filtered (status and sector),
searched without accents ("nuoc mam" finds "nước mắm"), the dashboard and the facilities directory — p50 and
p95 in milliseconds —; then the XLSX export of every need: seconds (and the process' CPU seconds: on a shared
machine the wall time depends on the neighbours), peak memory traced by Python (tracemalloc, a second run) and
the process' resident memory growth (sampled every 5 ms from a thread).

PostgreSQL: `--database-url`, else TEST_DATABASE_URL; everything happens in a schema of its own
(`bench_console_<pid>`, through search_path), dropped at the end — nothing else in that database is touched.

Targets: p95 < 200 ms per page; the export < 10 s and < 300 MB. Last line printed: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.app import create_app as create_context
from bot.clock import FakeClock
from bot.config import Settings
from bot.domain import NeedCategory, NeedStatus, Sector
from bot.services import staff_auth
from bot.startup import settle_memory
from bot.text import search_text
from bot.web.app import create_app
from bot.web.security import SESSION_COOKIE
from storage import repos
from storage.db import create_engine
from storage.migrate import upgrade_to_head
from storage.models import Facility, Need, User

NOW = datetime(2026, 6, 20, 3, 0, tzinfo=UTC)  # 10:00 local, late in the first half-year
PAGES = {
    "needs_filtered": "/needs?status=received&sector=food",
    "needs_search": "/needs?q=nuoc+mam",
    "dashboard": "/",
    "facilities": "/facilities",
}
EXPORT = "/needs/export.xlsx"
TARGET_P95_MS, TARGET_EXPORT_S, TARGET_EXPORT_MB = 200, 10, 300
PRODUCTS = ["nước mắm", "bánh tráng", "khô cá", "đường thốt nốt", "dệt thổ cẩm", "cơ khí", "mộc gia dụng",
            "gạo sạch", "trà", "cà phê", "rượu nếp", "tinh dầu", "nhang", "đan lát", "bánh pía", "mắm cá linh"]
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Phan", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"]
GIVEN = ["Văn An", "Thị Lan", "Minh Tâm", "Thị Hoa", "Quốc Bảo", "Thanh Hương", "Văn Phúc", "Thị Mai", "Hữu Lộc"]
MACHINES = ["Máy sấy lạnh", "Máy đóng gói", "Lò hơi", "Máy xay", "Máy chiết rót", "Máy hút chân không"]


@dataclass(frozen=True)
class Seeded:
    facilities: int
    needs: int
    seconds: float


# --- the database ---


def pg_engine(url: str, schema: str) -> AsyncEngine:
    return create_engine(url, connect_args={"server_settings": {"search_path": schema}})


async def open_database(kind: str, url: str | None, folder: Path) -> tuple[AsyncEngine, Callable[[], Awaitable[None]]]:
    """A migrated, empty database and how to remove it afterwards."""
    if kind == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
        await upgrade_to_head(engine)
        return engine, engine.dispose
    if not url:
        raise SystemExit("PostgreSQL: give --database-url or set TEST_DATABASE_URL")
    schema = f"bench_console_{os.getpid()}"
    engine = pg_engine(url, schema)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await upgrade_to_head(engine)

    async def drop() -> None:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()

    return engine, drop


def facility_rows(n: int, communes: list[int], rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(n):
        product = rng.choice(PRODUCTS)
        owner = f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"
        created = NOW - timedelta(days=rng.randrange(1, 900))
        row: dict[str, Any] = {"name": f"Cơ sở {product} {owner.split()[-1]} {i + 1}", "owner_name": owner,
                               "phone": f"+8491{i:07d}", "commune_code": rng.choice(communes),
                               "sector": rng.choice(list(Sector)), "products": product, "created_at": created,
                               "updated_at": created}
        row["search_folded"] = search_text(row["name"], row["owner_name"], row["phone"])  # a Core insert: no listener
        yield row


def need_rows(n: int, facilities: list[tuple[int, int]], rng: random.Random) -> Iterator[dict[str, Any]]:
    categories, statuses = list(NeedCategory), list(NeedStatus)
    for i in range(n):
        facility_id, commune = rng.choice(facilities)
        created = NOW - timedelta(days=rng.randrange(0, 365), minutes=rng.randrange(0, 1440))
        cost = Decimal(rng.randrange(100, 500_000)) / 100
        yield {"ref": f"NC-B-{i + 1:06d}", "facility_id": facility_id, "commune_code": commune,
               "category": rng.choice(categories), "description": f"{rng.choice(MACHINES)} cho sản xuất",
               "machine": rng.choice(MACHINES), "est_cost_million": cost, "own_contribution_million": cost / 2,
               "desired_month": date(2026, rng.randrange(7, 13), 1), "status": rng.choice(statuses),
               "created_at": created, "updated_at": created}


async def seed(app: Any, *, facilities: int, needs: int) -> tuple[Seeded, str]:
    """The rows, and a staff member's console session (its cookie value)."""
    rng = random.Random(20260620)
    started = time.perf_counter()
    communes = [c.code for c in app.communes.all()]
    async with app.session_maker() as session:
        await repos.bulk_insert(session, model=Facility, rows=list(facility_rows(facilities, communes, rng)))
        ids = list((await session.exec(select(col(Facility.id), col(Facility.commune_code)))).all())
        await repos.bulk_insert(session, model=Need, rows=list(need_rows(needs, ids, rng)))
        staff = await repos.add(session, obj=User(channel="telegram", external_id="5001", full_name="Cán bộ Bench",
                                                  role="staff", created_at=NOW, updated_at=NOW))
        token = await staff_auth.open_session(session, clock=app.clock, user=staff, hours=12)
        await session.commit()
    return Seeded(facilities, needs, round(time.perf_counter() - started, 1)), token


# --- measuring ---


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def time_page(client: httpx.AsyncClient, path: str, requests: int) -> dict[str, float]:
    started = time.perf_counter()
    first = await client.get(path)
    first_ms = (time.perf_counter() - started) * 1000
    assert first.status_code == 200, (path, first.status_code)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        r = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return {"first_ms": round(first_ms, 1), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(percentile(times, 0.95), 1)}


@contextmanager
def rss_peak() -> Iterator[dict[str, float]]:
    """The process' resident memory before and at its highest while the block runs (a thread samples it: the
    export's CPU-bound work holds the event loop, so a task could not)."""
    process, out = psutil.Process(), {}
    out["before_mb"] = out["peak_mb"] = process.memory_info().rss / 2**20
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            out["peak_mb"] = max(out["peak_mb"], process.memory_info().rss / 2**20)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        out["peak_mb"] = max(out["peak_mb"], process.memory_info().rss / 2**20)


async def measure_export(client: httpx.AsyncClient) -> dict[str, Any]:
    with rss_peak() as rss:
        started, cpu = time.perf_counter(), time.process_time()
        r = await client.get(EXPORT)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert r.status_code == 200 and r.content[:2] == b"PK", r.status_code
    tracemalloc.start()
    again = await client.get(EXPORT)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert again.status_code == 200
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "traced_peak_mb": round(traced_peak / 2**20, 1),
            "rss_growth_mb": round(rss["peak_mb"] - rss["before_mb"], 1), "rss_peak_mb": round(rss["peak_mb"], 1),
            "bytes": len(r.content)}


async def main(*, facilities: int, needs: int, requests: int, database: str, url: str | None) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-console-"))
    engine, close = await open_database(database, url, folder)
    try:
        settings = Settings(_env_file=None, media_dir=str(folder / "media"),  # type: ignore[call-arg]
                            metrics_enabled=False)
        app = create_context(settings, engine, clock=FakeClock(NOW))
        seeded, token = await seed(app, facilities=facilities, needs=needs)
        if database == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would have them
        print(f"seeded {facilities} facilities and {needs} needs in {seeded.seconds} s", file=sys.stderr)
        transport = httpx.ASGITransport(app=create_app(app))
        settle_memory()  # as `python -m bot web` does before it serves
        async with httpx.AsyncClient(transport=transport, base_url="http://console.bench", timeout=None) as client:
            client.cookies.set(SESSION_COOKIE, token)
            pages = {name: await time_page(client, path, requests) for name, path in PAGES.items()}
            export = await measure_export(client)
    finally:
        await close()
    export["rows"] = needs
    met = (all(p["p95_ms"] < TARGET_P95_MS for p in pages.values()) and export["seconds"] < TARGET_EXPORT_S
           and max(export["traced_peak_mb"], export["rss_growth_mb"]) < TARGET_EXPORT_MB)
    return {"database": database, "facilities": facilities, "needs": needs, "requests": requests,
            "seed_seconds": seeded.seconds, "pages": pages, "export": export, "targets_met": met}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--facilities", type=int, default=10_000)
    parser.add_argument("--needs", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (after one warm-up)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: TEST_DATABASE_URL)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse()
    url = args.database_url or os.environ.get("TEST_DATABASE_URL")
    result = asyncio.run(main(facilities=args.facilities, needs=args.needs, requests=args.requests,
                              database=args.database, url=url))
    print(json.dumps(result))
