"""Contract tests: our Zalo Bot Platform client against the sandbox's Zalo server, which behaves as
Zalo's documents say (one update per poll, 408 when empty, 2,000-character texts, no buttons)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.channels.zalo.client import (
    ZaloBadRequest,
    ZaloClient,
    ZaloDeliveryUnknown,
    ZaloError,
    ZaloNotSent,
    ZaloRateLimited,
    ZaloUnauthorized,
    ZaloUnreachable,
    parse_update,
)
from bot.channels.zalo.inbound import RecentIds, WebhookRefused, accept_webhook, event_of
from bot.conversation.events import CommandEvent, MediaEvent, TextEvent, UnsupportedEvent
from bot.sandbox.limits import RateLimits
from bot.sandbox.zalo import ZaloSandbox

TOKEN = "1234567890:very-secret-part"
SECRET = "very-secret-part"


@pytest.fixture
async def zalo() -> AsyncIterator[ZaloSandbox]:
    server = ZaloSandbox(bot_token=TOKEN, limits=RateLimits(enabled=False))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(zalo: ZaloSandbox) -> AsyncIterator[ZaloClient]:
    c = ZaloClient(TOKEN, base=zalo.base_url, timeout=10)
    yield c
    await c.close()


async def test_get_me_and_a_wrong_token_without_leaking_it(zalo: ZaloSandbox, client: ZaloClient) -> None:
    assert (await client.get_me())["id"] == "1234567890"
    wrong = ZaloClient("1234567890:" + "x" * 20, base=zalo.base_url)
    with pytest.raises(ZaloUnauthorized) as err:
        await wrong.get_me()
    await wrong.close()
    assert "x" * 20 not in str(err.value) and "401" in str(err.value)
    assert SECRET not in repr(client)


async def test_get_updates_hands_out_one_update_at_a_time_in_order(zalo: ZaloSandbox, client: ZaloClient) -> None:
    lan = zalo.user("a1b2c3", "Nguyễn Thị Lan")
    await zalo.send_text(lan.id, "chào")
    await zalo.send_text(lan.id, "/start abc")
    first, second = await client.get_updates(timeout=0), await client.get_updates(timeout=0)
    assert (first.text, second.text) == ("chào", "/start abc")
    assert (first.sender_id, first.display_name, first.chat_type) == ("a1b2c3", "Nguyễn Thị Lan", "PRIVATE")
    assert await client.get_updates(timeout=0) is None  # HTTP 408: nothing new, not an error
    assert zalo.stats["408"] == 1


async def test_texts_over_2000_characters_are_refused(zalo: ZaloSandbox, client: ZaloClient) -> None:
    zalo.user("u1").has_written = True
    await client.send_message("u1", "x" * 2000)
    with pytest.raises(ZaloBadRequest):
        await client.send_message("u1", "x" * 2001)
    with pytest.raises(ZaloBadRequest):  # the server refuses it too, whatever a client does
        await client.call("sendMessage", {"chat_id": "u1", "text": "x" * 2001})
    with pytest.raises(ZaloBadRequest):  # and methods Zalo does not have
        await client.call("editMessageText", {"chat_id": "u1", "text": "x"})
    assert zalo.bot_texts("u1") == ["x" * 2000]


async def test_people_who_never_wrote_or_blocked_the_bot_are_unreachable(zalo: ZaloSandbox,
                                                                          client: ZaloClient) -> None:
    zalo.user("silent")
    with pytest.raises(ZaloUnreachable):
        await client.send_message("silent", "xin chào")
    await zalo.send_text("gone", "hi")
    zalo.set_blocked("gone")
    with pytest.raises(ZaloUnreachable):
        await client.send_message("gone", "xin chào")


@pytest.mark.parametrize(("fault", "error"), [
    ({"next_429": 1}, ZaloRateLimited),
    ({"next_5xx": 1}, ZaloNotSent),
    ({"next_drop": 1}, ZaloDeliveryUnknown),
])
async def test_faults_map_onto_what_the_sender_must_do(zalo: ZaloSandbox, client: ZaloClient, fault: dict,
                                                       error: type[ZaloError]) -> None:
    await zalo.send_text("u2", "hi")
    zalo.faults.update(fault)
    with pytest.raises(error) as err:
        await client.send_message("u2", "tin nhắn")
    assert SECRET not in str(err.value)
    await client.send_message("u2", "tin nhắn")  # the fault was one-off
    assert zalo.bot_texts("u2") == ["tin nhắn"]


async def test_a_slow_answer_is_delivery_unknown_and_a_closed_port_is_not_sent(zalo: ZaloSandbox) -> None:
    await zalo.send_text("u3", "hi")
    zalo.faults.update({"latency_ms": 2000})
    impatient = ZaloClient(TOKEN, base=zalo.base_url, timeout=0.2)
    with pytest.raises(ZaloDeliveryUnknown):
        await impatient.send_message("u3", "có thể đã tới")
    await impatient.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nowhere = ZaloClient(TOKEN, base=f"http://127.0.0.1:{port}")
    with pytest.raises(ZaloNotSent) as err:
        await nowhere.send_message("u3", "x")
    await nowhere.close()
    assert "cannot reach 127.0.0.1" in str(err.value) and SECRET not in str(err.value)


async def test_webhook_and_polling_exclude_each_other(zalo: ZaloSandbox, client: ZaloClient) -> None:
    with pytest.raises(ZaloBadRequest):
        await client.set_webhook("https://kc.example.vn/zalo", "short")
    await client.set_webhook("https://kc.example.vn/zalo", "s" * 16)
    assert (await client.get_webhook_info())["url"] == "https://kc.example.vn/zalo"
    with pytest.raises(ZaloBadRequest):
        await client.get_updates(timeout=0)
    await client.delete_webhook()
    assert await client.get_updates(timeout=0) is None


async def test_stopping_answers_an_open_long_poll_at_once() -> None:
    server = ZaloSandbox(bot_token=TOKEN)
    await server.start()
    poller = ZaloClient(TOKEN, base=server.base_url)
    poll = asyncio.create_task(poller.get_updates(timeout=50))
    await server.polling.wait()
    await server.stop()
    assert await asyncio.wait_for(poll, 20) is None  # long before the 50 s poll would have ended
    await poller.close()


@pytest.mark.parametrize("wrap", [False, True])
async def test_webhook_posts_are_checked_parsed_and_deduplicated(zalo: ZaloSandbox, client: ZaloClient,
                                                                 wrap: bool) -> None:
    received: list[str] = []
    refused: list[int] = []
    seen = RecentIds()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            update = accept_webhook(body, request.headers.get("X-Bot-Api-Secret-Token"), "s" * 16, seen)
        except WebhookRefused:
            refused.append(1)
            return web.Response(status=403)
        if update is not None:
            received.append(update.text or "")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/zalo", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/zalo"
    zalo.wrap_webhook = wrap
    await client.set_webhook(url, "s" * 16)
    await zalo.send_text("w1", "một")
    await zalo.send_text("w1", "hai")
    await zalo.flush_webhooks()
    assert received == ["một", "hai"]
    # A retried POST (same message_id) is handled once; a wrong secret is refused and not processed.
    update = {"event_name": "message.text.received", "message": {
        "from": {"id": "w1", "display_name": "W"}, "chat": {"id": "w1", "chat_type": "PRIVATE"},
        "message_id": "m-1", "text": "ba", "date": 1}}
    body = json.dumps(update).encode()
    assert accept_webhook(body, "s" * 16, "s" * 16, seen) is not None
    assert accept_webhook(body, "s" * 16, "s" * 16, seen) is None
    with pytest.raises(WebhookRefused):
        accept_webhook(body, "wrong-secret", "s" * 16, seen)
    with pytest.raises(WebhookRefused):
        accept_webhook(body, None, "s" * 16, seen)
    await runner.cleanup()


def test_updates_become_events() -> None:
    def update(event: str, **message: object) -> dict:
        return {"event_name": event, "message": {"from": {"id": "z9", "display_name": "Ba\u0000 Tư\n"},
                                                 "chat": {"id": "z9", "chat_type": "PRIVATE"},
                                                 "message_id": "1", **message}}

    text = event_of(parse_update(update("message.text.received", text="toi muon vay von")))
    assert text.action == TextEvent("toi muon vay von") and text.who.display_name == "Ba Tư"
    assert text.who.address == "zalo:z9"
    command = event_of(parse_update(update("message.text.received", text="/start  MA-123 ")))
    assert command.action == CommandEvent("start", "MA-123")
    photo = parse_update({"ok": True, "result": update("message.image.received", photo_url="https://x/y.jpg",
                                                       caption="máy sấy")})
    assert photo.photo_url == "https://x/y.jpg"
    assert event_of(photo, media_ref="m-7").action == MediaEvent("m-7", "photo", None, "máy sấy")
    assert event_of(photo).action == UnsupportedEvent("image")  # not kept: never a dead URL in a flow
    assert event_of(parse_update(update("message.location.received"))).action == UnsupportedEvent("location")
    group = update("message.text.received", text="hi")
    group["message"]["chat"]["chat_type"] = "GROUP"
    assert event_of(parse_update(group)).action == UnsupportedEvent("group")
    assert parse_update({"ok": True, "result": {}}) is None and parse_update("garbage") is None
