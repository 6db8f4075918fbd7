"""A recording fake of the Bot API for update-level tests: every outgoing call is kept.

It refuses what Telegram refuses (bot/sandbox/telegram_rules.py: lengths after HTML parsing, HTML validity,
callback data, button count), an edit that changes nothing, and a second answer to one button press, so
a reply Telegram would not show fails the test that sends it. A refused call is not recorded."""

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

from bot.sandbox import telegram_rules as rules

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
        self.shown: dict[tuple[int, int], tuple[str, Any]] = {}  # (chat, message) → (text, inline markup)
        self.answered: set[str] = set()  # callback queries already answered
        self.refused: list[tuple[Call, str]] = []  # what Telegram's rules refused, and why
        self.files: dict[str, bytes] = {}  # what getFile + download give for a file_id (else made-up bytes)

    def fail_next(self, method: str, status: int, description: str, retry_after: int | None = None,
                  times: int = 1) -> None:
        self.errors.setdefault(method, []).extend([(status, description, retry_after)] * times)

    async def close(self) -> None:
        pass

    async def stream_content(self, url: str, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        file_id = url.rsplit("/", 1)[-1]
        yield self.files.get(file_id, f"content of {file_id}".encode())

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
        try:
            self._telegram_rules(name, params)
        except rules.Refused as exc:
            self.refused.append((Call(name, params), exc.description))
            self.check_response(bot, method, 400, json.dumps({"ok": False, "error_code": 400,
                                                              "description": exc.description}))
        self.calls.append(Call(name, params))
        result = self._result(name, params)
        self._remember(name, params, result)
        response = self.check_response(bot, method, 200, json.dumps({"ok": True, "result": result}))
        return response.result  # type: ignore[return-value]

    def _telegram_rules(self, name: str, params: dict[str, Any]) -> None:
        parse_mode = params.get("parse_mode")
        if name in ("SendMessage", "EditMessageText"):
            rules.check_text(params.get("text"), parse_mode)
        if name in ("SendDocument", "SendPhoto"):
            rules.check_caption(params.get("caption"), parse_mode)
        if name in ("SendMessage", "EditMessageText", "SendDocument", "SendPhoto", "EditMessageReplyMarkup"):
            rules.check_markup(params.get("reply_markup"))
        if name in ("EditMessageText", "EditMessageReplyMarkup"):
            self._check_modified(name, params)
        if name == "AnswerCallbackQuery":
            rules.check_notice(params.get("text"))
            if params["callback_query_id"] in self.answered:
                raise rules.Refused(rules.QUERY_TOO_OLD)

    def _check_modified(self, name: str, params: dict[str, Any]) -> None:
        """Editing a message the fake has seen into what it already shows is refused, as Telegram does
        (messages it never sent — the harness presses made-up ones — cannot be compared)."""
        key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
        if key not in self.shown:
            return
        text, markup = self.shown[key]
        new_markup = _inline(params.get("reply_markup"))
        if name == "EditMessageText" and (params.get("text"), new_markup) == (text, markup):
            raise rules.Refused(rules.NOT_MODIFIED)
        if name == "EditMessageReplyMarkup" and new_markup == markup:
            raise rules.Refused(rules.NOT_MODIFIED)

    def _remember(self, name: str, params: dict[str, Any], result: Any) -> None:
        if name == "AnswerCallbackQuery":
            self.answered.add(params["callback_query_id"])
        if not isinstance(result, dict) or "message_id" not in result:
            if name == "EditMessageReplyMarkup":
                key = (int(params.get("chat_id") or 0), int(params.get("message_id") or 0))
                if key in self.shown:
                    self.shown[key] = (self.shown[key][0], _inline(params.get("reply_markup")))
            return
        key = (int(result["chat"]["id"]), int(result["message_id"]))
        self.shown[key] = (params.get("text") or params.get("caption") or "", _inline(params.get("reply_markup")))

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "GetFile":
            file_id = params["file_id"]
            return {"file_id": file_id, "file_unique_id": f"u-{file_id}"[:32],
                    "file_size": len(self.files.get(file_id, b"x")), "file_path": f"documents/{file_id}"}
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


def _inline(markup: Any) -> Any:
    """An inline keyboard as compared for "not modified" (a reply keyboard is not part of a message)."""
    if isinstance(markup, str):
        markup = json.loads(markup) if markup else None
    return markup.get("inline_keyboard") if isinstance(markup, dict) else None
