"""What the delivery loop expects of a channel, whichever messenger it is."""

from __future__ import annotations

from typing import Any, Protocol


class DeliveryError(Exception):
    """A send failed; subclasses tell the outbox what to do next."""


class RateLimited(DeliveryError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class Unreachable(DeliveryError):
    """The person blocked the bot or the account is gone: stop sending until they write again."""


class TransientError(DeliveryError):
    """Nothing left (could not connect, DNS, a 5xx answer with a body): try again later."""


class DeliveryUnknown(DeliveryError):
    """The request may have left (a timeout after sending, a dropped connection): never send it again."""


class PartlySent(DeliveryError):
    """A message in several parts stopped after `sent` parts (counted from the first) for a reason that proves
    the next part did not leave (`cause`: RateLimited or TransientError). The row is tried again from part
    `sent` — the outbox keeps that number in the row (`payload["parts_sent"]`) — so nobody gets a part twice."""

    def __init__(self, sent: int, cause: RateLimited | TransientError) -> None:
        super().__init__(f"{sent} parts sent; then: {cause}")
        self.sent, self.cause = sent, cause


class PermanentError(DeliveryError):
    """The message itself was refused (bad request): retrying will not help."""


class ChannelSender(Protocol):
    channel: str

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> int | None:
        """Deliver one row or raise a DeliveryError; returns how many messages it took (None: one)."""
