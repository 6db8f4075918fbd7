"""Benchmark: a broadcast to N recipients through the sandbox server with Telegram's limits enforced.

    python -m bench.broadcast [--recipients 10000] [--crash] [--signal TERM|KILL] [--rate 25]
                              [--latency-ms 0] [--outage-s 0] [--timeout 60]

3 % of the recipients have blocked the bot and 1 % of sends meet a random 429. The sender is a real
`python -m bot deliver` process; with --crash it is killed when about 40 % is delivered and started
again. TERM is the stop a deploy or Ctrl-C gives (in-flight sends finish); KILL is a hard crash (rows in
flight are left `sending`; the benchmark settles them `unknown` as the tick would after SEND_TIMEOUT).
--latency-ms delays every send at the server (above --timeout, the client's SEND_TIMEOUT, every answer
comes too late: "delivery unknown"); --outage-s closes the server's port for that long (connection
refused, as when Telegram is unreachable) once about 20 % is delivered.

Last line: {"recipients", "rate_target", "rate_achieved", "lost", "duplicates", "unknown", "failed",
"never_delivered", "blocked_marked", "retries_429", "seconds"} (+ "interrupted" with --crash).
`never_delivered`: reachable recipients with no copy at all, whatever their row says; `lost`: those of
them whose row says "sent" (a silent loss); `unknown`/`failed`: rows in those states.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, update
from sqlmodel import col, select

from bot.app import create_app
from bot.clock import SystemClock
from bot.config import Settings
from bot.domain import OutboxStatus
from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer
from bot.services import announcements
from storage.db import create_engine
from storage.migrate import upgrade_to_head
from storage.models import OutboxMessage, User

TOKEN = "123456789:bench-broadcast"
ROOT = Path(__file__).resolve().parent.parent
SETTLED = (OutboxStatus.SENT, OutboxStatus.BLOCKED, OutboxStatus.FAILED, OutboxStatus.UNKNOWN)
TITLE = "Hội chợ hàng công nghiệp nông thôn tiêu biểu 2026"


async def start_sender(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "deliver", cwd=ROOT, env=env,
                                                    stdout=out, stderr=asyncio.subprocess.STDOUT)


async def counts(session_maker) -> Counter:
    async with session_maker() as s:
        rows = (await s.exec(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()
    return Counter({status: n for status, n in rows})


async def outage(server: SandboxServer, port: int, seconds: float) -> None:
    """Telegram unreachable: the port refuses connections for `seconds` (sends in flight are cut)."""
    await server.stop()
    await asyncio.sleep(seconds)
    await server.start(port=port)


async def main(n: int, crash: bool, sig: str, rate: float, latency_ms: int = 0, outage_s: float = 0,
               timeout: float = 60) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    rng = random.Random(2026)
    server = SandboxServer(bot_token=TOKEN, web=False, rng=rng,
                           limits=RateLimits(global_per_s=30, global_burst=30, per_chat_per_s=1, per_chat_burst=3))
    base = await server.start()
    server.faults.update({"p_429": 0.01, "retry_after": 1, "latency_ms": latency_ms})
    port = int(base.rsplit(":", 1)[1])
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    engine = create_engine(url)
    await upgrade_to_head(engine)
    settings = Settings(_env_file=None, bot_token=TOKEN, telegram_api_base=base, database_url=url,  # type: ignore[call-arg]
                        send_rate=rate)
    app = create_app(settings, engine, clock=SystemClock())
    now = datetime.now(UTC)
    ids = range(20_000_000, 20_000_000 + n)
    blocked = set(rng.sample(list(ids), k=round(n * 0.03)))
    async with app.session_maker() as s:
        await s.exec(insert(User), params=[{  # type: ignore[call-overload]
            "channel": "telegram", "external_id": str(i), "role": "user", "locale": "vi", "announcements_off": False,
            "created_at": now, "updated_at": now} for i in ids])
        author = (await s.exec(select(User).limit(1))).one()
        ann = await announcements.create(s, clock=app.clock, author=author, data={
            "kind": "general", "title": TITLE, "body": "Trung tâm hỗ trợ <b>gian hàng</b> miễn phí."})
        await announcements.start(s, clock=app.clock, ann_id=ann.id or 0, translate=app.translate,
                                  default_locale="vi")
        await s.commit()
    for i in ids:
        server.user(i, first_name="Khách")
        if i in blocked:
            server.set_blocked(i)
    env = {**os.environ, "BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": base, "DATABASE_URL": url,
           "SEND_RATE": str(rate), "TICK_SECONDS": "0.5", "SEND_TIMEOUT": str(timeout)}
    log = work / "sender.log"
    started = time.monotonic()
    sender = await start_sender(env, log)
    crashed = not crash
    outage_task: asyncio.Task[None] | None = None
    killed_at: datetime | None = None
    while True:
        await asyncio.sleep(0.5)
        c = await counts(app.session_maker)
        settled = sum(c[x] for x in SETTLED)
        if not crashed and c[OutboxStatus.SENT] >= 0.4 * n:
            sender.send_signal(signal.SIGTERM if sig == "TERM" else signal.SIGKILL)
            await sender.wait()
            killed_at = datetime.now(UTC) if sig == "KILL" else None
            sender = await start_sender(env, log)
            crashed = True
        if outage_s and outage_task is None and c[OutboxStatus.SENT] >= 0.2 * n:
            outage_task = asyncio.create_task(outage(server, port, outage_s))
        if c[OutboxStatus.PENDING] == 0 and c[OutboxStatus.SENDING] == 0 and settled >= n:
            break
        if c[OutboxStatus.SENDING] and not c[OutboxStatus.PENDING] and killed_at is not None:
            # Rows the killed process left in flight are settled by the tick after SEND_TIMEOUT + 60 s;
            # do it now (only those claimed before the kill).
            async with app.session_maker() as s:
                await s.exec(update(OutboxMessage).where(  # type: ignore[call-overload]
                    col(OutboxMessage.status) == OutboxStatus.SENDING, col(OutboxMessage.claimed_at) < killed_at)
                    .values(status=OutboxStatus.UNKNOWN, last_error="interrupted: delivery unknown"))
                await s.commit()
        if time.monotonic() - started > max(120, n / rate * 3 + outage_s * 3 + n * latency_ms / 16_000):
            sender.send_signal(signal.SIGTERM)  # never leave the sender running behind us
            await sender.wait()
            raise SystemExit(f"timed out; see {log}")
    seconds = time.monotonic() - started
    if outage_task is not None:
        await outage_task
    sender.send_signal(signal.SIGTERM)
    await sender.wait()
    copies: Counter[int] = Counter()
    for i in ids:
        for e in server.events(i):
            if e["kind"] == "message" and TITLE in (e["message"].get("text") or ""):
                copies[i] += 1
    reachable = [i for i in ids if i not in blocked]
    async with app.session_maker() as s:
        marked = (await s.exec(select(func.count()).select_from(User).where(
            col(User.unreachable_at).is_not(None)))).one()
        status = dict((await s.exec(select(OutboxMessage.chat_id, OutboxMessage.status))).all())
    delivered = sum(copies.values())
    span = server_span(server, ids)
    final = await counts(app.session_maker)
    await server.stop()
    await engine.dispose()
    result: dict[str, object] = {
        "recipients": n, "rate_target": rate, "rate_achieved": round(delivered / span, 2) if span else 0.0,
        "lost": sum(1 for i in reachable if copies[i] == 0 and status[str(i)] == OutboxStatus.SENT),
        "duplicates": sum(1 for i in ids if copies[i] > 1),
        "unknown": int(final[OutboxStatus.UNKNOWN]), "failed": int(final[OutboxStatus.FAILED]),
        "never_delivered": sum(1 for i in reachable if copies[i] == 0),
        "blocked_marked": int(marked), "retries_429": server.stats["429"], "seconds": round(seconds, 1),
    }
    if crash:
        result["interrupted"] = int(final[OutboxStatus.UNKNOWN])
        result["signal"] = sig
    return result


def server_span(server: SandboxServer, ids: range) -> float:
    """Seconds from the first to the last delivered message, measured where Telegram would measure it."""
    stamps = [e["t"] for i in ids for e in server.events(i) if e["kind"] == "message" and "t" in e]
    return (max(stamps) - min(stamps)) if len(stamps) > 1 else 0.0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--crash", action="store_true")
    parser.add_argument("--signal", choices=["TERM", "KILL"], default="TERM")
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--latency-ms", type=int, default=0, help="server-side delay of every send")
    parser.add_argument("--outage-s", type=float, default=0, help="port closed this long at ~20 %% delivered")
    parser.add_argument("--timeout", type=float, default=60, help="the sender's SEND_TIMEOUT")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.recipients, args.crash, args.signal, args.rate, args.latency_ms,
                                      args.outage_s, args.timeout))))
