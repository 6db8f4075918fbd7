"""A local server speaking the Zalo Bot Platform's wire format, with its limits and faults.

What it enforces, as Zalo does: one update per `getUpdates` with no offset, HTTP 408 on an empty
poll, texts of 1–2,000 characters, no buttons / edits / documents (unknown methods are refused), 403
for people who blocked the bot or never wrote to it, 429 *without* retry_after over the rate, and a
webhook that excludes polling and is POSTed with the `X-Bot-Api-Secret-Token` header. Fault switches
(`Faults`, shared with the Telegram sandbox) add latency, 5xx, dropped connections and 429 storms.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from bot.sandbox.limits import Limiter, RateLimits
from bot.sandbox.server import Faults

log = logging.getLogger(__name__)
MAX_TEXT = 2000
SENDING = {"sendMessage", "sendPhoto", "sendSticker"}


@dataclass
class ZaloUser:
    id: str  # Zalo ids are hex strings
    display_name: str
    blocked: bool = False
    has_written: bool = False  # a bot can message only people who wrote to it
    events: list[dict[str, Any]] = field(default_factory=list)


class ZaloApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


class ZaloSandbox:
    """The Zalo side: the bot calls `/bot<token>/<method>`; tests and the web chat act as people."""

    def __init__(self, *, bot_token: str = "1234567890:zalo-sandbox-secret", limits: RateLimits | None = None,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 wrap_webhook: bool = False) -> None:
        self.token = bot_token
        self.bot_id = bot_token.partition(":")[0]
        self.limiter = Limiter(limits or RateLimits(global_per_s=10, global_burst=10, per_chat_per_s=1,
                                                    per_chat_burst=3), clock)
        self.faults = Faults()
        self.rng = rng or random.Random()
        self.users: dict[str, ZaloUser] = {}
        self.calls: dict[str, int] = {}
        self.stats = {"429": 0, "403": 0, "5xx": 0, "dropped": 0, "408": 0, "webhook_posts": 0}
        self.webhook: tuple[str, str] | None = None  # (url, secret)
        self.wrap_webhook = wrap_webhook  # POST {"ok", "result": update} instead of the bare update
        self.polling = asyncio.Event()
        self.listening = asyncio.Event()  # a bot takes updates: it polls, or it has set a webhook
        # HTTP statuses the next calls of a method answer with, in order (e.g. {"getUpdates": [429, 502, 401]}).
        self.next_errors: dict[str, deque[int]] = {}
        self._queue: deque[dict[str, Any]] = deque()
        self._arrived = asyncio.Condition()
        self._seq = itertools.count(1)
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._http: ClientSession | None = None
        self._pushes: set[asyncio.Task[None]] = set()
        self._changed: dict[str, asyncio.Event] = {}
        self.base_url = ""

    # --- lifecycle ---------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024)
        await site.start()
        self.base_url = f"http://{host}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        """Open long polls are answered at once (408), not waited out."""
        self._stopping.set()
        async with self._arrived:
            self._arrived.notify_all()
        for task in list(self._pushes):
            task.cancel()
        await asyncio.gather(*self._pushes, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- the Bot API --------------------------------------------------------------------------------

    async def _bot_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        self.calls[method] = self.calls.get(method, 0) + 1
        try:
            body = await request.json() if request.can_read_body else {}
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Invalid JSON body")
        params = body if isinstance(body, dict) else {}
        handler = getattr(self, f"_m_{method}", None)
        try:
            if handler is None:
                raise ZaloApiError(404, f"Method {method} not found")
            if method in SENDING:
                await self._faults()
            if self.next_errors.get(method):
                status = self.next_errors[method].popleft()
                raise ZaloApiError(status, {401: "Unauthorized", 429: "Too many requests"}.get(status, "Server error"))
            if method == "getUpdates":
                # A poller that has gone (a killed bot) is handed nothing: its update stays for the next poll.
                transport = request.transport
                result = await self._m_getUpdates(params, alive=lambda: transport is not None and
                                                  not transport.is_closing())
            else:
                result = await handler(params)
        except ZaloApiError as exc:
            return _error(exc.status, exc.description)
        except _Dropped:
            self.stats["dropped"] += 1
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if result is _EMPTY_POLL:
            self.stats["408"] += 1
            return _error(408, "Request timeout")
        return web.json_response({"ok": True, "result": result})

    async def _faults(self) -> None:
        fault = await self.faults.trip(self.rng)
        if fault == "drop":
            raise _Dropped()
        if fault is not None:
            self.stats[fault] += 1
        if fault == "5xx":
            raise ZaloApiError(502, "Bad Gateway")
        if fault == "429":
            raise ZaloApiError(429, "Too many requests")  # Zalo gives no retry_after

    async def _m_getMe(self, p: dict[str, Any]) -> Any:
        return {"id": self.bot_id, "account_name": "bot.KhuyenCongSandbox", "account_type": "BASIC",
                "can_join_groups": False}

    async def _m_getUpdates(self, p: dict[str, Any], alive: Callable[[], bool] = lambda: True) -> Any:
        if self.webhook is not None:
            raise ZaloApiError(400, "Webhook is set; call deleteWebhook before getUpdates")
        self.polling.set()
        self.listening.set()
        try:
            timeout = min(60.0, float(str(p.get("timeout") or "30")))
        except ValueError:
            raise ZaloApiError(400, "timeout must be a number of seconds") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._arrived:
            while not self._queue and not self._stopping.is_set() and alive():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
            if not self._queue or not alive():
                return _EMPTY_POLL
            return self._queue.popleft()  # at most once: there is no offset to confirm it

    async def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        url, secret = str(p.get("url") or ""), str(p.get("secret_token") or "")
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ZaloApiError(400, "url must be an HTTPS address")
        if not 8 <= len(secret) <= 256:
            raise ZaloApiError(400, "secret_token must be 8 to 256 characters")
        self.webhook = (url, secret)
        self.listening.set()
        while self._queue:
            self._push(self._queue.popleft())
        return {"url": url, "updated_at": int(time.time() * 1000)}

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = None
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        return {"url": self.webhook[0] if self.webhook else "", "updated_at": int(time.time() * 1000)}

    def _recipient(self, p: dict[str, Any]) -> ZaloUser:
        user = self.users.get(str(p.get("chat_id") or ""))
        if user is None or not user.has_written:
            raise ZaloApiError(403, "The user has not interacted with the bot")
        if user.blocked:
            self.stats["403"] += 1
            raise ZaloApiError(403, "The user has blocked the bot")
        if self.limiter.check(user.id):  # type: ignore[arg-type]
            self.stats["429"] += 1
            raise ZaloApiError(429, "Too many requests")
        return user

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        text = p.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
            raise ZaloApiError(400, f"text must be 1 to {MAX_TEXT} characters")
        return self._record(self._recipient(p), "message", {"text": text})

    async def _m_sendPhoto(self, p: dict[str, Any]) -> Any:
        photo, caption = p.get("photo"), p.get("caption")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ZaloApiError(400, "photo must be an image URL")
        if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_TEXT):
            raise ZaloApiError(400, f"caption must be at most {MAX_TEXT} characters")
        return self._record(self._recipient(p), "photo", {"photo": photo, "caption": caption or ""})

    async def _m_sendSticker(self, p: dict[str, Any]) -> Any:
        return self._record(self._recipient(p), "sticker", {"sticker": str(p.get("sticker") or "")})

    async def _m_sendChatAction(self, p: dict[str, Any]) -> Any:
        self._recipient(p)
        return True

    def _record(self, user: ZaloUser, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        message_id = secrets.token_hex(10)
        date = int(time.time() * 1000)
        user.events.append({"seq": next(self._seq), "kind": kind, "message_id": message_id, "date": date // 1000,
                            "t": self.limiter.clock(), **content})
        if (woken := self._changed.get(user.id)) is not None:
            woken.set()
        return {"message_id": message_id, "date": date}

    # --- acting as people ------------------------------------------------------------------------

    def user(self, user_id: str | None = None, display_name: str = "Người dùng Zalo") -> ZaloUser:
        user_id = user_id or secrets.token_hex(10)
        if user_id not in self.users:
            self.users[user_id] = ZaloUser(user_id, display_name)
        return self.users[user_id]

    async def send_text(self, user_id: str, text: str) -> str:
        return await self._from_user(user_id, "message.text.received", {"text": text})

    async def send_image(self, user_id: str, url: str, caption: str | None = None) -> str:
        content: dict[str, Any] = {"photo": url}
        if caption:
            content["caption"] = caption
        return await self._from_user(user_id, "message.image.received", content)

    async def send_sticker(self, user_id: str, sticker: str = "abc123") -> str:
        return await self._from_user(user_id, "message.sticker.received", {"sticker": sticker})

    async def send_event(self, user_id: str, event_name: str) -> str:
        """Any other event (a location, a file…), which the bot must answer politely."""
        return await self._from_user(user_id, event_name, {})

    def set_blocked(self, user_id: str, blocked: bool = True) -> None:
        self.user(user_id).blocked = blocked

    async def _from_user(self, user_id: str, event_name: str, content: dict[str, Any]) -> str:
        user = self.user(user_id)
        user.has_written = True
        message_id = secrets.token_hex(10)
        update = {"event_name": event_name, "message": {
            "from": {"id": user.id, "display_name": user.display_name, "is_bot": False},
            "chat": {"id": user.id, "chat_type": "PRIVATE"},
            "message_id": message_id, "date": int(time.time() * 1000), **content}}
        user.events.append({"seq": next(self._seq), "kind": "user", "event_name": event_name,
                            "date": int(time.time()), **content})
        if (woken := self._changed.get(user.id)) is not None:
            woken.set()
        if self.webhook is not None:
            self._push(update)
        else:
            async with self._arrived:
                self._queue.append(update)
                self._arrived.notify_all()
        return message_id

    def _push(self, update: dict[str, Any]) -> None:
        task = asyncio.create_task(self._post_webhook(update))
        self._pushes.add(task)
        task.add_done_callback(self._pushes.discard)

    async def _post_webhook(self, update: dict[str, Any]) -> None:
        assert self.webhook is not None
        url, secret = self.webhook
        if self._http is None or self._http.closed:
            self._http = ClientSession(timeout=ClientTimeout(total=30))
        body = {"ok": True, "result": update} if self.wrap_webhook else update
        for attempt in range(3):
            try:
                async with self._http.post(url, data=json.dumps(body, ensure_ascii=False),
                                           headers={"Content-Type": "application/json",
                                                    "X-Bot-Api-Secret-Token": secret}) as response:
                    self.stats["webhook_posts"] += 1
                    if response.status < 500:
                        return
            except OSError as exc:
                log.info("webhook POST failed (attempt %d): %s", attempt + 1, exc)
            await asyncio.sleep(0.2 * 2**attempt)

    async def flush_webhooks(self) -> None:
        """Wait until every webhook POST under way has been answered."""
        await asyncio.gather(*self._pushes, return_exceptions=True)

    def events(self, user_id: str, after: int = 0) -> list[dict[str, Any]]:
        return [e for e in self.user(user_id).events if e["seq"] > after]

    def bot_texts(self, user_id: str) -> list[str]:
        return [e.get("text") or e.get("caption") or "" for e in self.user(user_id).events if e["kind"] != "user"]

    async def wait_for(self, user_id: str, predicate: Callable[[dict[str, Any]], bool] | None = None, *,
                       after: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """The first message from the bot to this person after `after` that matches (woken, not polled)."""
        predicate = predicate or (lambda _e: True)
        user = self.user(user_id)
        woken = self._changed.setdefault(user.id, asyncio.Event())
        async with asyncio.timeout(timeout):
            while True:
                woken.clear()
                for e in user.events:
                    if e["seq"] > after and e["kind"] != "user" and predicate(e):
                        return e
                await woken.wait()

    async def wait_events(self, user_id: str, after: int, timeout: float) -> list[dict[str, Any]]:
        """This person's events after `after` (theirs and the bot's), waiting up to `timeout` for one (web chat)."""
        user = self.user(user_id)
        woken = self._changed.setdefault(user.id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not self.events(user_id, after) and not self._stopping.is_set():
                    woken.clear()
                    await woken.wait()
        return self.events(user_id, after)

    def last_seq(self, user_id: str) -> int:
        events = self.user(user_id).events
        return events[-1]["seq"] if events else 0


class _Dropped(Exception):
    pass


_EMPTY_POLL = object()


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)
