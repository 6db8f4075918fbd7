"""The Zalo channel in webhook mode and under Zalo's documented errors, against the sandbox's Zalo server:
a webhook answered at once and handled in order, a wrong secret refused, 429/5xx backed off (the sleep is
injected and recorded, never slept), 401 stopping, 403 leaving the others served, no token in any log."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.zalo.client import ZaloClient, ZaloUnauthorized
from bot.channels.zalo.runner import ZaloChannel, backoff
from bot.clock import FakeClock
from bot.sandbox.limits import RateLimits
from bot.sandbox.zalo import ZaloSandbox
from tests.conftest import make_settings

TOKEN = "1234567890:zalo-modes-secret"
SECRET_PART = "zalo-modes-secret"
HOOK_SECRET = "hook-secret-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sleeps:
    """An injected sleep: records what the channel would wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def parts(sqlite_engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[tuple[ZaloSandbox, ZaloChannel, Sleeps]]:
    server = ZaloSandbox(bot_token=TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    app = create_app(make_settings(), sqlite_engine, clock=clock)
    assert app.pipeline is not None
    client = ZaloClient(TOKEN, base=server.base_url)
    sleeps = Sleeps()
    channel = ZaloChannel(client, app.pipeline, poll_timeout=5, sleep=sleeps)
    yield server, channel, sleeps
    await channel.stop()
    await client.close()
    await server.stop()


async def say(server: ZaloSandbox, user: str, text: str) -> str:
    mark = server.last_seq(user)
    await server.send_text(user, text)
    return (await server.wait_for(user, after=mark, timeout=15))["text"]


async def post(url: str, body: object, secret: str | None) -> int:
    headers = {"X-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, data=json.dumps(body), headers=headers) as response:
        return response.status


def update(user: str, message_id: str, text: str) -> dict:
    return {"event_name": "message.text.received", "message": {
        "from": {"id": user, "display_name": "Ba"}, "chat": {"id": user, "chat_type": "PRIVATE"},
        "message_id": message_id, "text": text, "date": 1}}


@pytest.mark.parametrize("wrap", [False, True])
async def test_webhook_mode_serves_people_in_order_and_refuses_a_wrong_secret(parts, wrap: bool) -> None:
    server, channel, _sleeps = parts
    server.wrap_webhook = wrap
    port = free_port()
    url = f"http://127.0.0.1:{port}/zalo-hook"
    running = asyncio.create_task(channel.run_webhook(url, HOOK_SECRET, host="127.0.0.1", port=port))
    await asyncio.wait_for(server.listening.wait(), 15)
    assert server.webhook == (url, HOOK_SECRET) and not server.polling.is_set()

    assert "1. ✅ Hội chợ" in await say(server, "c0ffee", "/subscriptions")
    # Two messages at once from one person: handled in the order sent.
    mark = server.last_seq("c0ffee")
    await server.send_text("c0ffee", "1")
    await server.send_text("c0ffee", "/subscriptions")
    await server.flush_webhooks()
    saved = await server.wait_for("c0ffee", after=mark, timeout=15)
    listing = await server.wait_for("c0ffee", after=saved["seq"], timeout=15)
    final = await server.wait_for("c0ffee", lambda e: "Hội chợ" in e["text"] and e["seq"] > listing["seq"],
                                  after=listing["seq"], timeout=15)
    assert saved["text"] == "Đã lưu." and "1. ⬜ Hội chợ" in final["text"]

    # A wrong or missing secret: 403 and nothing handled. A retried POST: handled once.
    server.user("bad1").has_written = True
    body = {"ok": True, "result": update("bad1", "m-77", "/help")} if wrap else update("bad1", "m-77", "/help")
    assert await post(url, body, "wrong-secret!") == 403
    assert await post(url, body, None) == 403
    assert server.events("bad1") == []
    assert await post(url, body, HOOK_SECRET) == 200
    # The 200 comes once the update is handled and answered: a process killed before loses nothing.
    assert len(server.events("bad1")) == 1
    assert await post(url, body, HOOK_SECRET) == 200
    await channel.stop()
    await running
    assert len(server.events("bad1")) == 1  # one answer for two POSTs of one message


async def test_polling_backs_off_on_429_and_5xx_then_serves(parts) -> None:
    """Zalo's errors at start-up and while polling: waited out, then the person is served."""
    server, channel, sleeps = parts
    server.next_errors["deleteWebhook"] = deque([502])
    server.next_errors["getMe"] = deque([429])
    server.next_errors["getUpdates"] = deque([429, 502, 429, 503, 429, 500, 429])
    polling = asyncio.create_task(channel.run_polling())
    assert "1. ✅ Hội chợ" in await say(server, "d00d", "/subscriptions")
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    # Start-up calls are retried too; capped exponential: never 0 (no busy loop), doubling, at most 30 s.
    assert sleeps.waits == [1.0, 1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert [backoff(n) for n in (1, 2, 10, 100)] == [1.0, 2.0, 30.0, 30.0]


async def test_a_refused_token_stops_polling_without_leaking_it(parts, caplog) -> None:
    server, channel, _sleeps = parts
    caplog.set_level(logging.DEBUG)
    server.next_errors["getUpdates"] = deque([502, 401])
    with pytest.raises(ZaloUnauthorized) as exc:
        await asyncio.wait_for(channel.run_polling(), 15)
    assert SECRET_PART not in str(exc.value) and SECRET_PART not in caplog.text
    # A failing call that names the URL (a bad address) does not show the token either.
    broken = ZaloClient(TOKEN, base="http://127.0.0.1:1")
    with pytest.raises(Exception) as refused:
        await broken.send_message("abc", "x")
    await broken.close()
    assert SECRET_PART not in str(refused.value) and SECRET_PART not in caplog.text
    assert "1234567890" in str(exc.value) or "Unauthorized" in str(exc.value)


async def test_replies_retry_429_and_skip_an_unreachable_person(parts, caplog) -> None:
    server, channel, sleeps = parts
    caplog.set_level(logging.INFO, logger="bot.channels.zalo.runner")
    polling = asyncio.create_task(channel.run_polling())
    server.faults.next_429 = 2  # Zalo's 429 carries no retry_after
    assert "Hội chợ" in await say(server, "e1e1", "/subscriptions")
    assert sleeps.waits == [1.0, 2.0]
    # Someone who blocked the bot meanwhile: their reply is dropped (403), and others are still served.
    server.user("f0f0").has_written = True
    server.set_blocked("f0f0")
    await server.send_text("f0f0", "/help")
    assert "Hội chợ" in await say(server, "e1e1", "/subscriptions")
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    await channel.stop()  # the updates under way (f0f0's may finish after e1e1's) are handled
    assert server.stats["403"] >= 1 and "cannot be messaged" in caplog.text


async def test_webhook_start_up_retries_a_5xx_and_a_refused_token_stops(parts) -> None:
    server, channel, sleeps = parts
    server.next_errors["setWebhook"] = deque([503])
    port = free_port()
    running = asyncio.create_task(channel.run_webhook(f"http://127.0.0.1:{port}/z", HOOK_SECRET, port=port))
    await asyncio.wait_for(server.listening.wait(), 15)
    assert sleeps.waits == [1.0] and server.webhook is not None
    await channel.stop()
    await running
    other = ZaloChannel(channel.client, channel.pipeline, sleep=sleeps)
    server.next_errors["getMe"] = deque([401])
    with pytest.raises(ZaloUnauthorized):
        await other.run_webhook(f"http://127.0.0.1:{port}/z", HOOK_SECRET, port=port)


async def test_a_webhook_url_zalo_refuses_stops_with_one_line(parts) -> None:
    from bot.runner import ZaloStopped, serve_zalo

    _server, channel, _sleeps = parts
    settings = make_settings(zalo_bot_token=TOKEN, zalo_mode="webhook", zalo_webhook_url="http://example.invalid/z",
                             zalo_webhook_secret=HOOK_SECRET, webhook_port=free_port())
    with pytest.raises(ZaloStopped) as stopped:
        await serve_zalo(channel, settings)
    message = str(stopped.value)
    assert "url must be an HTTPS address" in message and "ZALO_WEBHOOK_URL" in message
    assert "\n" not in message and SECRET_PART not in message
