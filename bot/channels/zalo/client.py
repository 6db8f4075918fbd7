"""A small async client for the Zalo Bot Platform (https://bot.zaloplatforms.com/docs), on aiohttp.

`POST {base}/bot<TOKEN>/<method>` with a JSON body; the answer is `{"ok": true, "result": …}` or
`{"ok": false, "error_code": N, "description": "…"}`, read whatever the HTTP status (some successes
carry `"error_code": 0`). `getUpdates` hands out ONE update per call, with no offset, and answers 408
when there is nothing new — that is not an error.

Errors map onto what a caller must do: `ZaloUnauthorized` (401: stop), `ZaloRateLimited` (429, no
retry_after: back off), `ZaloUnreachable` (403: the person cannot be messaged), `ZaloNotSent` (nothing
left: safe to retry — connection refused, DNS, 5xx with a body), `ZaloDeliveryUnknown` (the request was
sent and no answer came: the message may have left; never resend), `ZaloBadRequest` (other refusals).
The token sits in the URL path: no error message or log line of this module ever contains it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://bot-api.zaloplatforms.com"
MAX_TEXT = 2000


class ZaloError(Exception):
    def __init__(self, description: str, error_code: int | None = None) -> None:
        super().__init__(description)
        self.description, self.error_code = description, error_code


class ZaloUnauthorized(ZaloError):
    """The token was refused: nothing will work until it is fixed."""


class ZaloRateLimited(ZaloError):
    """Too many requests; Zalo gives no retry_after, so the caller backs off."""


class ZaloUnreachable(ZaloError):
    """The person cannot be messaged (blocked the bot, or never wrote to it)."""


class ZaloBadRequest(ZaloError):
    """The request itself was refused; sending it again will not help."""


class ZaloNotSent(ZaloError):
    """Nothing reached Zalo, or Zalo said it failed: safe to try again."""


class ZaloDeliveryUnknown(ZaloError):
    """The request left and no answer came back: the message may have been delivered."""


@dataclass(frozen=True)
class ZaloUpdate:
    event_name: str
    message_id: str
    sender_id: str
    display_name: str
    chat_id: str
    chat_type: str
    is_bot: bool = False
    text: str | None = None
    photo_url: str | None = None
    caption: str | None = None
    sticker: str | None = None
    date_ms: int | None = None


def parse_update(body: Any) -> ZaloUpdate | None:
    """An update from a getUpdates result or a webhook body (wrapped `{"ok", "result"}` or bare);
    None when the body carries no message we can attribute to someone."""
    if isinstance(body, dict) and "result" in body and "event_name" not in body:
        body = body.get("result")
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    if not isinstance(message, dict):
        return None
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
    sender_id = str(sender.get("id") or chat.get("id") or "")
    if not sender_id:
        return None
    name = sender.get("display_name") or sender.get("name") or sender.get("first_name") or ""
    date = message.get("date")
    return ZaloUpdate(
        event_name=str(body.get("event_name") or "message.unsupported.received"),
        message_id=str(message.get("message_id") or ""),
        sender_id=sender_id,
        display_name=str(name),
        chat_id=str(chat.get("id") or sender_id),
        chat_type=str(chat.get("chat_type") or "PRIVATE"),
        is_bot=bool(sender.get("is_bot")),
        text=_str_or_none(message.get("text")),
        photo_url=_str_or_none(message.get("photo") or message.get("photo_url")),
        caption=_str_or_none(message.get("caption")),
        sticker=_str_or_none(message.get("sticker")),
        date_ms=int(date) if isinstance(date, int | float) else None,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class ZaloClient:
    def __init__(self, token: str, *, base: str = DEFAULT_BASE, timeout: float = 60.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._token = token
        self.base = base.rstrip("/")
        self.timeout = timeout
        self._session = session
        self._own_session = session is None
        self.bot_id = token.partition(":")[0]

    def __repr__(self) -> str:
        return f"ZaloClient(bot_id={self.bot_id!r}, base={self.base!r})"

    def _redact(self, text: str) -> str:
        return text.replace(self._token, f"{self.bot_id}:***") if self._token else text

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._own_session and not self._session.closed:
            await self._session.close()

    async def call(self, method: str, payload: dict[str, Any] | None = None, *,
                   timeout: float | None = None) -> Any:
        """Call one method; its `result`, or raise the ZaloError that says what to do next."""
        session = await self._http()
        url = f"{self.base}/bot{self._token}/{method}"
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with session.post(url, json=payload or {}, timeout=limit) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            raise ZaloNotSent(f"cannot reach {self._host()}: {self._redact(str(exc))}") from None
        except (TimeoutError, asyncio.TimeoutError, aiohttp.ServerDisconnectedError,  # noqa: UP041
                aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
            raise ZaloDeliveryUnknown(f"no answer from {self._host()} to {method}: {type(exc).__name__}") from None
        return self._result(method, status, raw)

    def _host(self) -> str:
        return self.base.split("://", 1)[-1].split("/", 1)[0]

    def _result(self, method: str, status: int, raw: bytes) -> Any:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code") or status
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else status
        description = self._redact(str(body.get("description") or f"HTTP {status}"))
        text = f"Zalo {method}: {description} ({code})"
        if code == 401 or status == 401:
            raise ZaloUnauthorized(text, code)
        if code == 429 or status == 429:
            raise ZaloRateLimited(text, code)
        if code == 403 or status == 403:
            raise ZaloUnreachable(text, code)
        if code >= 500 or status >= 500 or code == 408:
            raise ZaloNotSent(text, code)
        raise ZaloBadRequest(text, code)

    # --- methods ---------------------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        return await self.call("getMe")

    async def get_updates(self, timeout: int = 30) -> ZaloUpdate | None:
        """One update, or None when the long poll ended with nothing new (HTTP 408)."""
        try:
            result = await self.call("getUpdates", {"timeout": str(timeout)}, timeout=timeout + 10)
        except ZaloNotSent as exc:
            if exc.error_code == 408:
                return None
            raise
        except ZaloDeliveryUnknown:
            return None  # a poll that timed out on our side lost nothing we could have had
        return parse_update(result) if result else None

    async def set_webhook(self, url: str, secret_token: str) -> Any:
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> Any:
        return await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        return await self.call("getWebhookInfo")

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        if not 1 <= len(text) <= MAX_TEXT:
            raise ZaloBadRequest(f"text must be 1–{MAX_TEXT} characters, not {len(text)}")
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            if len(caption) > MAX_TEXT:
                raise ZaloBadRequest(f"caption must be at most {MAX_TEXT} characters")
            payload["caption"] = caption
        return await self.call("sendPhoto", payload)

    async def download(self, url: str, limit: int) -> bytes:
        """A file Zalo gave a URL for (a received photo: such URLs expire, so it is fetched at once)."""
        if not url.startswith(("https://", "http://")):
            raise ZaloBadRequest("not a file URL")
        http = await self._http()
        try:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                if resp.status != 200:
                    raise ZaloNotSent(f"file download answered {resp.status}")
                data = await resp.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ZaloNotSent(f"file download failed: {type(exc).__name__}") from exc
        if len(data) > limit:
            raise ZaloBadRequest(f"file over {limit} bytes")
        return data

    async def send_sticker(self, chat_id: str, sticker: str) -> dict[str, Any]:
        return await self.call("sendSticker", {"chat_id": chat_id, "sticker": sticker})

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> Any:
        return await self.call("sendChatAction", {"chat_id": chat_id, "action": action})
