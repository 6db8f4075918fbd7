"""Telegram's rules for what a bot sends, as the Bot API enforces them.

Shared by the sandbox's Telegram server and the tests' fake Bot, so that a reply Telegram would refuse
fails in every test too: texts over 4,096 and captions over 1,024 characters (counted as Telegram counts
them: UTF-16 code units of the text left after HTML parsing), HTML Telegram cannot parse (unknown or
unclosed tags, a bare "<" or "&"), callback data over 64 bytes and more than 100 inline buttons.
The HTML parser follows the one in Telegram's own library (tdlib's parse_html), errors included.
"""

from __future__ import annotations

import json
import re
from typing import Any

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
BUTTON_LIMIT = 100
NOTICE_LIMIT = 200  # answerCallbackQuery's text

TAGS = frozenset({"a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "span",
                  "tg-spoiler", "tg-emoji", "blockquote"})
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_NAME = re.compile(r"[a-zA-Z0-9_-]*")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message")
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class Refused(Exception):
    """What Telegram answers with a 400: `description` is its text."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _offset(text: str, at: int) -> int:
    return len(text[:at].encode("utf-8"))


def _parse_error(detail: str) -> Refused:
    return Refused(f"Bad Request: can't parse entities: {detail}")


def _entity(text: str, at: int) -> tuple[str, int]:
    """The character an entity at `at` stands for, and where it ends; a bare "&" is refused."""
    match = _ENTITY.match(text, at)
    if match is not None:
        number, hexa, name = match.groups()
        if number or hexa:
            code = int(number) if number else int(hexa, 16)
            if 0 < code <= 0x10FFFF:
                return chr(code), match.end()
        elif name in _NAMED:
            return _NAMED[name], match.end()
    raise _parse_error(f"Character '&' is reserved and must be escaped with &amp; at byte offset "
                       f"{_offset(text, at)}")


def _start_tag(text: str, at: int) -> tuple[str, int]:
    """A start tag at `at` ("<"): its name and the index after its ">"."""
    name_match = _NAME.match(text, at + 1)
    assert name_match is not None
    name = name_match.group().lower()
    if not name or name not in TAGS:
        raise _parse_error(f'Unsupported start tag "{name}" at byte offset {_offset(text, at)}')
    i = name_match.end()
    attrs: dict[str, str] = {}
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise _parse_error(f"Unclosed start tag at byte offset {_offset(text, at)}")
        if text[i] == ">":
            break
        attr = _NAME.match(text, i)
        assert attr is not None
        if not attr.group():
            raise _parse_error(f'Empty attribute name in the tag "{name}" at byte offset {_offset(text, i)}')
        i = attr.end()
        if i < len(text) and (text[i].isspace() or text[i] == ">"):
            attrs[attr.group().lower()] = ""  # a flag such as <blockquote expandable>
            continue
        if i >= len(text) or text[i] != "=":
            raise _parse_error(f'Expected equal sign in declaration of an attribute of the tag "{name}" at byte '
                               f"offset {_offset(text, i)}")
        value, i = _attribute_value(text, i + 1, name)
        attrs[attr.group().lower()] = value
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _parse_error(f'Tag "span" must have class "tg-spoiler" at byte offset {_offset(text, at)}')
    return name, i + 1


def _attribute_value(text: str, i: int, tag: str) -> tuple[str, int]:
    if i >= len(text):
        raise _parse_error(f'Unclosed start tag "{tag}"')
    quote = text[i] if text[i] in "\"'" else ""
    end = text.find(quote, i + 1) if quote else i
    if quote and end < 0:
        raise _parse_error(f'Unclosed start tag "{tag}"')
    if not quote:
        while end < len(text) and not text[end].isspace() and text[end] != ">":
            end += 1
        return text[i:end], end
    return text[i + 1:end], end + 1


def parse_html(text: str) -> str:
    """The text Telegram shows for `text` in HTML mode, or `Refused` as Telegram refuses it."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "&":
            decoded, i = _entity(text, i)
            out.append(decoded)
        elif ch != "<":
            out.append(ch)
            i += 1
        elif text.startswith("</", i):
            i = _end_tag(text, i, stack)
        else:
            name, i = _start_tag(text, i)
            stack.append(name)
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _end_tag(text: str, at: int, stack: list[str]) -> int:
    if not stack:
        raise _parse_error(f"Unexpected end tag at byte offset {_offset(text, at)}")
    name_match = _NAME.match(text, at + 2)
    assert name_match is not None
    name = name_match.group().lower()
    if name != stack[-1]:
        raise _parse_error(f'Unmatched end tag at byte offset {_offset(text, at)}, expected "</{stack[-1]}>", '
                           f'found "</{name}>"')
    end = name_match.end()
    while end < len(text) and text[end].isspace():
        end += 1
    if end >= len(text) or text[end] != ">":
        raise _parse_error(f"Can't find end of tag at byte offset {_offset(text, at)}")
    stack.pop()
    return end + 1


def visible(text: str, parse_mode: str | None) -> str:
    return parse_html(text) if (parse_mode or "").upper() == "HTML" else text


def check_text(text: str | None, parse_mode: str | None) -> str:
    """sendMessage / editMessageText: the text as shown, or `Refused`."""
    shown = visible(text or "", parse_mode)
    if not shown.strip():
        raise Refused("Bad Request: message text is empty")
    if utf16_len(shown) > TEXT_LIMIT:
        raise Refused("Bad Request: message is too long")
    return shown


def check_caption(caption: str | None, parse_mode: str | None) -> str:
    shown = visible(caption or "", parse_mode)
    if utf16_len(shown) > CAPTION_LIMIT:
        raise Refused("Bad Request: message caption is too long")
    return shown


def check_markup(markup: Any) -> None:
    """Inline keyboards: at most 100 buttons, callback data of 1 to 64 bytes."""
    if isinstance(markup, str):
        markup = json.loads(markup) if markup else None
    rows = (markup or {}).get("inline_keyboard") if isinstance(markup, dict) else None
    if not rows:
        return
    buttons = [button for row in rows for button in row]
    if len(buttons) > BUTTON_LIMIT:
        raise Refused("Bad Request: reply markup is too long")
    for button in buttons:
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_LIMIT:
            raise Refused("Bad Request: BUTTON_DATA_INVALID")


def check_notice(text: str | None) -> None:
    if text and utf16_len(text) > NOTICE_LIMIT:
        raise Refused("Bad Request: MESSAGE_TOO_LONG")


def webhook_secret_ok(secret: str) -> bool:
    """setWebhook's secret_token: 1-256 characters, only A-Z, a-z, 0-9, _ and -."""
    return re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret) is not None
