"""Two `python -m bot web` processes in webhook mode on one PostgreSQL database, behind the sandbox's Bot API
server acting as Telegram and as the load balancer (its POSTs alternate between them): every person's updates
are handled in order and none is lost; the scheduler's ticks run in one process only; kill -9 the leader and
the other takes over (seen on /healthz) while the people go on being answered. And kill -9 one of them in the
middle of a load (many updates in flight, some handled and not yet answered): the load balancer delivers them
again to the other, and every person's answers are still handled once each, in order, and answered. Skipped
without TEST_DATABASE_URL (a database of its own is created there, then dropped)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer
from storage.db import create_engine
from storage.migrate import upgrade_to_head
from tests.e2e.harness import ROOT, TOKEN
from tests.e2e.test_startup import clean_env

PG_URL = os.environ.get("TEST_DATABASE_URL")
SECRET = "e2e-hook_secret"
PEOPLE = [(3000 + n, name) for n, name in enumerate(
    ["Nguyễn Thị Lan", "Trần Văn Ba", "Lê Thị Cúc", "Phạm Văn Dũng", "Hoàng Thị Em", "Võ Văn Phúc",
     "Đặng Thị Giang", "Bùi Văn Hải", "Đỗ Thị Hoa", "Huỳnh Văn Khoa", "Phan Thị Lụa", "Vũ Văn Minh"])]

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set TEST_DATABASE_URL")


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A PostgreSQL database of its own, migrated (the release step), dropped at the end."""
    name = f"kc_e2e_{secrets.token_hex(4)}"
    admin = create_async_engine(PG_URL or "", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL or "").set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        await engine.dispose()
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebProcess:
    """`python -m bot web` in webhook mode; ready once its /healthz answers 200."""

    def __init__(self, tmp_path: Path, name: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"{name}.log"
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession, deadline: float = 120) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "web", "--port", str(self.port), cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT)
        async with asyncio.timeout(deadline):
            while (await self.health(http)) is None:
                if self.proc.returncode is not None:
                    raise AssertionError(f"web exited: {self.log.read_text(errors='replace')[-3000:]}")
                await asyncio.sleep(0.2)  # polling loop with a deadline: until it listens

    async def health(self, http: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with http.get(f"{self.base}/healthz") as page:
                return await page.json() if page.status == 200 else None
        except aiohttp.ClientError:
            return None

    async def ticks(self, http: aiohttp.ClientSession, job: str = "reminders") -> float:
        async with http.get(f"{self.base}/metrics") as page:
            found = re.search(rf'^kc_scheduler_ticks_total{{job="{job}"}} (\S+)$', await page.text(), flags=re.M)
        assert found is not None
        return float(found.group(1))

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def until(check: Any, deadline: float = 60) -> Any:
    """Poll `check()` (a coroutine function) until it returns something true, within the deadline."""
    async with asyncio.timeout(deadline):
        while True:
            if found := await check():
                return found
            await asyncio.sleep(0.2)  # another process, asked over HTTP: nothing here to wait on


async def forms(url: str) -> dict[int, dict[str, Any]]:
    """Each person's open form, from the database: their step and what they answered."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT u.external_id, c.step, c.data FROM conversations c JOIN users u ON u.id = c.user_id"))).all()
    finally:
        await engine.dispose()
    return {int(ext): {"step": step, **(data if isinstance(data, dict) else {})} for ext, step, data in rows}


async def two_web_processes(tmp_path: Path, database: str) -> tuple[SandboxServer, dict[str, str], list[WebProcess]]:
    """The sandbox's Bot API server (started) and two web processes in webhook mode (not started yet) on the
    database, with their environment. Telegram's limits off: the bot's own pace is not what is tested here."""
    server = SandboxServer(bot_token=TOKEN, web=False, limits=RateLimits(enabled=False))
    await server.start()
    env = clean_env(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=server.base_url, DATABASE_URL=database,
                    TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_URL="https://bot.example.vn/webhook/telegram",
                    TELEGRAM_WEBHOOK_SECRET=SECRET, TICK_SECONDS="0.3", THROTTLE_RATE="50", THROTTLE_BURST="100",
                    MEDIA_DIR=str(tmp_path / "media"), QUIET_START="00:00", QUIET_END="00:00")
    return server, env, [WebProcess(tmp_path, "web1", env), WebProcess(tmp_path, "web2", env)]


async def test_two_web_processes_share_the_people_and_one_scheduler(database: str, tmp_path: Path) -> None:
    server, env, webs = await two_web_processes(tmp_path, database)
    server.webhook_targets = [f"{w.base}/webhook/telegram" for w in webs]  # the load balancer
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(w.start(http) for w in webs))
            release = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "set-webhooks", cwd=ROOT,
                                                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = await release.communicate()
            assert release.returncode == 0 and "telegram: webhook set to https://bot.example.vn" in out.decode()
            await phase_one(server, database)
            leader, standby = await one_leader(http, webs)
            await leader.stop(signal.SIGKILL)
            # The standby takes the lead within seconds and its ticks start.
            await until(lambda: _leads(http, standby), deadline=30)
            before = await standby.ticks(http)
            await until(lambda: _ticked(http, standby, before), deadline=30)
            await phase_two(server, database)
    finally:
        for w in webs:
            await w.stop()
        await server.stop()
    for w in webs:
        assert "Traceback" not in w.log.read_text(errors="replace"), w.log.read_text(errors="replace")[-3000:]


LOAD = [(5000 + n, f"Người {n}") for n in range(16)]
# What each person is asked, in order, after each of their five messages (the register form's questions).
ASKED = ["Hưng Thịnh", "chủ cơ sở", "0912 345 678", "long xuyen", "ngành nghề"]


async def test_a_web_process_killed_under_load_loses_no_update_and_handles_none_twice(
        database: str, tmp_path: Path) -> None:
    server, env, webs = await two_web_processes(tmp_path, database)
    server.webhook_targets = [f"{w.base}/webhook/telegram" for w in webs]
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(w.start(http) for w in webs))
            release = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "set-webhooks", cwd=ROOT,
                                                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            await release.communicate()
            assert release.returncode == 0
            # Each message the bot sends takes a while: at any moment many updates are in flight, some handled
            # and committed with their replies still on the way.
            server.faults.latency_ms = 60
            for user_id, name in LOAD:
                server.user(user_id, first_name=name.split()[-1], language_code="vi")
            for user_id, name in LOAD:
                for words in ("/start", f"Cơ sở {user_id}", name, f"0912 345 {user_id % 1000:03d}", "long xuyen"):
                    await server.send_text(user_id, words)
            await until(lambda: _answered_at_least(server, len(LOAD) * len(ASKED) // 4), deadline=60)
            await webs[0].stop(signal.SIGKILL)
            for user_id, _name in LOAD:
                await server.wait_for(user_id, lambda e: "ngành nghề" in _text(e), timeout=90)
            assert server.webhook is not None and server.webhook.failures > 0  # POSTs were cut by the kill
    finally:
        for w in webs:
            await w.stop()
        await server.stop()
    saved = await forms(database)
    for user_id, name in LOAD:  # each answer taken once, at its own step: none twice, none skipped
        assert saved[user_id]["step"] == "sector", saved[user_id]
        assert saved[user_id]["facility_name"] == f"Cơ sở {user_id}"
        assert saved[user_id]["owner_name"] == name
        assert saved[user_id]["phone"].endswith(f"345{user_id % 1000:03d}")
        asked = [text for e in server.events(user_id) if e["kind"] != "user" and (text := _text(e))]
        assert _in_order(ASKED, asked), (user_id, asked)  # every question reached the person, in order
    log = webs[1].log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def _text(event: dict[str, Any]) -> str:
    return str((event.get("message") or {}).get("text") or "")


async def _answered_at_least(server: SandboxServer, count: int) -> bool:
    return sum(1 for user_id, _n in LOAD for e in server.events(user_id) if e["kind"] != "user") >= count


def _in_order(fragments: list[str], texts: list[str]) -> bool:
    """Each fragment is found in one of the texts, after the text where the one before it was found."""
    at = 0
    for fragment in fragments:
        while at < len(texts) and fragment not in texts[at]:
            at += 1
        if at == len(texts):
            return False
        at += 1
    return True


async def phase_one(server: SandboxServer, database: str) -> None:
    """Every person types four answers at once, all people together: each gets to the commune question, with
    their own answers in their own order."""
    for user_id, name in PEOPLE:
        server.user(user_id, first_name=name.split()[-1], language_code="vi")
    for user_id, name in PEOPLE:
        for words in ("/start", f"Cơ sở {name.split()[-1]} số {user_id}", name, f"0912 345 {user_id % 1000:03d}"):
            await server.send_text(user_id, words)
    for user_id, _name in PEOPLE:
        await server.wait_for(user_id, lambda e: "long xuyen" in (e["message"].get("text") or ""), timeout=60)
    saved = await forms(database)
    for user_id, name in PEOPLE:
        assert saved[user_id]["step"] == "commune", saved[user_id]
        assert saved[user_id]["facility_name"] == f"Cơ sở {name.split()[-1]} số {user_id}"
        assert saved[user_id]["owner_name"] == name
        assert saved[user_id]["phone"].endswith(f"345{user_id % 1000:03d}")


async def phase_two(server: SandboxServer, database: str) -> None:
    """After the kill: everyone's next answer is still handled (by the process left), none lost."""
    marks = {user_id: server.last_seq() for user_id, _name in PEOPLE}
    for user_id, _name in PEOPLE:
        await server.send_text(user_id, "long xuyen")
    for user_id, _name in PEOPLE:
        await server.wait_for(user_id, after=marks[user_id], timeout=60)
    saved = await forms(database)
    assert {user_id: saved[user_id]["step"] for user_id, _n in PEOPLE} == {u: "sector" for u, _n in PEOPLE}


async def one_leader(http: aiohttp.ClientSession, webs: list[WebProcess]) -> tuple[WebProcess, WebProcess]:
    """(the leader, the standby): exactly one says it leads, the other knows a leader; only the leader ticks."""
    async def settled() -> list[dict[str, Any]] | None:
        states = [await w.health(http) for w in webs]
        if any(s is None for s in states):
            return None
        leaders = sorted(s["scheduler_leader"] for s in states)  # type: ignore[index]
        return states if leaders == ["another process", "this process"] else None

    states = await until(settled)
    leader = webs[0] if states[0]["scheduler_leader"] == "this process" else webs[1]
    standby = webs[1] if leader is webs[0] else webs[0]
    await until(lambda: _ticked(http, leader, 0))
    assert await standby.ticks(http) == 0
    return leader, standby


async def _leads(http: aiohttp.ClientSession, web: WebProcess) -> bool:
    state = await web.health(http)
    return state is not None and state["scheduler_leader"] == "this process"


async def _ticked(http: aiohttp.ClientSession, web: WebProcess, before: float) -> bool:
    return await web.ticks(http) > before
