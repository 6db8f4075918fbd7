"""Zalo sender for the outbox: a queued message (status changes, reminders, announcements) as Zalo texts.

A row holds a neutral reply, rendered here by the text renderer, split at Zalo's 2,000 characters. The person
may be mid-conversation when it arrives, so its choices cannot take numbers (the pending menu belongs to the
conversation): only choices with a typed keyword are shown, as their line ("To sign up, type: DK 12").
Rows queued before replies were stored (Telegram HTML with button data) are read as markup nodes, without
their buttons; an attachment is named.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.channels.base import (
    DeliveryUnknown,
    PartlySent,
    PermanentError,
    RateLimited,
    TransientError,
    Unreachable,
)
from bot.channels.text import TextMessage, TextRenderer
from bot.channels.zalo.client import (
    ZaloBadRequest,
    ZaloClient,
    ZaloDeliveryUnknown,
    ZaloError,
    ZaloNotSent,
    ZaloRateLimited,
    ZaloUnauthorized,
    ZaloUnreachable,
)
from bot.conversation.replies import Block, Reply, from_staff_html, reply_from_json

# Zalo's 429 carries no retry_after: wait this long before the row is tried again.
RATE_LIMIT_WAIT = 5.0


def reply_of_row(text: str, payload: dict[str, Any]) -> Reply:
    if "reply" in payload:
        reply = reply_from_json(payload["reply"])
        rows = tuple(row for row in (tuple(c for c in row if c.typed) for row in reply.choices) if row)
        return replace(reply, choices=rows)
    blocks = [Block(*from_staff_html(part)) for part in text.split("\n\n") if part.strip()]
    attachment = payload.get("attachment")
    if attachment and attachment.get("name"):
        blocks.append(Block("📎 " + str(attachment["name"])))
    return Reply(blocks=tuple(blocks))


class ZaloSender:
    channel = "zalo"

    def __init__(self, client: ZaloClient, renderer: TextRenderer | None = None) -> None:
        self.client = client
        self.renderer = renderer or TextRenderer()

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> int:
        """Send the row's parts in order (a photo by its URL, with the first part as caption when it fits),
        from `payload["parts_sent"]` on when an earlier try stopped part-way; returns how many messages this
        call sent."""
        if payload.get("texts"):  # a reply queued as the person was to see it (its numbered choices)
            messages = [TextMessage(**m) for m in payload["texts"]]
        else:
            messages = self.renderer.render(reply_of_row(text, payload)).messages  # type: ignore[assignment]
        first = int(payload.get("parts_sent") or 0)
        for index, message in enumerate(messages):
            if index < first:
                continue
            try:
                if message.photo_url:
                    await self.client.send_photo(chat_id, message.photo_url, message.text or None)
                else:
                    await self.client.send_message(chat_id, message.text)
            except ZaloError as exc:
                outcome = _outcome(exc)
                if index > first and isinstance(outcome, RateLimited | TransientError):
                    raise PartlySent(index, outcome) from exc  # the rest is sent later, from this part
                if index > first:
                    # Part of it has arrived and this one may have: sending it again could repeat it.
                    raise DeliveryUnknown(f"part {index + 1} of {len(messages)} not sent: {exc}") from exc
                raise outcome from exc
        return len(messages) - first


def _outcome(exc: ZaloError) -> Exception:
    if isinstance(exc, ZaloRateLimited):
        return RateLimited(RATE_LIMIT_WAIT)
    if isinstance(exc, ZaloUnreachable):
        return Unreachable(exc.description)
    if isinstance(exc, ZaloDeliveryUnknown):
        return DeliveryUnknown(exc.description)
    if isinstance(exc, ZaloNotSent | ZaloUnauthorized):
        # A refused token is the operator's to fix; the rows wait rather than fail.
        return TransientError(exc.description)
    if isinstance(exc, ZaloBadRequest):
        return PermanentError(exc.description)
    return TransientError(exc.description)
