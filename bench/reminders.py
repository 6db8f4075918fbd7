"""Benchmark: N reminders due at the same minute → time from the tick to all of them in the outbox.

    python -m bench.reminders [--reminders 10000] [--database-url sqlite+aiosqlite:///...]

Last line printed: {"reminders": …, "queue_seconds": …, "duplicates": …, "rss_mb": …}
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy import func, insert, text
from sqlmodel import select

from bot.app import create_app
from bot.clock import FakeClock
from bot.config import Settings
from bot.services import reminders
from storage.db import create_engine
from storage.migrate import upgrade_to_head
from storage.models import Announcement, OutboxMessage, Reminder, Signup, User


async def main(n: int, database_url: str | None) -> dict[str, object]:
    tmp = tempfile.mkdtemp(prefix="bench-reminders-")
    url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade_to_head(engine)
    clock = FakeClock(datetime(2026, 3, 13, 0, 59, tzinfo=UTC))  # 07:59 local, one minute before 08:00
    settings = Settings(_env_file=None, bot_token="1:bench", database_url=url)  # type: ignore[call-arg]
    app = create_app(settings, engine, clock=clock)
    now = clock.now()
    due = datetime(2026, 3, 13, 1, 0, tzinfo=UTC)
    async with app.session_maker() as s:
        ann = Announcement(kind="competition", title="Bình chọn sản phẩm CNNT tiêu biểu", body="…", audience={},
                           status="sent", deadline_on=date(2026, 3, 20), created_at=now, updated_at=now)
        s.add(ann)
        await s.flush()
        users = [{"channel": "telegram", "external_id": str(10_000_000 + i), "role": "user",
                  "locale": "vi" if i % 5 else "en", "announcements_off": False, "created_at": now, "updated_at": now}
                 for i in range(n)]
        await s.exec(insert(User), params=users)
        ids = list((await s.exec(select(User.id).order_by(User.id))).all())
        await s.exec(insert(Signup), params=[{"announcement_id": ann.id, "user_id": uid, "status": "signed_up",
                                             "answers": {}, "created_at": now, "updated_at": now} for uid in ids])
        await s.exec(insert(Reminder), params=[{
            "kind": "deadline", "user_id": uid, "announcement_id": ann.id, "days_before": 7, "audience": "signed_up",
            "due_at": due, "status": "pending", "dedupe_key": f"bench:{uid}", "created_at": now} for uid in ids])
        await s.commit()
    clock.advance(timedelta(minutes=1).total_seconds())
    process = psutil.Process()
    gc.collect()
    rss_before = process.memory_info().rss / 2**20
    peak = [rss_before]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], process.memory_info().rss / 2**20)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    result = await reminders.tick(app.session_maker, clock=clock, tz=app.tz, translate=app.translate,
                                  default_locale="vi")
    queue_seconds = time.perf_counter() - started
    sampler.cancel()
    rss_mb = max(peak[0], process.memory_info().rss / 2**20)
    async with app.session_maker() as s:
        queued = (await s.exec(select(func.count()).select_from(OutboxMessage)
                               .where(OutboxMessage.kind == "reminder"))).one()
        distinct = (await s.exec(select(func.count(func.distinct(OutboxMessage.user_id)))
                                 .where(OutboxMessage.kind == "reminder"))).one()
    await engine.dispose()
    assert result.queued == n == queued, (result, queued)
    print(f"process RSS before the tick {rss_before:.1f} MB, peak during it {rss_mb:.1f} MB "
          f"(+{rss_mb - rss_before:.1f} MB for the tick)")
    return {"reminders": n, "queue_seconds": round(queue_seconds, 3), "duplicates": int(queued - distinct),
            "rss_mb": round(rss_mb, 1), "tick_rss_growth_mb": round(rss_mb - rss_before, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.reminders, args.database_url))))
