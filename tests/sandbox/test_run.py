"""`python -m bot sandbox`: a taken port, the ready line, and the port bound before any data is touched."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from bot.config import Settings
from bot.sandbox.run import TOKEN, PortTaken, sandbox


@pytest.mark.process
async def test_a_taken_port_is_one_line_and_the_other_sandboxs_database_is_untouched(tmp_path: Path) -> None:
    running = tmp_path / "sandbox-data" / "sandbox.db"
    running.parent.mkdir()
    running.write_bytes(b"the running sandbox's data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "sandbox", "--port", str(port), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
    assert proc.returncode != 0
    assert out == b""
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and f"--port {port + 1}" in lines[0] and str(port) in lines[0], lines
    assert running.read_bytes() == b"the running sandbox's data"


async def test_a_taken_port_stops_before_the_data_folder_is_touched(tmp_path: Path) -> None:
    folder = tmp_path / "sandbox-data"
    folder.mkdir()
    (folder / "sandbox.db").write_bytes(b"keep me")
    started: list[Settings] = []

    async def bot(settings: Settings, **_: Any) -> None:
        started.append(settings)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortTaken, match="--port"):
            await sandbox("127.0.0.1", taken.getsockname()[1], str(folder), bot=bot, say=lambda _t: None)
    assert started == [] and (folder / "sandbox.db").read_bytes() == b"keep me"


async def test_the_address_is_printed_only_once_the_bot_polls(tmp_path: Path) -> None:
    said: list[str] = []
    announced = asyncio.Event()
    in_bot, poll_now = asyncio.Event(), asyncio.Event()

    def say(text: str) -> None:
        said.append(text)
        if "ready" in text:
            announced.set()

    async def bot(settings: Settings, **_: Any) -> None:
        """Stands in for the bot: starts, then (when the test says) makes its first getUpdates."""
        in_bot.set()
        await poll_now.wait()
        async with ClientSession() as http:
            await http.post(f"{settings.telegram_api_base}/bot{TOKEN}/getUpdates", json={"timeout": 0})
        await asyncio.Event().wait()  # polls until cancelled (Ctrl-C)

    task = asyncio.create_task(sandbox("127.0.0.1", 0, str(tmp_path / "data"), bot=bot, say=say))
    await in_bot.wait()
    assert not any("ready" in t for t in said), said  # the server listens, but no bot answers yet
    poll_now.set()
    await announced.wait()
    ready = [t for t in said if "ready" in t]
    assert len(ready) == 1 and "http://127.0.0.1:" in ready[0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
