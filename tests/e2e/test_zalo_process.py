"""`python -m bot` with only a Zalo token: the bot as a separate process, long polling the sandbox's Zalo
server, answering by typed numbers; and the one line when Zalo refuses the token."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from bot.sandbox.limits import RateLimits
from bot.sandbox.zalo import ZaloSandbox
from tests.e2e.harness import terminate
from tests.e2e.test_startup import ROOT, bot_cli, clean_env

ZALO_TOKEN = "1234567890:zalo-e2e-secret"


@pytest.fixture
async def zalo() -> AsyncIterator[ZaloSandbox]:
    server = ZaloSandbox(bot_token=ZALO_TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    yield server
    await server.stop()


async def test_a_person_registers_on_zalo_by_typing(zalo: ZaloSandbox, tmp_path) -> None:
    env = clean_env(tmp_path, ZALO_BOT_TOKEN=ZALO_TOKEN, ZALO_API_BASE=zalo.base_url, TICK_SECONDS="0.3")
    log = (tmp_path / "bot.log").open("wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=log,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        started = asyncio.create_task(zalo.polling.wait())
        exited = asyncio.create_task(proc.wait())
        done, _ = await asyncio.wait({started, exited}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        assert started in done, (tmp_path / "bot.log").read_text()[-3000:]
        exited.cancel()

        async def say(text: str) -> str:
            mark = zalo.last_seq("9a8b7c")
            await zalo.send_text("9a8b7c", text)
            return (await zalo.wait_for("9a8b7c", after=mark, timeout=30))["text"]

        zalo.user("9a8b7c", "Nguyễn Thị Lan")
        assert "đăng ký cơ sở" in await say("chào")
        assert "chủ cơ sở" in await say("Cơ sở nước mắm Hưng Thịnh")
        assert "số điện thoại" in (await say("Nguyễn Thị Lan")).lower()
    finally:
        await terminate(proc)
        log.close()
    assert proc.returncode == 0, (tmp_path / "bot.log").read_text()[-3000:]
    assert ZALO_TOKEN.split(":")[1] not in (tmp_path / "bot.log").read_text()


async def test_a_refused_zalo_token_is_one_line(zalo: ZaloSandbox, tmp_path) -> None:
    code, lines, output = await bot_cli(tmp_path, ZALO_BOT_TOKEN="1234567890:wrong-secret",
                                        ZALO_API_BASE=zalo.base_url)
    assert (code, lines) == (1, ["Zalo refused the token (ZALO_BOT_TOKEN): check it in Zalo Bot Creator"])
    assert "wrong-secret" not in output


async def test_zalo_refusing_the_token_next_to_telegram_stops_the_process_with_status_1(
        zalo: ZaloSandbox, server, tmp_path) -> None:
    """Both channels in one process: Zalo revoking the token mid-run stops the whole process with its one
    line and a non-zero status (a supervisor restarts it and an operator sees why), Telegram's polling ending
    cleanly first."""
    from collections import deque

    from tests.e2e.harness import BotProcess

    bot = BotProcess(server, tmp_path, ZALO_BOT_TOKEN=ZALO_TOKEN, ZALO_API_BASE=zalo.base_url)
    await bot.start()
    try:
        await asyncio.wait_for(zalo.polling.wait(), 60)
        zalo.next_errors["getUpdates"] = deque([401])
        await zalo.send_text("cafe02", "chào")  # answers the open poll; the next one meets the 401
        assert bot.proc is not None
        code = await asyncio.wait_for(bot.proc.wait(), 60)
    finally:
        await bot.stop()
    log = bot.log.read_text(errors="replace")
    assert code == 1, log[-3000:]
    assert log.splitlines()[-1].endswith("Zalo refused the token (ZALO_BOT_TOKEN): check it in Zalo Bot Creator")
    assert "Traceback" not in log and ZALO_TOKEN.split(":")[1] not in log
