"""A local Bot API server speaking Telegram's wire format, plus a user-side API to act as people.

The bot talks to it unmodified through `TELEGRAM_API_BASE`. It enforces Telegram's limits (about
30 messages/s overall, about 1/s per chat with a small burst: 429 with `retry_after`), answers 403 for
people who blocked the bot, and has fault switches (429 storms, 5xx, slow answers, dropped
connections). The same server backs the web chat, the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import mimetypes
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.sandbox import telegram_rules as rules
from bot.sandbox.limits import Limiter, RateLimits
from bot.sandbox.webhook import WebhookPusher

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"
BOT_USERNAME = "khuyencong_sandbox_bot"  # the sandbox bot's @username (its deep links, the console's invitations)
ZALO_MAX_TEXT = 2000
SENDING = {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageReplyMarkup",
           "copyMessage", "forwardMessage"}


@dataclass
class Faults:
    """Run-time fault switches: `next_*` counts are consumed first, then probabilities apply."""

    next_429: int = 0
    retry_after: int = 1
    p_429: float = 0.0
    next_5xx: int = 0
    p_5xx: float = 0.0
    next_drop: int = 0
    p_drop: float = 0.0
    latency_ms: int = 0

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if hasattr(self, key):
                setattr(self, key, type(getattr(self, key))(value))

    async def trip(self, rng: random.Random) -> str | None:
        """Wait the configured latency, then the fault this call meets: "drop", "5xx", "429" or None."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        for kind in ("drop", "5xx", "429"):
            pending, chance = getattr(self, f"next_{kind}"), getattr(self, f"p_{kind}")
            if pending > 0 or (chance and rng.random() < chance):
                setattr(self, f"next_{kind}", max(0, pending - 1))
                return kind
        return None


@dataclass
class SimUser:
    id: int
    first_name: str
    language_code: str | None = "vi"
    last_name: str | None = None
    username: str | None = None
    phone: str | None = None
    blocked: bool = False

    def as_tg(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass
class Chat:
    """One private chat: the bot's messages (current state) and an ordered event log."""

    user: SimUser
    message_ids: Any = field(default_factory=lambda: itertools.count(1))
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


class SandboxServer:
    def __init__(
        self,
        *,
        bot_token: str = "123456:sandbox",
        bot_username: str = BOT_USERNAME,
        personas: list[dict[str, Any]] | None = None,
        web: bool = True,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.token = bot_token
        bot_id = bot_token.split(":")[0]
        self.bot_user = {"id": int(bot_id) if bot_id.isdigit() else 777, "is_bot": True,
                         "first_name": "Khuyến công", "username": bot_username}
        self.personas = personas or []
        self.web = web
        self.limiter = Limiter(limits or RateLimits(), clock)
        self.faults = Faults()
        self.rng = rng or random.Random()
        self.users: dict[int, SimUser] = {}
        self.chats: dict[int, Chat] = {}
        self.files: dict[str, tuple[bytes, str, str]] = {}  # file_id → (data, name, mime)
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.calls: dict[str, int] = {}
        self.stats = {"429": 0, "403": 0, "5xx": 0, "dropped": 0}
        self._updates: list[dict[str, Any]] = []
        self._pending_queries: dict[str, int] = {}  # callback query id → user, until answered
        self.polling = asyncio.Event()  # set by the first getUpdates: a bot is listening
        self.open_long_polls = 0  # getUpdates and web-chat event requests waiting right now
        self._closing = False  # set by stop(): open long polls are answered at once
        self._per_user: dict[int, asyncio.Event] = {}  # woken when that person's chat changes
        # Telegram never gives an update_id twice and the bot handles each once (even across restarts of this
        # sandbox on the same database): ids go on from the time it started.
        self._update_ids = itertools.count(int(time.time() * 1000))
        self._event_seq = itertools.count(1)
        self._last_seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        # Set by setWebhook: updates are then POSTed to the bot instead of waiting for getUpdates.
        self.webhook: WebhookPusher | None = None
        self.webhook_set = asyncio.Event()
        # A load balancer in front of the webhook's URL (tests, benchmarks): the POSTs go to these in turn.
        self.webhook_targets: list[str] | None = None
        self.zalo: Any = None  # a ZaloSandbox whose people the web chat can be too (set by `python -m bot sandbox`)
        for persona in self.personas:
            # Personas have started the bot before, as real users must before a bot can write to them.
            if persona.get("channel", "telegram") == "telegram":
                self.user(int(persona["id"]))

    # --- lifecycle --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        app.router.add_get("/sandbox/api/personas", self._api_personas)
        app.router.add_post("/sandbox/api/send", self._api_send)
        app.router.add_post("/sandbox/api/contact", self._api_contact)
        app.router.add_post("/sandbox/api/upload", self._api_upload)
        app.router.add_post("/sandbox/api/press", self._api_press)
        app.router.add_get("/sandbox/api/events", self._api_events)
        app.router.add_post("/sandbox/api/block", self._api_block)
        app.router.add_post("/sandbox/api/faults", self._api_faults)
        app.router.add_get("/sandbox/api/file/{file_id}", self._api_file)
        app.router.add_post("/sandbox/api/zalo/send", self._api_zalo_send)
        app.router.add_get("/sandbox/api/zalo/events", self._api_zalo_events)
        if self.web:
            app.router.add_get("/", self._index)
            app.router.add_static("/static/", WEB_DIR)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind and serve; OSError (e.g. the port is taken) leaves nothing behind."""
        self._closing = False
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        # A deep accept queue: bursts of connections must queue, as at api.telegram.org, not be reset.
        site = web.TCPSite(self._runner, host, port, backlog=2048)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        actual = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{host}:{actual}"
        return self.base_url

    async def stop(self) -> None:
        """Answer every open long poll at once (empty), then close: stopping never waits them out."""
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self.webhook is not None:
            await self.webhook.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _long_poll(self, ready: Callable[[], bool], seconds: float) -> None:
        """Wait until `ready()`, `seconds` pass, or the server stops (woken by changes, never polled)."""
        if ready() or seconds <= 0 or self._closing:
            return
        self.open_long_polls += 1
        try:
            async with self._changed:
                self._changed.notify_all()  # for wait_long_polls
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(seconds):
                        await self._changed.wait_for(lambda: ready() or self._closing)
        finally:
            self.open_long_polls -= 1

    async def wait_long_polls(self, count: int) -> None:
        """Until at least `count` long polls are open (tests)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.open_long_polls >= count)

    def _next_seq(self) -> int:
        self._last_seq = next(self._event_seq)
        return self._last_seq

    async def _notify(self, user_id: int | None = None) -> None:
        if user_id is not None and (event := self._per_user.get(user_id)) is not None:
            event.set()
        async with self._changed:
            self._changed.notify_all()

    # --- the Bot API ------------------------------------------------------------------------------

    async def _bot_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        self.calls[method] = self.calls.get(method, 0) + 1
        params = await _params(request)
        try:
            if method in SENDING:
                await self._faults_for(request)
            result = await self._dispatch(method, params)
        except ApiError as exc:
            return _error(exc.status, exc.description, exc.retry_after)
        except _Dropped:
            self.stats["dropped"] += 1
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        return web.json_response({"ok": True, "result": result})

    async def _faults_for(self, request: web.Request) -> None:
        fault = await self.faults.trip(self.rng)
        if fault == "drop":
            raise _Dropped()
        if fault is not None:
            self.stats[fault] += 1
        if fault == "5xx":
            raise ApiError(502, "Bad Gateway")
        if fault == "429":
            retry = self.faults.retry_after
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry)

    async def _dispatch(self, method: str, p: dict[str, Any]) -> Any:
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            # The reference behaviour: 400 with a description (api.telegram.org itself says 404).
            raise ApiError(400, f"Bad Request: method {method} not found")
        try:
            return await handler(p)
        except rules.Refused as exc:
            raise ApiError(400, exc.description) from None

    async def _m_getMe(self, p: dict[str, Any]) -> Any:
        return self.bot_user

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        if self.webhook is not None:
            pusher, self.webhook = self.webhook, None
            self.webhook_set.clear()
            self._updates = pusher.pending() + self._updates  # not delivered yet: getUpdates has them
            await pusher.close()
        if _truthy(p.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        url = str(p.get("url") or "")
        if not url:
            return await self._m_deleteWebhook(p)  # Telegram: an empty URL removes the webhook
        if not url.startswith(("https://", "http://")):  # the sandbox also takes http:// (no certificates)
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not rules.webhook_secret_ok(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        old, self.webhook = self.webhook, WebhookPusher(url, secret, targets=self.webhook_targets,
                                                        max_connections=int(p.get("max_connections") or 40))
        waiting = (old.pending() if old is not None else []) + self._updates
        self._updates = []
        if old is not None:
            await old.close()
        if not _truthy(p.get("drop_pending_updates")):
            for update in waiting:
                self.webhook.push(_chat_key(update), update)
        self.webhook_set.set()
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        hook = self.webhook
        return {"url": hook.url if hook else "", "has_custom_certificate": False,
                "pending_update_count": len(hook.pending()) if hook else len(self._updates)}

    async def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        self.commands[p.get("language_code") or ""] = _json(p.get("commands")) or []
        return True

    async def _m_getMyCommands(self, p: dict[str, Any]) -> Any:
        return self.commands.get(p.get("language_code") or "", [])

    async def _m_deleteMyCommands(self, p: dict[str, Any]) -> Any:
        self.commands.pop(p.get("language_code") or "", None)
        return True

    async def _m_setChatMenuButton(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_sendChatAction(self, p: dict[str, Any]) -> Any:
        self._chat_of(p)
        return True

    async def _m_getUpdates(self, p: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        self.polling.set()
        offset = int(p.get("offset") or 0)
        limit = min(100, int(p.get("limit") or 100))
        timeout = float(p.get("timeout") or 0)
        if offset:
            # Telegram forgets every update below the offset: they are confirmed.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        await self._long_poll(lambda: bool(self._updates), timeout)
        return self._updates[:limit]

    def _chat_of(self, p: dict[str, Any]) -> Chat:
        raw = p.get("chat_id")
        if raw is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.user.blocked:
            self.stats["403"] += 1
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _rate(self, chat: Chat) -> None:
        retry = self.limiter.check(chat.user.id)
        if retry:
            self.stats["429"] += 1
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry)

    def _base_message(self, chat: Chat, p: dict[str, Any]) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": next(chat.message_ids), "date": int(time.time()),
            "chat": {"id": chat.user.id, "type": "private", "first_name": chat.user.first_name},
            "from": self.bot_user,
        }
        markup = _json(p.get("reply_markup"))
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        return msg

    async def _record(self, chat: Chat, kind: str, msg: dict[str, Any], markup: Any = None,
                      parse_mode: str | None = None) -> None:
        chat.messages[msg["message_id"]] = msg
        chat.events.append({"seq": self._next_seq(), "kind": kind, "message": msg, "markup": markup,
                            "parse_mode": parse_mode, "t": self.limiter.clock()})
        await self._notify(chat.user.id)

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        chat = self._chat_of(p)
        text = p.get("text")
        rules.check_text(text, p.get("parse_mode"))
        rules.check_markup(p.get("reply_markup"))
        self._rate(chat)
        msg = self._base_message(chat, p)
        msg["text"] = text
        await self._record(chat, "message", msg, _json(p.get("reply_markup")), p.get("parse_mode"))
        return msg

    async def _send_file(self, p: dict[str, Any], field_name: str) -> dict[str, Any]:
        chat = self._chat_of(p)
        ref = p.get(field_name)
        if ref is None:
            raise ApiError(400, f"Bad Request: there is no {field_name} in the request")
        if isinstance(ref, _Upload):
            file_id = self._store(ref.data, ref.filename, ref.content_type)
        elif isinstance(ref, str) and ref in self.files:
            file_id = ref
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = p.get("caption")
        rules.check_caption(caption, p.get("parse_mode"))
        rules.check_markup(p.get("reply_markup"))
        self._rate(chat)
        data, name, mime = self.files[file_id]
        msg = self._base_message(chat, p)
        if caption:
            msg["caption"] = caption
        if field_name == "photo":
            msg["photo"] = [{"file_id": file_id, "file_unique_id": file_id[:16], "width": 640, "height": 480,
                             "file_size": len(data)}]
        else:
            msg["document"] = {"file_id": file_id, "file_unique_id": file_id[:16], "file_name": name,
                               "mime_type": mime, "file_size": len(data)}
        await self._record(chat, field_name, msg, _json(p.get("reply_markup")), p.get("parse_mode"))
        return msg

    async def _m_sendDocument(self, p: dict[str, Any]) -> Any:
        return await self._send_file(p, "document")

    async def _m_sendPhoto(self, p: dict[str, Any]) -> Any:
        return await self._send_file(p, "photo")

    def _bot_message(self, p: dict[str, Any]) -> tuple[Chat, dict[str, Any]]:
        chat = self._chat_of(p)
        try:
            msg = chat.messages.get(int(p.get("message_id") or 0))
        except ValueError:
            msg = None
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat, msg

    async def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        chat, msg = self._bot_message(p)
        text = p.get("text")
        rules.check_text(text, p.get("parse_mode"))
        rules.check_markup(p.get("reply_markup"))
        markup = _json(p.get("reply_markup"))
        if text == msg.get("text") and markup == msg.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        self._rate(chat)
        msg["text"] = text
        if markup is not None:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        await self._record(chat, "edit", msg, markup, p.get("parse_mode"))
        return msg

    async def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> Any:
        chat, msg = self._bot_message(p)
        rules.check_markup(p.get("reply_markup"))
        markup = _json(p.get("reply_markup"))
        if markup == msg.get("reply_markup") or (not markup and "reply_markup" not in msg):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        self._rate(chat)
        if markup:
            msg["reply_markup"] = markup
        else:
            msg.pop("reply_markup", None)
        await self._record(chat, "edit", msg, markup)
        return msg

    async def _m_deleteMessage(self, p: dict[str, Any]) -> Any:
        chat, msg = self._bot_message(p)
        chat.messages.pop(msg["message_id"], None)
        chat.events.append({"seq": self._next_seq(), "kind": "delete",
                            "message": {"message_id": msg["message_id"]}})
        await self._notify(chat.user.id)
        return True

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        query_id = p.get("callback_query_id")
        rules.check_notice(p.get("text"))
        user_id = self._pending_queries.pop(query_id, None) if query_id else None
        if user_id is None:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        chat = self.chats[user_id]
        chat.events.append({"seq": self._next_seq(), "kind": "toast", "text": p.get("text") or "",
                            "show_alert": _truthy(p.get("show_alert"))})
        await self._notify(user_id)
        return True

    async def _m_getFile(self, p: dict[str, Any]) -> Any:
        file_id = p.get("file_id")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        data, name, _mime = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": file_id[:16], "file_size": len(data),
                "file_path": f"documents/{file_id}/{name}"}

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        parts = request.match_info["path"].split("/")
        if len(parts) < 2 or parts[1] not in self.files:
            return _error(404, "Not Found")
        data, _name, mime = self.files[parts[1]]
        return web.Response(body=data, content_type=mime)

    def _store(self, data: bytes, name: str, mime: str | None) -> str:
        file_id = "SBX" + secrets.token_urlsafe(24)
        self.files[file_id] = (data, name, mime or mimetypes.guess_type(name)[0] or "application/octet-stream")
        return file_id

    # --- acting as people (Python API) --------------------------------------------------------------

    def user(self, user_id: int, *, first_name: str | None = None, language_code: str | None = None,
             last_name: str | None = None, phone: str | None = None) -> SimUser:
        """The simulated person with this id (created on first use)."""
        u = self.users.get(user_id)
        if u is None:
            persona = next((p for p in self.personas if p.get("id") == user_id), {})
            u = SimUser(user_id, first_name or persona.get("first_name") or f"User {user_id}",
                        language_code if language_code is not None else persona.get("language_code", "vi"),
                        last_name, None, phone or persona.get("phone"))
            self.users[user_id] = u
            self.chats[user_id] = Chat(u)
        else:
            if first_name:
                u.first_name = first_name
            if language_code:
                u.language_code = language_code
        return u

    def _message_update(self, u: SimUser, **content: Any) -> dict[str, Any]:
        return {"message": {"message_id": 100_000 + next(self._update_ids), "date": int(time.time()),
                            "chat": {"id": u.id, "type": "private", "first_name": u.first_name},
                            "from": u.as_tg(), **content}}

    async def _push(self, update: dict[str, Any], u: SimUser, shown: dict[str, Any] | None = None) -> int:
        update["update_id"] = next(self._update_ids)
        if self.webhook is not None:
            self.webhook.push(u.id, update)
        else:
            self._updates.append(update)
        if shown is not None:
            self.chats[u.id].events.append({"seq": self._next_seq(), "kind": "user", "date": int(time.time()),
                                            **shown})
        await self._notify()
        return update["update_id"]

    async def send_text(self, user_id: int, text: str, **who: Any) -> int:
        u = self.user(user_id, **who)
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return await self._push(self._message_update(u, **content), u, {"text": text})

    async def send_contact(self, user_id: int, phone: str, **who: Any) -> int:
        u = self.user(user_id, **who)
        contact = {"phone_number": phone, "first_name": u.first_name, "user_id": u.id}
        return await self._push(self._message_update(u, contact=contact), u, {"text": f"📱 {phone}"})

    async def send_document(self, user_id: int, data: bytes, filename: str, mime: str | None = None,
                            **who: Any) -> int:
        u = self.user(user_id, **who)
        file_id = self._store(data, filename, mime)
        _d, name, mime_type = self.files[file_id]
        if mime_type.startswith("image/"):
            content = {"photo": [{"file_id": file_id, "file_unique_id": file_id[:16], "width": 640, "height": 480}]}
        else:
            content = {"document": {"file_id": file_id, "file_unique_id": file_id[:16], "file_name": name,
                                    "mime_type": mime_type, "file_size": len(data)}}
        return await self._push(self._message_update(u, **content), u, {"text": f"📎 {name}", "file_id": file_id})

    async def press(self, user_id: int, message_id: int, data: str) -> int:
        """Press an inline button; refused unless that data is on that message now."""
        u = self.user(user_id)
        msg = self.chats[user_id].messages.get(message_id)
        buttons = [b.get("callback_data") for row in (msg or {}).get("reply_markup", {}).get("inline_keyboard", [])
                   for b in row]
        if data not in buttons:
            raise ValueError("no such button on that message")
        query_id = str(next(self._update_ids) * 1000 + self.rng.randrange(1000))
        self._pending_queries[query_id] = user_id
        update = {"callback_query": {"id": query_id, "from": u.as_tg(), "message": msg, "chat_instance": str(u.id),
                                     "data": data}}
        return await self._push(update, u)

    def set_blocked(self, user_id: int, blocked: bool = True) -> None:
        self.user(user_id).blocked = blocked

    def events(self, user_id: int, after: int = 0) -> list[dict[str, Any]]:
        chat = self.chats.get(user_id)
        return [e for e in chat.events if e["seq"] > after] if chat else []

    def bot_messages(self, user_id: int) -> list[dict[str, Any]]:
        """The bot's messages to this person as they stand now (edits applied), oldest first."""
        chat = self.chats.get(user_id)
        return [chat.messages[k] for k in sorted(chat.messages)] if chat else []

    def find_button(self, user_id: int, data_prefix: str) -> tuple[int, str] | None:
        """(message_id, callback data) of the newest inline button whose data starts with the prefix."""
        for msg in reversed(self.bot_messages(user_id)):
            for row in (msg.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if (b.get("callback_data") or "").startswith(data_prefix):
                        return msg["message_id"], b["callback_data"]
        return None

    def last_seq(self) -> int:
        return self._last_seq

    async def wait_for(self, user_id: int, predicate: Callable[[dict[str, Any]], bool] | None = None, *,
                       after: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """The first event from the bot to this person after `after` that matches (woken, never polled)."""
        predicate = predicate or (lambda e: e["kind"] != "user")
        chat = self.chats.get(user_id) or self.chats[self.user(user_id).id]
        woken = self._per_user.setdefault(user_id, asyncio.Event())
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                woken.clear()
                for e in chat.events[seen:]:
                    if e["seq"] > after and e["kind"] != "user" and predicate(e):
                        return e
                seen = len(chat.events)
                await woken.wait()

    # --- acting as people (HTTP API, used by the web chat) -------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB_DIR / "index.html")

    async def _api_personas(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"personas": self.personas, "bot": self.bot_user})

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, ValueError):
            raise web.HTTPBadRequest(text="JSON body expected") from None
        if not isinstance(body, dict) or not isinstance(body.get("user"), int):
            raise web.HTTPBadRequest(text="'user' (an integer id) is required")
        return body

    @staticmethod
    def _who(body: dict[str, Any]) -> dict[str, Any]:
        return {k: body[k] for k in ("first_name", "language_code") if body.get(k)}

    async def _api_send(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        text = str(body.get("text") or "")
        if not text.strip():
            raise web.HTTPBadRequest(text="empty text")
        await self.send_text(body["user"], text, **self._who(body))
        return web.json_response({"ok": True})

    async def _api_contact(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        phone = str(body.get("phone") or self.user(body["user"]).phone or "")
        if not phone:
            raise web.HTTPBadRequest(text="phone required")
        await self.send_contact(body["user"], phone, **self._who(body))
        return web.json_response({"ok": True})

    async def _api_upload(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        upload = form.get("file")
        user = form.get("user")
        if upload is None or not hasattr(upload, "file") or not str(user).isdigit():
            raise web.HTTPBadRequest(text="multipart 'file' and 'user' required")
        await self.send_document(int(str(user)), upload.file.read(), upload.filename, upload.content_type)
        return web.json_response({"ok": True})

    async def _api_press(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        try:
            await self.press(body["user"], int(body.get("message_id") or 0), str(body.get("data") or ""))
        except (ValueError, KeyError):
            raise web.HTTPConflict(text="that button is not on that message any more") from None
        return web.json_response({"ok": True})

    async def _api_events(self, request: web.Request) -> web.StreamResponse:
        try:
            user_id = int(request.query["user"])
            after = int(request.query.get("after", 0))
            wait = min(30.0, float(request.query.get("wait", 0)))
        except (KeyError, ValueError):
            raise web.HTTPBadRequest(text="user (int), after (int), wait (seconds)") from None
        self.user(user_id)
        await self._long_poll(lambda: bool(self.events(user_id, after)), wait)
        return web.json_response({"events": self.events(user_id, after)}, dumps=_dumps)

    async def _api_block(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        self.set_blocked(body["user"], bool(body.get("blocked", True)))
        return web.json_response({"ok": True})

    async def _api_faults(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.faults.update(body.get("faults", {}))
        if "limits" in body:
            self.limiter.configure(RateLimits(**body["limits"]))
        return web.json_response({"faults": self.faults.__dict__, "stats": self.stats})

    def _zalo_sandbox(self) -> Any:
        if self.zalo is None:
            raise web.HTTPNotFound(text="no Zalo server in this sandbox")
        return self.zalo

    async def _api_zalo_send(self, request: web.Request) -> web.StreamResponse:
        """A Zalo person's text, as Zalo would take it (at most 2,000 characters)."""
        zalo = self._zalo_sandbox()
        try:
            body = await request.json()
        except (json.JSONDecodeError, ValueError):
            raise web.HTTPBadRequest(text="JSON body expected") from None
        user, text = str(body.get("user") or ""), str(body.get("text") or "")
        if not user or not text.strip():
            raise web.HTTPBadRequest(text="'user' and 'text' are required")
        if len(text) > ZALO_MAX_TEXT:
            raise web.HTTPBadRequest(text=f"Zalo takes at most {ZALO_MAX_TEXT} characters")
        zalo.user(user, str(body.get("display_name") or "Người dùng Zalo"))
        await zalo.send_text(user, text)
        return web.json_response({"ok": True})

    async def _api_zalo_events(self, request: web.Request) -> web.StreamResponse:
        zalo = self._zalo_sandbox()
        try:
            user = request.query["user"]
            after = int(request.query.get("after", 0))
            wait = min(30.0, float(request.query.get("wait", 0)))
        except (KeyError, ValueError):
            raise web.HTTPBadRequest(text="user, after (int), wait (seconds)") from None
        events = await zalo.wait_events(user, after, wait)
        return web.json_response({"events": events}, dumps=_dumps)

    async def _api_file(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            raise web.HTTPNotFound()
        data, name, mime = self.files[file_id]
        return web.Response(body=data, content_type=mime,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})


class _Dropped(Exception):
    pass


class _Upload:
    def __init__(self, filename: str, content_type: str | None, data: bytes) -> None:
        self.filename, self.content_type, self.data = filename, content_type, data


async def _params(request: web.Request) -> dict[str, Any]:
    """Bot API parameters from a query string, a JSON body, or (multipart or urlencoded) form data."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST":
        return params
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
        return params
    form = await request.post()
    uploads = {k: _Upload(v.filename, v.content_type, v.file.read()) for k, v in form.items() if hasattr(v, "file")}
    for key, value in form.items():
        if hasattr(value, "file"):
            continue
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = uploads.get(value.removeprefix("attach://"))
        else:
            params[key] = value
    for key, upload in uploads.items():
        params.setdefault(key, upload)
    return params


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def _chat_key(update: dict[str, Any]) -> int:
    """Whose update it is (one person's updates are POSTed one after another)."""
    for kind in ("message", "callback_query"):
        if kind in update:
            return int(update[kind]["from"]["id"])
    return 0


def _truthy(value: Any) -> bool:
    return value in (True, "true", "True", "1", 1)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


