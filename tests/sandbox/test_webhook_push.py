"""The sandbox Bot API server in webhook mode: after setWebhook it POSTs each update with the secret header
(one chat's in order, the next once the previous was answered), refuses getUpdates, and tries a failed POST
again on the next address behind its simulated load balancer."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from bot.sandbox.server import SandboxServer
from bot.sandbox.webhook import SECRET_HEADER

TOKEN = "123456:sandbox-hook"


ARRIVED: dict[str, asyncio.Event] = {}  # "post": set by every POST a listener receives (one per test's loop)


async def listener(received: list[tuple[str, dict]], status: int = 200) -> tuple[web.AppRunner, str]:
    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get(SECRET_HEADER, ""), json.loads(await request.read())))
        ARRIVED["post"].set()
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]


async def call(server: SandboxServer, method: str, **params: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, \
            http.post(f"{server.base_url}/bot{TOKEN}/{method}", json=params) as response:
        return response.status, await response.json()


async def until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Woken by each POST received, until `condition()` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            ARRIVED["post"].clear()
            await ARRIVED["post"].wait()


@pytest.fixture
async def server():  # type: ignore[no-untyped-def]
    ARRIVED["post"] = asyncio.Event()
    srv = SandboxServer(bot_token=TOKEN, web=False)
    await srv.start()
    yield srv
    await srv.stop()


async def test_updates_are_posted_in_order_with_the_secret_and_getupdates_is_refused(server: SandboxServer) -> None:
    received: list[tuple[str, dict]] = []
    runner, url = await listener(received)
    try:
        await server.send_text(11, "before the webhook")  # waiting for getUpdates: delivered once it is set
        assert await call(server, "setWebhook", url=url, secret_token="s3cret_-x") == (200,
                                                                                       {"ok": True, "result": True})
        for n in range(5):
            await server.send_text(11, f"m{n}")
        await until(lambda: len(received) == 6)
        assert [u["message"]["text"] for _s, u in received] == ["before the webhook", "m0", "m1", "m2", "m3", "m4"]
        assert {secret for secret, _u in received} == {"s3cret_-x"}
        status, body = await call(server, "getUpdates")
        assert status == 409 and "webhook is active" in body["description"]
        assert (await call(server, "setWebhook", url=url, secret_token="bad secret!"))[0] == 400
        await call(server, "deleteWebhook")
        await server.send_text(11, "polled")
        assert [u["message"]["text"] for u in (await call(server, "getUpdates"))[1]["result"]] == ["polled"]
    finally:
        await runner.cleanup()


async def test_a_refused_post_goes_to_the_next_address_and_nothing_is_lost(server: SandboxServer) -> None:
    dead: list[tuple[str, dict]] = []
    alive: list[tuple[str, dict]] = []
    dead_runner, dead_url = await listener(dead, status=502)
    alive_runner, alive_url = await listener(alive)
    server.webhook_targets = [dead_url, alive_url]
    try:
        await call(server, "setWebhook", url="https://bot.example.vn/webhook/telegram", secret_token="abc")
        for n in range(4):
            await server.send_text(20 + n, f"person {n}")
        await until(lambda: len(alive) == 4)
        assert sorted(u["message"]["text"] for _s, u in alive) == [f"person {n}" for n in range(4)]
        assert server.webhook is not None and server.webhook.failures == len(dead) > 0
    finally:
        await dead_runner.cleanup()
        await alive_runner.cleanup()


async def test_a_post_cut_off_by_a_killed_process_is_delivered_again_on_the_next_address(
        server: SandboxServer) -> None:
    cut: list[dict] = []
    alive: list[tuple[str, dict]] = []

    async def killed(request: web.Request) -> web.Response:
        cut.append(json.loads(await request.read()))  # read, perhaps handled, and never answered
        assert request.transport is not None
        request.transport.close()
        ARRIVED["post"].set()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", killed)
    dead_runner = web.AppRunner(app)
    await dead_runner.setup()
    site = web.TCPSite(dead_runner, "127.0.0.1", 0)
    await site.start()
    dead_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
    alive_runner, alive_url = await listener(alive)
    server.webhook_targets = [dead_url, alive_url]
    try:
        await call(server, "setWebhook", url="https://bot.example.vn/webhook/telegram", secret_token="abc")
        for n in range(6):
            await server.send_text(30 + n % 3, f"message {n}")
        await until(lambda: len(alive) == 6)
        # Every update the dead address took is delivered again, at once to the next address; each arrives
        # there once, and one person's in the order they were sent.
        assert cut and {u["update_id"] for u in cut} <= {u["update_id"] for _s, u in alive}
        assert len({u["update_id"] for _s, u in alive}) == 6
        for person in (30, 31, 32):
            theirs = [u["message"]["text"] for _s, u in alive if u["message"]["chat"]["id"] == person]
            assert theirs == sorted(theirs)
        assert server.webhook is not None and server.webhook.failures == len(cut)
    finally:
        await dead_runner.cleanup()
        await alive_runner.cleanup()
