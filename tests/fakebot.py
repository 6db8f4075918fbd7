"""A recording fake of the Bot API for update-level tests: every outgoing call is kept."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

BOT_ID = 777000


@dataclass
class Call:
    method: str
    params: dict[str, Any]

    @property
    def text(self) -> str:
        return self.params.get("text") or self.params.get("caption") or ""

    @property
    def chat_id(self) -> int | None:
        chat = self.params.get("chat_id")
        return int(chat) if chat is not None else None

    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data or '') of every button in the reply markup."""
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [(b["text"], b.get("callback_data") or "") for row in rows for b in row]


class RecordingSession(BaseSession):
    """Answers like Telegram would and records the request; errors can be queued per method."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.errors: dict[str, list[tuple[int, str, int | None]]] = {}
        self.connect_failures = 0  # the next N calls cannot connect at all
        self._ids = itertools.count(100)

    def fail_next(self, method: str, status: int, description: str, retry_after: int | None = None,
                  times: int = 1) -> None:
        self.errors.setdefault(method, []).extend([(status, description, retry_after)] * times)

    async def close(self) -> None:
        pass

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = type(method).__name__
        files: dict[str, Any] = {}
        params = {k: v for k, v in ((k, self.prepare_value(v, bot=bot, files=files, _dumps_json=False))
                                    for k, v in method.model_dump(warnings=False).items()) if v is not None}
        if (doc := getattr(method, "document", None)) is not None and hasattr(doc, "data"):
            params["document"] = {"filename": doc.filename, "data": doc.data}
        if self.connect_failures:
            self.connect_failures -= 1
            from aiogram.exceptions import TelegramNetworkError
            from aiohttp import ClientConnectorError
            from aiohttp.client_reqrep import ConnectionKey

            key = ConnectionKey("127.0.0.1", 1, False, True, None, None, None)
            raise TelegramNetworkError(method=method, message="ClientConnectorError") from ClientConnectorError(
                key, OSError(111, "Connect call failed"))
        queued = self.errors.get(name)
        if queued:
            status, description, retry_after = queued.pop(0)
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
            self.check_response(bot, method, status, json.dumps(body))
        self.calls.append(Call(name, params))
        result = self._result(name, params)
        response = self.check_response(bot, method, 200, json.dumps({"ok": True, "result": result}))
        return response.result  # type: ignore[return-value]

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "GetMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "Khuyến công", "username": "khuyencong_test_bot"}
        if name in ("SendMessage", "SendDocument", "SendPhoto", "EditMessageText"):
            msg: dict[str, Any] = {
                "message_id": params.get("message_id") or next(self._ids),
                "date": 1_767_225_600,
                "chat": {"id": int(params["chat_id"]) if "chat_id" in params else 1, "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Khuyến công"},
            }
            if "text" in params:
                msg["text"] = params["text"]
            if name == "SendDocument":
                doc = params["document"]
                msg["document"] = {"file_id": doc if isinstance(doc, str) else "doc", "file_unique_id": "doc",
                                   "file_name": "file" if isinstance(doc, str) else doc["filename"]}
            if isinstance(params.get("reply_markup"), dict) and "inline_keyboard" in params["reply_markup"]:
                msg["reply_markup"] = params["reply_markup"]
            return msg
        return True
