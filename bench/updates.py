"""Benchmark: N simulated people register and file a need at once, through the sandbox server and the
bot's real polling loop (a separate process, SQLite).

    python -m bench.updates [--users 1000] [--processes N] [--database sqlite|postgresql]

With `--processes N` (N ≥ 1) the bot under test is N `python -m bot web` processes in webhook mode behind the
sandbox (which POSTs each person's updates in order and spreads them over the processes in turn, as a load
balancer would); without it, one polling `python -m bot`. `--database postgresql` uses a database of its own,
created (and dropped at the end) on the server of BENCH_DATABASE_URL or TEST_DATABASE_URL; SQLite otherwise.

Phases, all in one run:
1. throughput — every person runs the whole registration + need flow (15 updates each), waiting for the
   bot's answer before the next step; updates/s processed and reply latency p50/p95/p99;
2. the same load against a bare aiogram echo bot through the same server → echo_ratio;
3. latency at a steady 100 updates/s (p99 target < 100 ms);
4. the bot's memory with 10,000 facilities in its database.

Telegram's global limit (30 messages/s) would cap any bot's replies at 30/s, so the throughput phases
lift the server's limits: they measure what the bot can process, not what Telegram lets through.
Last line: {"updates_per_s", "p50_ms", "p95_ms", "p99_ms", "p99_ms_at_100", "echo_ratio", "rss_mb",
"rss_mb_10k_facilities", "users", "lost", "processes", "database", "rss_mb_per_process", "cpu_ms_per_update"
(the bot processes' CPU time in the throughput phase per update handled), "cpu_kernel_share" (the part of it
spent in the kernel: system calls, mostly socket reads and writes), "echo_updates_per_s", "echo_rss_mb",
"echo_cpu_ms_per_update", and where the machine's CPU went in the throughput phase: "machine_cores" and
"machine_cores_busy" (all cores' busy time ÷ the phase's wall time: at `cores`, the machine was the limit, not the
bot), "machine_load_cpu_ms_per_update" (this process: the sandbox server and the simulated people),
"machine_database_cpu_ms_per_update" (PostgreSQL's processes), "echo_cores_busy", "echo_load_cpu_ms_per_update"}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import ClientError
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer
from storage.db import create_engine
from storage.migrate import upgrade_to_head
from storage.models import Facility

TOKEN = "123456789:bench-updates"
ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = RateLimits(enabled=False)
# People read before they answer: 0.4 s between one person's steps keeps each under the bot's
# per-person throttle (3 updates/s) — faster would be a flood, answered with "slow down".
THINK = 0.4

FLOW: list[tuple[str, str]] = [
    ("text", "/start"), ("text", "Cơ sở nước mắm Hưng Thịnh"), ("text", "Nguyễn Thị Lan"),
    ("contact", "+84912345678"), ("text", "long xuyen"), ("press", "f.c:register|sector|food"),
    ("text", "nước mắm, khô cá"), ("press", "f.c:register|consent|yes"), ("press", "f.ok:register|__summary__|"),
    ("text", "/need"), ("press", "f.c:need|category|training"), ("text", "Tập huấn quản lý sản xuất"),
    ("text", "5/2027"), ("press", "f.s:need|attachment|"), ("press", "f.ok:need|__summary__|"),
]


class Process:
    """A child process with its peak RSS sampled."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.proc: asyncio.subprocess.Process | None = None
        self.peak_mb = 0.0
        self._sampler: asyncio.Task[None] | None = None

    async def start(self, server: SandboxServer) -> None:
        server.polling.clear()
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(*self.args, cwd=ROOT, env=self.env, stdout=out,
                                                             stderr=asyncio.subprocess.STDOUT)
        await asyncio.wait_for(server.polling.wait(), 60)
        self._sampler = asyncio.create_task(self._sample())

    async def start_web(self, health_url: str) -> None:
        """A web process: ready once its /healthz answers 200."""
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(*self.args, cwd=ROOT, env=self.env, stdout=out,
                                                             stderr=asyncio.subprocess.STDOUT)
        async with aiohttp.ClientSession() as http, asyncio.timeout(120):
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"the web process exited; see {self.log}")
                try:
                    async with http.get(health_url) as page:
                        if page.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        assert self.proc is not None
        p = psutil.Process(self.proc.pid)
        while True:
            try:
                self.peak_mb = max(self.peak_mb, p.memory_info().rss / 2**20)
            except psutil.Error:
                return
            await asyncio.sleep(0.2)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the process has used so far."""
        return sum(self.cpu_user_system())

    def cpu_user_system(self) -> tuple[float, float]:
        """CPU seconds the process has used so far, in its own code and in the kernel (system calls)."""
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user, times.system

    async def stop(self) -> None:
        if self._sampler:
            self._sampler.cancel()
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


class CpuSplit:
    """Where the machine's CPU went during a phase: every core's busy time, this benchmark's own process (the
    sandbox server and the simulated people) and PostgreSQL's processes, in seconds."""

    def __init__(self) -> None:
        self.started, self.machine, self.load, self.database = time.perf_counter(), *self._now()

    @staticmethod
    def _now() -> tuple[float, float, float]:
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        own = psutil.Process().cpu_times()
        database = 0.0
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] in ("postgres", "postmaster"):
                with contextlib.suppress(psutil.Error):  # a backend that ended meanwhile
                    times = proc.cpu_times()  # the postmaster's children_*: its backends that have ended
                    database += times.user + times.system + times.children_user + times.children_system
        return busy, own.user + own.system, database

    def figures(self, updates: int) -> dict[str, float]:
        """The cores busy on average (of `cores`), and the CPU ms per update of the load and of the database."""
        machine, load, database = self._now()
        seconds = time.perf_counter() - self.started
        return {"cores": psutil.cpu_count() or 0, "cores_busy": round((machine - self.machine) / seconds, 2),
                "load_cpu_ms_per_update": round((load - self.load) * 1000 / updates, 2),
                "database_cpu_ms_per_update": round((database - self.database) * 1000 / updates, 2)}


LOST: list[tuple[int, str, str]] = []  # (person, kind, argument) of updates that got no answer


async def step(server: SandboxServer, uid: int, kind: str, arg: str, echo: bool) -> float | None:
    """One update from this person; seconds until the bot's next message to them (None: no answer came)."""
    try:
        return await _step(server, uid, kind, arg, echo)
    except (TimeoutError, OSError, ClientError, LookupError) as exc:  # no answer, a refused call, no button
        LOST.append((uid, kind, arg))
        print(f"lost: {uid} {kind} {arg} ({type(exc).__name__})", file=sys.stderr, flush=True)
        return None


async def _step(server: SandboxServer, uid: int, kind: str, arg: str, echo: bool) -> float:
    mark = server.last_seq()
    started = time.perf_counter()
    if kind == "text" or echo:
        await server.send_text(uid, arg)
    elif kind == "contact":
        await server.send_contact(uid, arg)
    else:
        found = server.find_button(uid, arg)
        if found is None:  # the previous answer may still be arriving
            await server.wait_for(uid, lambda e: server.find_button(uid, arg) is not None, after=0, timeout=60)
            found = server.find_button(uid, arg)
        if found is None:
            raise LookupError(f"no button {arg}")
        await server.press(uid, *found)
    await server.wait_for(uid, lambda e: e["kind"] in ("message", "document"), after=mark, timeout=60)
    return time.perf_counter() - started


async def run_flows(server: SandboxServer, users: list[int], echo: bool) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def person(uid: int) -> None:
        for kind, arg in FLOW:
            took = await step(server, uid, kind, arg, echo)
            if took is None:
                return  # this person's journey cannot go on
            latencies.append(took)
            await asyncio.sleep(THINK)

    started = time.perf_counter()
    await asyncio.gather(*(person(u) for u in users))
    elapsed = time.perf_counter() - started - THINK  # the last step's pause is not the bot's time
    return len(users) * len(FLOW) / elapsed, latencies


async def steady(server: SandboxServer, users: list[int], per_s: float, seconds: float) -> list[float]:
    """An open load of `per_s` updates per second (/help from a rotating set of people)."""
    latencies: list[float] = []
    tasks = []
    interval = 1 / per_s
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        uid = users[i % len(users)]
        i += 1

        async def one(u: int = uid) -> None:
            took = await step(server, u, "text", "/help", False)
            if took is not None:
                latencies.append(took)

        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(max(0.0, started + i * interval - time.perf_counter()))
    await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:  # everything lost: no figure rather than a crash
        return -1.0
    return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1000, 1)


async def main(n: int, processes: int = 0, database: str = "sqlite") -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    server = SandboxServer(bot_token=TOKEN, web=False, limits=UNLIMITED)
    base = await server.start()
    env = {**os.environ, "BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": base, "TICK_SECONDS": "2",
           "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'bot.db'}", "QUIET_START": "00:00", "QUIET_END": "00:00",
           "MEDIA_DIR": str(work / "media")}
    pg_url = await create_database() if database == "postgresql" else None
    try:
        bots = await start_bots(server, {**env, "DATABASE_URL": pg_url} if pg_url else env, work, processes)
        users = list(range(30_000_000, 30_000_000 + n))
        kernel_before = sum(bot.cpu_user_system()[1] for bot in bots)
        cpu_before, split = sum(bot.cpu_s() for bot in bots), CpuSplit()
        updates_per_s, latencies = await run_flows(server, users, echo=False)
        machine = split.figures(n * len(FLOW))
        cpu_s = sum(bot.cpu_s() for bot in bots) - cpu_before
        kernel_share = (sum(bot.cpu_user_system()[1] for bot in bots) - kernel_before) / cpu_s
        cpu_ms_per_update = cpu_s * 1000 / (n * len(FLOW))
        print(f"flows: {updates_per_s:.0f} updates/s", file=sys.stderr, flush=True)
        steady_users = list(range(31_000_000, 31_000_100))
        at_100 = await steady(server, steady_users, 100, 10)
        print(f"steady 100/s: p99 {pct(at_100, 99)} ms", file=sys.stderr, flush=True)
        for bot in bots:
            await bot.stop()
    finally:
        if pg_url:
            await drop_database(pg_url)
    rss_per_process = [round(bot.peak_mb, 1) for bot in bots]
    await stop_webhook(server)

    echo = Process([sys.executable, "-m", "bench.echo_bot"], env, work / "echo.log")
    await echo.start(server)
    echo_cpu_before, split = echo.cpu_s(), CpuSplit()
    echo_per_s, _ = await run_flows(server, list(range(32_000_000, 32_000_000 + n)), echo=True)
    echo_machine = split.figures(n * len(FLOW))
    echo_cpu_ms = (echo.cpu_s() - echo_cpu_before) * 1000 / (n * len(FLOW))
    await echo.stop()
    print(f"echo: {echo_per_s:.0f} updates/s", file=sys.stderr, flush=True)

    rss_10k = await memory_with_facilities(server, env, work)
    await server.stop()
    return {
        "updates_per_s": round(updates_per_s, 1), "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95),
        "p99_ms": pct(latencies, 99), "p99_ms_at_100": pct(at_100, 99),
        "echo_ratio": round(updates_per_s / echo_per_s, 2), "rss_mb": max(rss_per_process),
        "rss_mb_10k_facilities": round(rss_10k, 1), "users": n, "lost": len(LOST),
        "processes": max(1, processes), "database": database, "rss_mb_per_process": rss_per_process,
        "cpu_ms_per_update": round(cpu_ms_per_update, 2), "cpu_kernel_share": round(kernel_share, 2),
        "echo_updates_per_s": round(echo_per_s, 1),
        "echo_rss_mb": round(echo.peak_mb, 1), "echo_cpu_ms_per_update": round(echo_cpu_ms, 2),
        **{f"machine_{k}": v for k, v in machine.items()}, "echo_cores_busy": echo_machine["cores_busy"],
        "echo_load_cpu_ms_per_update": echo_machine["load_cpu_ms_per_update"],
    }


async def start_bots(server: SandboxServer, env: dict[str, str], work: Path, processes: int) -> list[Process]:
    """One polling bot (processes = 0), or N web processes in webhook mode behind the sandbox."""
    if processes < 1:
        bot = Process([sys.executable, "-m", "bot"], env, work / "bot.log")
        await bot.start(server)
        return [bot]
    hook_env = {**env, "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_URL": "https://bench.invalid/webhook/telegram",
                "TELEGRAM_WEBHOOK_SECRET": "bench-secret"}
    ports = [free_port() for _ in range(processes)]
    bots = [Process([sys.executable, "-m", "bot", "web", "--port", str(port)], hook_env, work / f"web{port}.log")
            for port in ports]
    await asyncio.gather(*(bot.start_web(f"http://127.0.0.1:{port}/healthz")
                           for bot, port in zip(bots, ports, strict=True)))
    server.webhook_targets = [f"http://127.0.0.1:{port}/webhook/telegram" for port in ports]
    release = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "set-webhooks", cwd=ROOT,
                                                   env=hook_env, stdout=asyncio.subprocess.DEVNULL)
    if await release.wait() != 0:
        raise RuntimeError("python -m bot set-webhooks failed")
    return bots


async def stop_webhook(server: SandboxServer) -> None:
    """Back to getUpdates for the polling bots that follow (the echo bot, the 10,000-facility run)."""
    server.webhook_targets = None
    async with aiohttp.ClientSession() as http:
        await (await http.post(f"{server.base_url}/bot{TOKEN}/deleteWebhook")).read()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def create_database() -> str:
    """A migrated PostgreSQL database of the benchmark's own (the release step done here)."""
    server_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        raise SystemExit("--database postgresql needs BENCH_DATABASE_URL (or TEST_DATABASE_URL)")
    name = f"kc_bench_{os.getpid()}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    await upgrade_to_head(engine)
    await engine.dispose()
    return url


async def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    await admin.dispose()


async def memory_with_facilities(server: SandboxServer, env: dict[str, str], work: Path) -> float:
    url = f"sqlite+aiosqlite:///{work / 'big.db'}"
    engine = create_engine(url)
    await upgrade_to_head(engine)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(Facility), [{
            "name": f"Cơ sở số {i}", "owner_name": "Chủ cơ sở", "phone": "+84912345678", "commune_code": 30307,
            "sector": "food", "products": "nước mắm", "created_at": now, "updated_at": now} for i in range(10_000)])
    await engine.dispose()
    bot = Process([sys.executable, "-m", "bot"], {**env, "DATABASE_URL": url}, work / "big.log")
    await bot.start(server)
    await run_flows(server, list(range(33_000_000, 33_000_050)), echo=False)
    await bot.stop()
    return bot.peak_mb


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=0,
                        help="N web processes in webhook mode behind the sandbox (default: one polling bot)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    if args.processes > 1 and args.database == "sqlite":
        parser.error("several processes share PostgreSQL only: add --database postgresql")
    print(json.dumps(asyncio.run(main(args.users, args.processes, args.database))))
