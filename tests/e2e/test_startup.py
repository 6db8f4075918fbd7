"""What an operator sees when `python -m bot` cannot start: one line naming the setting, a non-zero
exit, no traceback and no "Unclosed client session"; and what it says when it can."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import Settings
from bot.sandbox.server import SandboxServer
from storage.db import create_engine
from storage.migrate import head_revision
from tests.e2e.harness import TOKEN, Person

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_DATABASE_URL")
# INFO log lines are what is happening; anything else on stderr (a warning, a traceback) is noise.
INFO = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """No setting from the machine running the tests; a SQLite database of the test's own."""
    base = {k: v for k, v in os.environ.items() if k.upper() not in {n.upper() for n in Settings.model_fields}}
    return {**base, "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'kc.db'}", **env}


async def bot_cli(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[str], str]:
    """Run `python -m bot …` in an empty folder; (exit status, stderr lines other than INFO, all output)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=tmp_path,
                                                env=clean_env(tmp_path, **env), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    stderr = err.decode()
    return proc.returncode or 0, [line for line in stderr.splitlines() if not INFO.match(line)], out.decode() + stderr


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
async def test_an_unreachable_database_is_one_line_with_host_and_port_and_no_password(tmp_path, scheme) -> None:
    port = closed_port()
    url = f"{scheme}://kc:secretpw@127.0.0.1:{port}/kc"
    code, lines, output = await bot_cli(tmp_path, "migrate", DATABASE_URL=url)
    assert (code, lines) == (1, [f"cannot connect to the database at 127.0.0.1:{port} "
                                 f"(DATABASE_URL=postgresql+asyncpg://kc:***@127.0.0.1:{port}/kc): connection refused"])
    assert "secretpw" not in output


async def test_the_bot_itself_stops_with_the_same_line(tmp_path) -> None:
    port = closed_port()
    code, lines, _ = await bot_cli(tmp_path, BOT_TOKEN=TOKEN, DATABASE_URL=f"postgres://kc@127.0.0.1:{port}/kc")
    assert (code, lines) == (1, [f"cannot connect to the database at 127.0.0.1:{port} "
                                 f"(DATABASE_URL=postgresql+asyncpg://kc@127.0.0.1:{port}/kc): connection refused"])


@pytest.mark.skipif(not PG_URL, reason="needs a PostgreSQL server (TEST_DATABASE_URL)")
async def test_a_database_that_does_not_exist_is_one_line(tmp_path) -> None:
    from sqlalchemy.engine import make_url

    server = make_url(PG_URL or "")
    missing = server.set(database="khuyencong_no_such_database", drivername="postgresql")
    code, lines, _ = await bot_cli(tmp_path, "migrate", DATABASE_URL=missing.render_as_string(hide_password=False))
    shown = missing.set(drivername="postgresql+asyncpg").render_as_string(hide_password=True)
    assert (code, lines) == (1, [f"the database at {server.host}:{server.port or 5432} (DATABASE_URL={shown}) "
                                 'refused the connection: database "khuyencong_no_such_database" does not exist'])


async def test_an_unsupported_database_is_refused_before_anything_starts(tmp_path) -> None:
    code, lines, output = await bot_cli(tmp_path, "migrate", DATABASE_URL="mysql://kc:secretpw@db/kc")
    assert (code, lines) == (2, ["Configuration error: DATABASE_URL must be a PostgreSQL (postgresql://…, "
                                 "postgres://…) or SQLite (sqlite:///…) URL"])
    assert "secretpw" not in output


async def test_migrate_needs_no_token_and_brings_the_database_to_the_latest_revision(tmp_path) -> None:
    code, lines, output = await bot_cli(tmp_path, "migrate")
    assert (code, lines) == (0, [])
    assert "aiogram" not in output
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kc.db'}")
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == head_revision()
    await engine.dispose()


@pytest.mark.parametrize("command", [[], ["run"], ["deliver"]])
async def test_commands_that_talk_to_a_channel_need_a_token(tmp_path, command) -> None:
    code, lines, _ = await bot_cli(tmp_path, *command)
    assert (code, lines) == (2, ["Configuration error: no channel is configured: set BOT_TOKEN (Telegram) "
                                 "and/or ZALO_BOT_TOKEN (Zalo), see .env.example"])


async def test_the_env_example_placeholder_is_refused(tmp_path) -> None:
    code, lines, _ = await bot_cli(tmp_path, BOT_TOKEN="123456789:replace-with-your-token")
    assert (code, lines) == (2, ["Configuration error: BOT_TOKEN is still the placeholder from .env.example: "
                                 "put your token from @BotFather"])


@pytest.mark.parametrize("command", [["run"], ["deliver"]])
async def test_a_refused_token_is_one_line(tmp_path, command) -> None:
    server = SandboxServer(bot_token=TOKEN, web=False)
    base = await server.start()
    try:
        code, lines, output = await bot_cli(tmp_path, *command, BOT_TOKEN="123456789:not-the-right-one",
                                            TELEGRAM_API_BASE=base)
    finally:
        await server.stop()
    assert (code, lines) == (1, ["Telegram refused the token (BOT_TOKEN): check it with @BotFather"])
    assert "not-the-right-one" not in output and "Unclosed" not in output


async def test_no_network_is_one_line(tmp_path) -> None:
    port = closed_port()
    code, lines, output = await bot_cli(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=f"http://127.0.0.1:{port}")
    assert (code, lines) == (1, [f"cannot reach 127.0.0.1:{port} (TELEGRAM_API_BASE): is the network up?"])
    assert "Unclosed" not in output


async def test_start_up_says_what_is_happening_and_on_ready_means_the_bot_answers(tmp_path) -> None:
    from bot.runner import run

    server = SandboxServer(bot_token=TOKEN, web=False)
    base = await server.start()
    ready = asyncio.Event()
    calls: list[bool] = []

    def on_ready() -> None:
        calls.append(server.polling.is_set())
        ready.set()

    settings = Settings(_env_file=None, bot_token=TOKEN, telegram_api_base=base,  # type: ignore[call-arg]
                        database_url=f"sqlite:///{tmp_path / 'kc.db'}")
    task = asyncio.create_task(run(settings, on_ready=on_ready))
    try:
        await asyncio.wait_for(ready.wait(), 120)
        reply = await Person(server, 501).say("/start", timeout=60)
        assert "Tên cơ sở của anh/chị là gì?" in reply["text"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
    assert calls == [False]  # once, as the first getUpdates left


async def test_start_up_log_names_each_step(tmp_path) -> None:
    server = SandboxServer(bot_token=TOKEN, web=False)
    base = await server.start()
    env = clean_env(tmp_path, BOT_TOKEN=TOKEN, TELEGRAM_API_BASE=base)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=tmp_path, env=env,
                                                stderr=asyncio.subprocess.PIPE)
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        while not seen or "polling as @" not in seen[-1]:
            line = (await asyncio.wait_for(proc.stderr.readline(), 120)).decode()
            assert line, "\n".join(seen)
            seen.append(line)
    finally:
        proc.terminate()
        await proc.wait()
        await server.stop()
    steps = [m.group(1) for line in seen if (m := re.search(r"INFO bot\.[\w.]+: (.*)$", line))]
    assert steps[:2] == ["migrating the database…", "database is at the latest revision"]
    assert steps[2:] == ["database ready", f"connecting to Telegram at {base.removeprefix('http://')}…",
                         "polling as @khuyencong_sandbox_bot"]
