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
from bot.sandbox.run import TOKEN, ZALO_TOKEN, PortTaken, sandbox


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


async def test_the_sandbox_settings_run_zalo_against_its_own_zalo_server(tmp_path: Path) -> None:
    seen: list[Settings] = []

    async def bot(settings: Settings, **_: Any) -> None:
        seen.append(settings)
        # The Zalo server answers with the sandbox's Zalo token.
        async with ClientSession() as http, http.post(f"{settings.zalo_api_base}/bot{ZALO_TOKEN}/getMe") as answer:
            assert (await answer.json())["ok"] is True

    await sandbox("127.0.0.1", 0, str(tmp_path / "data"), bot=bot, say=lambda _t: None)
    (settings,) = seen
    assert settings.channels() == ["telegram", "zalo"] and settings.zalo_mode == "polling"
    assert settings.zalo_bot_token is not None and settings.zalo_bot_token.get_secret_value() == ZALO_TOKEN


async def test_zalo_personas_in_the_web_chat_are_served_as_text(sqlite_engine, clock) -> None:
    """The seeded Zalo owner types /needs in the web chat: the bot answers through the Zalo server, as text."""
    from bot.app import create_app
    from bot.channels.zalo.client import ZaloClient
    from bot.channels.zalo.runner import ZaloChannel
    from bot.runner import seed_if_empty
    from bot.sandbox.run import personas, start_zalo
    from bot.sandbox.server import SandboxServer
    from bot.seed import ZALO_CTV, ZALO_OWNER
    from tests.conftest import make_settings

    server = SandboxServer(bot_token=TOKEN, personas=personas())
    await server.start()
    zalo = server.zalo = await start_zalo("127.0.0.1")
    app = create_app(make_settings(), sqlite_engine, clock=clock)
    assert await seed_if_empty(app)
    client = ZaloClient(ZALO_TOKEN, base=zalo.base_url)
    channel = ZaloChannel(client, app.pipeline, poll_timeout=5)
    polling = asyncio.create_task(channel.run_polling())
    try:
        async with ClientSession() as http:
            listed = await (await http.get(f"{server.base_url}/sandbox/api/personas")).json()
            on_zalo = [p for p in listed["personas"] if p["channel"] == "zalo"]
            assert {p["zalo_id"] for p in on_zalo} >= {ZALO_OWNER.zalo_id, ZALO_CTV.zalo_id}
            assert all(p["channel"] == "telegram" for p in listed["personas"] if p["id"] in server.users)
            sent = await http.post(f"{server.base_url}/sandbox/api/zalo/send",
                                   json={"user": ZALO_OWNER.zalo_id, "text": "/needs"})
            assert sent.status == 200
            too_long = await http.post(f"{server.base_url}/sandbox/api/zalo/send",
                                       json={"user": ZALO_OWNER.zalo_id, "text": "x" * 2001})
            assert too_long.status == 400
            replies: list[dict[str, Any]] = []
            after = 0
            while not any(e["kind"] == "message" for e in replies):
                got = await (await http.get(f"{server.base_url}/sandbox/api/zalo/events",
                                            params={"user": ZALO_OWNER.zalo_id, "after": after, "wait": 10})).json()
                assert got["events"], "no answer within 10 s"
                after = got["events"][-1]["seq"]
                replies += got["events"]
        assert replies[0]["kind"] == "user" and replies[0]["text"] == "/needs" and replies[0]["date"] > 0
        answer = next(e for e in replies if e["kind"] == "message")
        assert "NC-" in answer["text"] and "<b>" not in answer["text"] and len(answer["text"]) <= 2000
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await channel.stop()
        await client.close()
        await zalo.stop()
        await server.stop()


async def test_the_consoles_address_takes_connections_from_the_moment_it_is_chosen() -> None:
    """The console's address is printed before uvicorn serves it: a browser opened on it at once must wait for
    the answer, not be refused."""
    from bot.web.run import free_socket

    sock = free_socket("127.0.0.1")
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        writer.close()
        await writer.wait_closed()
    finally:
        sock.close()
