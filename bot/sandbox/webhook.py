"""The sandbox Bot API server's webhook side: what Telegram does once `setWebhook` has been called.

Each update is POSTed to the webhook's URL with the `X-Telegram-Bot-Api-Secret-Token` header. One chat's
updates go one after another (the next leaves once the previous one was answered 2xx), different chats'
concurrently, at most `max_connections` at a time (Telegram's default: 40). A POST that fails (no connection,
a non-2xx answer) is tried again after a short back-off, as Telegram does, so an update is never lost.

`targets` stands for a load balancer in front of the URL: the POSTs are spread over those addresses in turn,
and a failed one (refused, a connection dropped before the answer: a process killed while handling it) is
tried again on the next address, then the next, until one answers 2xx (a dead process's share goes to the
living ones). The update a killed process was handling is thus delivered again, as Telegram does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BACKOFF = 2.0
POST_TIMEOUT = 60.0


class WebhookPusher:
    def __init__(self, url: str, secret: str | None, *, max_connections: int = 40,
                 targets: list[str] | None = None) -> None:
        self.url, self.secret = url, secret
        self.targets = targets
        self._turn = itertools.count()
        self._slots = asyncio.Semaphore(max(1, max_connections))
        self._queues: dict[int, list[dict[str, Any]]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failures = 0

    def push(self, chat: int, update: dict[str, Any]) -> None:
        """Queue an update for its chat; the chat's sender starts if it is not running."""
        self._queues.setdefault(chat, []).append(update)
        if chat not in self._tasks:
            self._tasks[chat] = asyncio.create_task(self._drain(chat))

    def pending(self) -> list[dict[str, Any]]:
        """Updates not delivered yet, oldest first (given back to getUpdates when the webhook is deleted)."""
        return sorted((u for queue in self._queues.values() for u in queue), key=lambda u: u["update_id"])

    async def _drain(self, chat: int) -> None:
        queue = self._queues[chat]
        try:
            while queue:
                await self._deliver(queue[0])
                queue.pop(0)
        finally:
            self._tasks.pop(chat, None)
            if not queue:
                self._queues.pop(chat, None)

    async def _deliver(self, update: dict[str, Any]) -> None:
        failures = 0
        turn = next(self._turn)
        while not await self._post(update, turn + failures):  # after a failure: the next address
            failures += 1
            self.failures += 1
            if failures % len(self.targets or [self.url]) == 0:  # every address failed once: back off
                await asyncio.sleep(min(MAX_BACKOFF, 0.05 * 2 ** failures))
        self.delivered += 1

    async def _post(self, update: dict[str, Any], turn: int) -> bool:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT))
        targets = self.targets or [self.url]
        url = targets[turn % len(targets)]
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SECRET_HEADER] = self.secret
        async with self._slots:
            try:
                async with self._session.post(url, data=json.dumps(update), headers=headers) as response:
                    await response.read()
                    return 200 <= response.status < 300
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("webhook POST to %s failed: %s", url, exc)
                return False

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
