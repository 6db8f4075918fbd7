"""The Telegram renderer: neutral replies → Bot API message parameters (HTML, inline keyboards, edits).

Pure: it builds dicts as the Bot API takes them and imports no aiogram, so the outbox can store and
the sender can send its output. Every limit is honoured here: texts over 4,096 characters (as Telegram
counts them, after HTML parsing) are split in order, captions over 1,024 go as a separate message,
callback data over 64 bytes is refused, and more than 100 buttons are spread over several messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from bot.channels.capabilities import TELEGRAM, Capabilities
from bot.conversation.replies import Block, Choice, FileData, MediaRef, Rendered, Reply, Run, runs_of
from bot.conversation.split import pack_blocks, utf16_len

NOTICE_LIMIT = 200  # answerCallbackQuery's text
SEPARATOR = ":"


@dataclass(frozen=True)
class TelegramMessage:
    method: str  # "send" | "edit" | "photo" | "document" | "notice" | "retire" (take the buttons off)
    text: str
    reply_markup: dict[str, Any] | None = None
    media: MediaRef | None = None
    file: FileData | None = None  # a "document" made for this reply (uploaded from memory)


def pack_callback(action: str, arg: str = "", limit: int = TELEGRAM.max_button_data) -> str:
    data = f"{action}{SEPARATOR}{arg}" if arg else action
    if len(data.encode()) > limit:
        raise ValueError(f"callback data over {limit} bytes: {data[:80]!r}")
    return data


def unpack_callback(data: str) -> tuple[str, str]:
    action, _sep, arg = data.partition(SEPARATOR)
    return action, arg


def html_of(runs: list[Run]) -> str:
    out = []
    for run in runs:
        text = escape(run.text, quote=False)
        if run.code:
            text = f"<code>{text}</code>"
        if run.italic:
            text = f"<i>{text}</i>"
        if run.bold:
            text = f"<b>{text}</b>"
        if run.url:
            text = f'<a href="{escape(run.url, quote=True)}">{text}</a>'
        out.append(text)
    return "".join(out)


def html_text(blocks: Sequence[Block]) -> str:
    """Blocks as one HTML text (for the aiogram handlers still being moved to the pipeline)."""
    return "\n\n".join(html_of(runs_of(block.parts)) for block in blocks)


class TelegramRenderer:
    def __init__(self, caps: Capabilities = TELEGRAM) -> None:
        self.caps = caps

    def keyboard(self, rows: tuple[tuple[Choice, ...], ...]) -> list[dict[str, Any]]:
        """Inline keyboards for the rows, each within the button limit (rows are never cut)."""
        boards: list[list[list[dict[str, str]]]] = [[]]
        count = 0
        for row in rows:
            buttons = [{"text": c.label, "callback_data": pack_callback(c.action, c.arg, self.caps.max_button_data)}
                       for c in row]
            if count + len(buttons) > self.caps.max_buttons and boards[-1]:
                boards.append([])
                count = 0
            boards[-1].append(buttons)
            count += len(buttons)
        return [{"inline_keyboard": board} for board in boards if board]

    @staticmethod
    def reply_keyboard(reply: Reply) -> dict[str, Any]:
        rows: list[list[dict[str, Any]]] = [[{"text": label} for label in row] for row in reply.keyboard or () if row]
        if not rows and not reply.contact_button:  # no menu (yet): the keyboard is taken away
            return {"remove_keyboard": True}
        if reply.contact_button:
            return {"keyboard": [[{"text": reply.contact_button, "request_contact": True}], *rows],
                    "resize_keyboard": True, "one_time_keyboard": True}
        return {"keyboard": rows, "resize_keyboard": True, "is_persistent": True}

    def render(self, reply: Reply, *, continued: str = "⋯") -> Rendered:
        """`continued` is the text of extra messages that only carry more buttons (translated)."""
        if reply.retire_previous and not reply.blocks:
            return Rendered(messages=[TelegramMessage("retire", "")])
        if reply.notice and not reply.choices and reply.media is None and reply.file is None:
            text = "\n\n".join("".join(r.text for r in runs_of(b.parts)) for b in reply.blocks)
            if utf16_len(text) <= NOTICE_LIMIT:
                return Rendered(messages=[TelegramMessage("notice", text)])
        blocks = [runs_of(b.parts) for b in reply.blocks]
        pieces = [html_of(p) for p in pack_blocks([b for b in blocks if b], self.caps.max_text)]
        boards = self.keyboard(reply.choices)
        messages = self._with_media(reply.media, pieces)
        if reply.file is not None:
            messages = self._with_file(reply.file, messages)
        if not messages:
            messages = [TelegramMessage("send", continued)] if boards else []
        if (reply.keyboard is not None or reply.contact_button) and messages:
            menu = self.reply_keyboard(reply)
            if boards and len(messages) == 1:
                messages.append(TelegramMessage("send", continued))
            messages[0] = _with_markup(messages[0], menu)
        if boards:
            messages[-1] = _with_markup(messages[-1], boards[0])
            messages.extend(TelegramMessage("send", continued, board) for board in boards[1:])
        if (reply.replace_previous and messages and messages[0].method == "send" and reply.keyboard is None
                and not reply.contact_button):
            messages[0] = TelegramMessage("edit", messages[0].text, messages[0].reply_markup)
        return Rendered(messages=list(messages))

    def _with_media(self, media: MediaRef | None, pieces: list[str]) -> list[TelegramMessage]:
        messages = [TelegramMessage("send", piece) for piece in pieces]
        if media is None:
            return messages
        method = "photo" if media.kind == "photo" else "document"
        if len(pieces) == 1 and utf16_len(_visible(pieces[0])) <= self.caps.max_caption:
            return [TelegramMessage(method, pieces[0], media=media)]
        return [TelegramMessage(method, "", media=media), *messages]

    def _with_file(self, file: FileData, messages: list[TelegramMessage]) -> list[TelegramMessage]:
        """The file as a document, captioned with the reply's text when that is one short message."""
        if (len(messages) == 1 and messages[0].method == "send"
                and utf16_len(_visible(messages[0].text)) <= self.caps.max_caption):
            return [TelegramMessage("document", messages[0].text, file=file)]
        return [*messages, TelegramMessage("document", "", file=file)]


def _with_markup(message: TelegramMessage, markup: dict[str, Any]) -> TelegramMessage:
    return TelegramMessage(message.method, message.text, markup, message.media, message.file)


def _visible(html: str) -> str:
    """The text Telegram counts: tags removed, entities decoded (our own HTML only, so this is exact)."""
    import re
    from html import unescape

    return unescape(re.sub(r"<[^>]+>", "", html))
