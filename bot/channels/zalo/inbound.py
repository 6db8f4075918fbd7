"""Zalo updates → the one event type, and the webhook's checks (secret, body shapes, duplicates)."""

from __future__ import annotations

import hmac
import json
from collections import OrderedDict

from bot.channels.zalo.client import ZaloUpdate, parse_update
from bot.conversation.events import (
    CommandEvent,
    Event,
    MediaEvent,
    TextEvent,
    UnsupportedEvent,
    Who,
)

CHANNEL = "zalo"
NAME_LIMIT = 120


def who_of(update: ZaloUpdate, language: str | None = None) -> Who:
    # Names come from the channel: one line, no control characters, bounded before they reach a column.
    name = "".join(ch for ch in update.display_name if ch.isprintable()).strip()[:NAME_LIMIT]
    return Who(CHANNEL, update.sender_id, name, language)


def event_of(update: ZaloUpdate, *, media_ref: str | None = None) -> Event | None:
    """The event for an update; None for what must not be answered at all (the bot's own messages).

    An image becomes a MediaEvent only once the caller has kept it in the media store (`media_ref`):
    Zalo's photo URLs expire, so they are downloaded at once."""
    if update.is_bot:
        return None
    who = who_of(update)
    if update.chat_type.upper() != "PRIVATE":
        return Event(who, UnsupportedEvent("group"))
    if update.event_name == "message.text.received" and update.text is not None:
        return Event(who, command_or_text(update.text))
    if update.event_name == "message.image.received" and media_ref is not None:
        return Event(who, MediaEvent(media_ref, "photo", None, update.caption))
    return Event(who, UnsupportedEvent(update.event_name.removeprefix("message.").removesuffix(".received")))


def command_or_text(text: str) -> CommandEvent | TextEvent:
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        name, _sep, args = stripped[1:].partition(" ")
        if name and name.replace("_", "").isalnum() and name.isascii():
            return CommandEvent(name.lower(), args.strip())
    return TextEvent(text)


class WebhookRefused(Exception):
    """A webhook request that must get 403 and be processed in no way."""


class RecentIds:
    """The message ids seen lately: a webhook retried by Zalo is handled once."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, message_id: str) -> bool:
        if not message_id:
            return True
        if message_id in self._seen:
            self._seen.move_to_end(message_id)
            return False
        self._seen[message_id] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


def accept_webhook(body: bytes, secret_header: str | None, secret: str, seen: RecentIds) -> ZaloUpdate | None:
    """Check and parse one webhook POST: a wrong or missing secret raises WebhookRefused; a duplicate or
    a body without a message gives None (answer 200, do nothing)."""
    if not secret_header or not hmac.compare_digest(secret_header.encode(), secret.encode()):
        raise WebhookRefused("wrong or missing X-Bot-Api-Secret-Token")
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    update = parse_update(parsed)
    if update is None or not seen.first_time(update.message_id):
        return None
    return update
