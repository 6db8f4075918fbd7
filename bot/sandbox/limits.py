"""Token buckets with an injectable clock, as Telegram enforces its limits."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class RateLimits:
    global_per_s: float = 30.0
    global_burst: float = 30.0
    per_chat_per_s: float = 1.0
    per_chat_burst: float = 3.0
    enabled: bool = True


class Bucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, now

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Limiter:
    """Global and per-chat buckets; `check` answers the retry_after Telegram would give, or 0."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits, self.clock = limits, clock
        self._global: Bucket | None = None
        self._chats: dict[int, Bucket] = {}

    def configure(self, limits: RateLimits) -> None:
        self.limits = limits
        self._global = None
        self._chats.clear()

    def check(self, chat_id: int) -> int:
        if not self.limits.enabled:
            return 0
        now = self.clock()
        if self._global is None:
            self._global = Bucket(self.limits.global_per_s, self.limits.global_burst, now)
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = Bucket(self.limits.per_chat_per_s, self.limits.per_chat_burst, now)
        # Look at both before taking from either, so a refused call costs nothing.
        for bucket in (self._global, chat):
            bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.at) * bucket.rate)
            bucket.at = now
        wait = max((1 - b.tokens) / b.rate if b.tokens < 1 else 0.0 for b in (self._global, chat))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._global.tokens -= 1
        chat.tokens -= 1
        return 0
