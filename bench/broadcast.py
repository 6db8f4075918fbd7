"""Benchmark: a broadcast to N recipients through the sandbox server with Telegram's limits enforced.

    python -m bench.broadcast [--recipients 10000] [--crash] [--signal TERM|KILL] [--rate 25]
                              [--latency-ms 0] [--outage-s 0] [--timeout 60]
                              [--channel telegram|zalo|both] [--zalo-rate 5]
                              [--database sqlite|postgresql] [--urgent 0]

--channel zalo sends through the sandbox's Zalo server (its limits: 10/s, 1/s per chat; 429 without
retry_after) at ZALO_SEND_RATE; --channel both puts --recipients people on each channel, one broadcast,
one sender process (the figures are summed, with "by_channel" for each).

--database postgresql runs the benchmark and its sender on a fresh PostgreSQL database (created on the server
of BENCH_POSTGRES_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres, dropped at the end).
--urgent N (Telegram) issues N status notifications to other people at random moments of the broadcast and
reports their delivery latency ("urgent_p50_s", "urgent_p99_s", "urgent_max_s"; target p99 < 5 s).

3 % of the recipients have blocked the bot and 1 % of sends meet a random 429. The sender is a real
`python -m bot deliver` process; with --crash it is killed when about 40 % is delivered and started
again. TERM is the stop a deploy or Ctrl-C gives (in-flight sends finish); KILL is a hard crash (rows in
flight are left `sending`; the benchmark settles them `unknown` as the tick would after SEND_TIMEOUT).
--latency-ms delays every send at the server (above --timeout, the client's SEND_TIMEOUT, every answer
comes too late: "delivery unknown"); --outage-s closes the server's port for that long (connection
refused, as when Telegram is unreachable) once about 20 % is delivered.

Last line: {"channel", "recipients", "rate_target", "rate_achieved", "sends_per_s", "lost", "duplicates", "unknown",
"failed", "never_delivered", "blocked_marked", "retries_429", "seconds"} (+ "interrupted" with --crash,
"by_channel" with both). `rate_achieved`: broadcast copies delivered per second over the span from the first to
the last; `sends_per_s`: every call the server answered in that span (the copies, urgent messages, 403s and
429s) — what the configured rate governs, since each spends a token.
`never_delivered`: reachable recipients with no copy at all, whatever their row says; `lost`: those of
them whose row says "sent" (a silent loss); `unknown`/`failed`: rows in those states.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, text, update
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bot.app import create_app
from bot.clock import SystemClock
from bot.config import Settings
from bot.conversation.replies import Reply
from bot.domain import OutboxStatus
from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer
from bot.sandbox.zalo import ZaloSandbox
from bot.services import announcements, outbox
from storage.db import create_engine
from storage.migrate import upgrade_to_head
from storage.models import OutboxMessage, User

TOKEN = "123456789:bench-broadcast"
ZALO_TOKEN = "1234567890:bench-broadcast-zalo"
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


async def outage(server: SandboxServer | ZaloSandbox, seconds: float) -> None:
    """The channel unreachable: the port refuses connections for `seconds` (sends in flight are cut)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    await server.stop()
    await asyncio.sleep(seconds)
    await server.start("127.0.0.1", port)


@dataclass
class Side:
    """One channel's share of the audience: its sandbox server, its people, those who blocked the bot."""

    channel: str
    server: SandboxServer | ZaloSandbox
    ids: list[str]
    blocked: set[str]
    rate: float

    def texts(self, chat_id: str) -> list[tuple[float, str]]:
        """(time, text) of what the bot sent this person."""
        if isinstance(self.server, ZaloSandbox):
            return [(e.get("t", 0.0), e.get("text") or e.get("caption") or "") for e in self.server.events(chat_id)
                    if e["kind"] in ("message", "photo")]
        return [(e.get("t", 0.0), e["message"].get("text") or "") for e in self.server.events(int(chat_id))
                if e["kind"] == "message"]


async def telegram_side(n: int, rate: float, rng: random.Random, latency_ms: int) -> Side:
    server = SandboxServer(bot_token=TOKEN, web=False, rng=rng,
                           limits=RateLimits(global_per_s=30, global_burst=30, per_chat_per_s=1, per_chat_burst=3))
    await server.start()
    server.faults.update({"p_429": 0.01, "retry_after": 1, "latency_ms": latency_ms})
    ids = [str(i) for i in range(20_000_000, 20_000_000 + n)]
    blocked = set(rng.sample(ids, k=round(n * 0.03)))
    for i in ids:
        server.user(int(i), first_name="Khách")
        if i in blocked:
            server.set_blocked(int(i))
    return Side("telegram", server, ids, blocked, rate)


async def zalo_side(n: int, rate: float, rng: random.Random, latency_ms: int) -> Side:
    """Zalo's limits are not published: the sandbox allows 10/s (1/s per chat, bursts of 3); 429s without
    retry_after."""
    server = ZaloSandbox(bot_token=ZALO_TOKEN, rng=rng,
                         limits=RateLimits(global_per_s=10, global_burst=10, per_chat_per_s=1, per_chat_burst=3))
    await server.start("127.0.0.1", 0)
    server.faults.update({"p_429": 0.01, "latency_ms": latency_ms})
    ids = [f"{0x5a10000000 + i:x}" for i in range(n)]
    blocked = set(rng.sample(ids, k=round(n * 0.03)))
    for i in ids:
        server.user(i, "Khách").has_written = True
        if i in blocked:
            server.set_blocked(i)
    return Side("zalo", server, ids, blocked, rate)


async def fresh_postgres() -> tuple[str, str]:
    """A new, empty database on the BENCH_POSTGRES_URL server: (its URL, the server's URL to drop it)."""
    admin = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    name = f"kc_bench_broadcast_{os.getpid()}"
    engine = create_engine(admin)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False), admin


async def drop_postgres(admin: str, url: str) -> None:
    engine = create_engine(admin)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    await engine.dispose()


@dataclass
class Urgent:
    """Status notifications to people outside the audience, queued at random moments of the broadcast."""

    ids: list[str]
    queued: dict[str, float]  # chat → when it was queued (the sandbox's clock)


async def urgent_people(side: Side, n: int) -> Urgent:
    ids = [str(i) for i in range(30_000_000, 30_000_000 + n)]
    for i in ids:
        side.server.user(int(i), first_name="Chủ cơ sở")
    return Urgent(ids, {})


async def send_urgent(app, side: Side, urgent: Urgent, span: float, rng: random.Random) -> None:
    """One status notification to each urgent person, at random moments within `span` seconds."""
    started = time.monotonic()
    for chat, at in sorted(zip(urgent.ids, (rng.uniform(0.05, 0.9) * span for _ in urgent.ids), strict=True),
                           key=lambda pair: pair[1]):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
        async with app.session_maker() as s:
            user = (await s.exec(select(User).where(User.external_id == chat))).one()
            await outbox.enqueue(s, clock=app.clock, user=user, kind="need_status",
                                 reply=Reply.of("Yêu cầu của bạn đã được duyệt."))
            await s.commit()
        urgent.queued[chat] = side.server.limiter.clock()


def latencies(side: Side, urgent: Urgent) -> dict[str, float]:
    got = sorted(min(t for t, _ in side.texts(chat)) - urgent.queued[chat]
                 for chat in urgent.ids if side.texts(chat))

    def pct(q: float) -> float:
        return round(got[min(len(got) - 1, math.ceil(q * len(got)) - 1)], 3) if got else -1.0

    return {"urgent": len(urgent.ids), "urgent_delivered": len(got), "urgent_p50_s": pct(0.5),
            "urgent_p99_s": pct(0.99), "urgent_max_s": round(got[-1], 3) if got else -1.0}


async def main(n: int, crash: bool, sig: str, rate: float, latency_ms: int = 0, outage_s: float = 0,
               timeout: float = 60, channel: str = "telegram", zalo_rate: float = 5.0,
               database: str = "sqlite", urgent_n: int = 0) -> dict[str, object]:
    """`n` recipients on each channel of `channel` (telegram, zalo or both)."""
    work = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    rng = random.Random(2026)
    sides = []
    if channel in ("telegram", "both"):
        sides.append(await telegram_side(n, rate, rng, latency_ms))
    if channel in ("zalo", "both"):
        sides.append(await zalo_side(n, zalo_rate, rng, latency_ms))
    admin = None
    if database == "postgresql":
        url, admin = await fresh_postgres()
    else:
        url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    engine = create_engine(url)
    await upgrade_to_head(engine)
    env = {**os.environ, "DATABASE_URL": url, "SEND_RATE": str(rate), "ZALO_SEND_RATE": str(zalo_rate),
           "TICK_SECONDS": "0.5", "SEND_TIMEOUT": str(timeout)}
    for side in sides:
        if side.channel == "telegram":
            env.update(BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=side.server.base_url)
        else:
            env.update(ZALO_BOT_TOKEN=ZALO_TOKEN, ZALO_API_BASE=side.server.base_url)
    settings = Settings(_env_file=None, database_url=url, send_rate=rate)  # type: ignore[call-arg]
    app = create_app(settings, engine, clock=SystemClock())
    urgent = await urgent_people(sides[0], urgent_n) if urgent_n else None
    await queue_broadcast(app, sides, urgent.ids if urgent else [])
    total = n * len(sides) + urgent_n
    log = work / "sender.log"
    started = time.monotonic()
    sender = await start_sender(env, log)
    crashed = not crash
    outage_task: asyncio.Task[None] | None = None
    killed_at: datetime | None = None
    limit = max(120, max(n / s.rate for s in sides) * 3 + outage_s * 3 + n * latency_ms / 16_000)
    urgent_task: asyncio.Task[None] | None = None
    while True:
        await asyncio.sleep(0.5)
        c = await counts(app.session_maker)
        settled = sum(c[x] for x in SETTLED)
        if urgent is not None and urgent_task is None and c[OutboxStatus.SENT]:  # the broadcast has begun
            urgent_task = asyncio.create_task(send_urgent(app, sides[0], urgent, n / sides[0].rate, rng))
        if not crashed and c[OutboxStatus.SENT] >= 0.4 * total:
            sender.send_signal(signal.SIGTERM if sig == "TERM" else signal.SIGKILL)
            await sender.wait()
            killed_at = datetime.now(UTC) if sig == "KILL" else None
            sender = await start_sender(env, log)
            crashed = True
        if outage_s and outage_task is None and c[OutboxStatus.SENT] >= 0.2 * total:
            outage_task = asyncio.create_task(outage(sides[0].server, outage_s))
        if c[OutboxStatus.PENDING] == 0 and c[OutboxStatus.SENDING] == 0 and settled >= total:
            break
        if c[OutboxStatus.SENDING] and not c[OutboxStatus.PENDING] and killed_at is not None:
            await settle_killed(app, killed_at)
        if time.monotonic() - started > limit:
            sender.send_signal(signal.SIGTERM)  # never leave the sender running behind us
            await sender.wait()
            raise SystemExit(f"timed out; see {log}")
    seconds = time.monotonic() - started
    if outage_task is not None:
        await outage_task
    if urgent_task is not None:
        await urgent_task
    sender.send_signal(signal.SIGTERM)
    await sender.wait()
    result = await figures(app, sides, seconds, {sides[0].channel: list(urgent.ids)} if urgent is not None else {})
    result["database"] = database
    if urgent is not None:
        result.update(latencies(sides[0], urgent))
    for side in sides:
        await side.server.stop()
    await engine.dispose()
    if admin is not None:
        await drop_postgres(admin, url)
    if crash:
        result["interrupted"] = result["unknown"]
        result["signal"] = sig
    return result


async def queue_broadcast(app, sides: list[Side], outside: list[str]) -> None:
    """The audience, and (on the first channel) people `outside` it who get no announcements."""
    now = datetime.now(UTC)
    async with app.session_maker() as s:
        for index, side in enumerate(sides):
            people = [(i, False) for i in side.ids] + [(i, True) for i in (outside if index == 0 else [])]
            await s.exec(insert(User), params=[{  # type: ignore[call-overload]
                "channel": side.channel, "external_id": i, "role": "user", "locale": "vi",
                "announcements_off": off, "created_at": now, "updated_at": now} for i, off in people])
        author = (await s.exec(select(User).limit(1))).one()
        ann = await announcements.create(s, clock=app.clock, author=author, data={
            "kind": "general", "title": TITLE, "body": "Trung tâm hỗ trợ <b>gian hàng</b> miễn phí."})
        await announcements.start(s, clock=app.clock, ann_id=ann.id or 0, translate=app.translate,
                                  default_locale="vi")
        await s.commit()


async def settle_killed(app, killed_at: datetime) -> None:
    """Rows the killed process left in flight are settled by the tick after SEND_TIMEOUT + 60 s; do it now
    (only those claimed before the kill)."""
    async with app.session_maker() as s:
        await s.exec(update(OutboxMessage).where(  # type: ignore[call-overload]
            col(OutboxMessage.status) == OutboxStatus.SENDING, col(OutboxMessage.claimed_at) < killed_at)
            .values(status=OutboxStatus.UNKNOWN, last_error="interrupted: delivery unknown"))
        await s.commit()


async def figures(app, sides: list[Side], seconds: float,
                  extra: dict[str, list[str]] | None = None) -> dict[str, object]:
    """The JSON figures: for each channel, then summed (the rate achieved: each channel's own, summed).
    `extra`: per channel, the people outside the broadcast who were sent something during it (urgent)."""
    extra = extra or {}
    async with app.session_maker() as s:
        marked = (await s.exec(select(func.count()).select_from(User).where(
            col(User.unreachable_at).is_not(None)))).one()
        status = {(ch, chat): st for ch, chat, st in (await s.exec(
            select(OutboxMessage.channel, OutboxMessage.chat_id, OutboxMessage.status))).all()}
    final = await counts(app.session_maker)
    by_channel: dict[str, dict[str, object]] = {}
    for side in sides:
        stamps: list[float] = []
        copies: Counter[str] = Counter()
        for i in side.ids:
            got = [t for t, text in side.texts(i) if TITLE in text]
            copies[i] = len(got)
            stamps += got
        span = max(stamps) - min(stamps) if len(stamps) > 1 else 0.0
        reachable = [i for i in side.ids if i not in side.blocked]
        # Every send spends a token of the rate, delivered or not: the broadcast's, the urgent ones delivered
        # within its span, and the calls the server refused (403 blocked, 429).
        others = sum(1 for chat in extra.get(side.channel, ()) for t, _ in side.texts(chat)
                     if stamps and min(stamps) <= t <= max(stamps))
        sends = len(stamps) + others + side.server.stats["403"] + side.server.stats["429"]
        by_channel[side.channel] = {
            "recipients": len(side.ids), "rate_target": side.rate,
            "rate_achieved": round(len(stamps) / span, 2) if span else 0.0,
            "sends_per_s": round(sends / span, 2) if span else 0.0,
            "lost": sum(1 for i in reachable if copies[i] == 0 and status[(side.channel, i)] == OutboxStatus.SENT),
            "duplicates": sum(1 for i in side.ids if copies[i] > 1),
            "never_delivered": sum(1 for i in reachable if copies[i] == 0),
            "retries_429": side.server.stats["429"],
        }
    summed = {key: sum(v[key] for v in by_channel.values())  # type: ignore[misc]
              for key in ("recipients", "rate_target", "rate_achieved", "sends_per_s", "lost", "duplicates",
                          "never_delivered",
                          "retries_429")}
    return {"channel": "both" if len(sides) > 1 else sides[0].channel, **summed,
            "unknown": int(final[OutboxStatus.UNKNOWN]), "failed": int(final[OutboxStatus.FAILED]),
            "blocked_marked": int(marked), "seconds": round(seconds, 1),
            **({"by_channel": by_channel} if len(sides) > 1 else {})}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--crash", action="store_true")
    parser.add_argument("--signal", choices=["TERM", "KILL"], default="TERM")
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--latency-ms", type=int, default=0, help="server-side delay of every send")
    parser.add_argument("--outage-s", type=float, default=0, help="port closed this long at ~20 %% delivered")
    parser.add_argument("--timeout", type=float, default=60, help="the sender's SEND_TIMEOUT")
    parser.add_argument("--channel", choices=["telegram", "zalo", "both"], default="telegram",
                        help="where the recipients are (both: --recipients on each)")
    parser.add_argument("--zalo-rate", type=float, default=5.0, help="ZALO_SEND_RATE")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--urgent", type=int, default=0, help="status notifications during the broadcast")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.recipients, args.crash, args.signal, args.rate, args.latency_ms,
                                      args.outage_s, args.timeout, args.channel, args.zalo_rate,
                                      args.database, args.urgent))))
