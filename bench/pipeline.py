"""Benchmark: the CPU one update costs the bot itself — the unit of work in-process, without HTTP.

    python -m bench.pipeline [--users 500] [--database sqlite|postgresql]

bench.updates measures a whole web process: the webhook's HTTP request and JSON, aiogram's dispatch, and every
reply sent over HTTP to the Bot API (a form step sends two or three), so its `cpu_ms_per_update` includes what
any bot pays for its transport (the bare echo bot: ~1.5 ms per update). This one measures what is ours: the same
15-step registration + need journey as bench.updates, as channel-neutral events straight into the pipeline
(`Pipeline.handle` with its update ids, the flood throttle, the seen-update marks, rendered for Telegram: the
messages are built, not sent), for N people at once against a real database. Each step is taken by all N people
together (at most CONCURRENCY at a time, as a web process under load), so the CPU of each kind of step is
measured on its own: `time.process_time()` around the step, divided by N. Between steps the people pause as in
bench.updates (THINK, under the flood throttle), on a fake clock: moved, not waited for.

The issue's "CPU per form update" is `cpu_ms_per_form_update`: the steps that answer an open form by typing
(name, owner, phone, commune, products, the need's details and month). Checked at the end: the database holds
N facilities and N needs, and no step was answered with an apology — a figure from a run that did not do the
work is refused (exit status 1).

Last line: {"cpu_ms_per_update", "cpu_ms_per_form_update", "steps" (step → CPU ms per update), "users",
"database", "updates_per_s_one_core" (1000 ÷ cpu_ms_per_update), "facilities", "needs", "apologies", "commit"}.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.updates import FLOW, ROOT, THINK, create_database, drop_database
from bot.app import create_app
from bot.channels.telegram_render import TelegramRenderer, unpack_callback
from bot.channels.zalo.inbound import command_or_text
from bot.clock import FakeClock
from bot.config import Settings
from bot.conversation.events import (
    Action,
    ChooseEvent,
    ContactEvent,
    Event,
    Who,
)
from bot.conversation.pipeline import SORRY, flatten
from bot.services.throttle import throttle_of
from storage.db import create_engine
from storage.migrate import upgrade_to_head
from storage.models import Facility, Need

CONCURRENCY = 64  # units of work in flight at once (a web process under load has about as many)
# The steps that answer an open form by typing: what the issue calls a form update.
FORM_STEPS = {1, 2, 3, 4, 6, 11, 12}


def action_of(kind: str, arg: str) -> Action:
    """bench.updates' step as the channel adapter would hand it to the pipeline."""
    if kind == "contact":
        return ContactEvent(arg)
    if kind == "press":
        return ChooseEvent(*unpack_callback(arg))
    return command_or_text(arg)


async def main(n: int, database: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    url = await create_database() if database == "postgresql" else f"sqlite+aiosqlite:///{work / 'bot.db'}"
    engine = create_engine(url)
    try:
        if database == "sqlite":
            await upgrade_to_head(engine)
        return await run(engine, n, database, work)
    finally:
        await engine.dispose()
        if database == "postgresql":
            await drop_database(url)


async def run(engine: Any, n: int, database: str, work: Path) -> dict[str, Any]:
    settings = Settings(_env_file=None, bot_token="123456789:bench-pipeline", media_dir=str(work / "media"),  # type: ignore[call-arg]
                        quiet_start="00:00", quiet_end="00:00")
    clock = FakeClock(datetime.now(UTC))  # people pause THINK seconds between steps: on this clock, not waited for
    app = create_app(settings, engine, clock=clock)
    throttle_of(app)  # as the channels' wiring does: each event is counted in its unit of work
    assert app.pipeline is not None
    pipeline, renderer = app.pipeline, TelegramRenderer()
    people = [Who("telegram", str(30_000_000 + i), "Lan", "vi") for i in range(n)]
    sorry = {app.i18n.gettext(SORRY, locale=loc) for loc in app.i18n.available_locales}
    apologies = 0
    gate = asyncio.Semaphore(CONCURRENCY)
    update_ids = iter(range(1, 10**9))

    async def one(who: Who, action: Action) -> None:
        nonlocal apologies
        update_id = str(next(update_ids))
        async with gate:
            rendered = await pipeline.handle(Event(who, action), renderer, update_id=update_id)
            await pipeline.answered(who, update_id)
        texts = [getattr(m, "text", None) or "" for m in flatten(rendered or [])]
        if not texts or any(t in sorry for t in texts):
            apologies += 1

    gc.collect()
    gc.freeze()  # as the bot's processes do before serving
    steps: dict[str, float] = {}
    cpu_total = form_cpu = 0.0
    for i, (kind, arg) in enumerate(FLOW):
        action = action_of(kind, arg)
        cpu = time.process_time()
        await asyncio.gather(*(one(who, action) for who in people))
        spent = time.process_time() - cpu
        steps[f"{i + 1:02d} {kind} {arg}"[:48]] = round(spent * 1000 / n, 2)
        cpu_total += spent
        if i in FORM_STEPS:
            form_cpu += spent
        clock.advance(THINK)
        print(f"step {i + 1}: {spent * 1000 / n:.2f} ms per update", file=sys.stderr, flush=True)
    await pipeline.flush_answered()
    async with app.session_maker() as session:
        facilities = await session.scalar(select(func.count()).select_from(Facility))
        needs = await session.scalar(select(func.count()).select_from(Need))
    per_update = cpu_total * 1000 / (n * len(FLOW))
    return {
        "cpu_ms_per_update": round(per_update, 2),
        "cpu_ms_per_form_update": round(form_cpu * 1000 / (n * len(FORM_STEPS)), 2),
        "steps": steps, "users": n, "database": database,
        "updates_per_s_one_core": round(1000 / per_update, 1),
        "facilities": facilities, "needs": needs, "apologies": apologies, "commit": _commit(),
    }


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    result = asyncio.run(main(args.users, args.database))
    print(json.dumps(result, ensure_ascii=False))
    if result["facilities"] != args.users or result["needs"] != args.users or result["apologies"]:
        sys.exit(1)  # the figures above are not of the work asked for
