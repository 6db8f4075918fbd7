"""Zalo updates through the conversation pipeline, and the replies back, by long polling.

`getUpdates` hands out one update per call and answers 408 when there is nothing; a webhook and polling
exclude each other, so polling starts with `deleteWebhook`. Each update is handled as its own task;
one person's updates (and the sending of their replies) stay in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from bot.channels.text import TextMessage, TextRenderer
from bot.channels.zalo.client import (
    ZaloClient,
    ZaloDeliveryUnknown,
    ZaloError,
    ZaloNotSent,
    ZaloRateLimited,
    ZaloUnauthorized,
    ZaloUpdate,
)
from bot.channels.zalo.inbound import CHANNEL, RecentIds, event_of
from bot.conversation.pipeline import Pipeline, flatten
from bot.media import MAX_BYTES

log = logging.getLogger(__name__)
SEND_ATTEMPTS = 4


class ZaloChannel:
    def __init__(self, client: ZaloClient, pipeline: Pipeline, *, renderer: TextRenderer | None = None,
                 poll_timeout: int = 30, sleep: Callable[[float], object] = asyncio.sleep) -> None:
        self.client, self.pipeline = client, pipeline
        media = pipeline.app.media
        self.renderer = renderer or (TextRenderer(media_url=media.url) if media is not None else TextRenderer())
        self.poll_timeout = poll_timeout
        self._sleep = sleep
        self._seen = RecentIds()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    async def run_polling(self, on_ready: Callable[[], None] | None = None) -> None:
        """Poll until stopped; a refused token stops with ZaloUnauthorized (the caller says it in one line)."""
        await self.client.delete_webhook()
        me = await self.client.get_me()
        log.info("Zalo: polling as %s", me.get("account_name") or me.get("id"))
        if on_ready is not None:
            on_ready()
        failures = 0
        while not self._stopping.is_set():
            try:
                update = await self.client.get_updates(timeout=self.poll_timeout)
                failures = 0
            except ZaloUnauthorized:
                raise
            except ZaloError as exc:
                failures += 1
                log.warning("Zalo: polling failed (%s); trying again", exc)
                await self._sleep(min(30.0, 0.5 * 2**failures))
                continue
            if update is not None:
                self.accept(update)

    def accept(self, update: ZaloUpdate) -> asyncio.Task[None] | None:
        """Handle one update (from a poll or a webhook) in the background; duplicates are dropped."""
        if not self._seen.first_time(update.message_id):
            return None
        task = asyncio.create_task(self._handle(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _kept_photo(self, update: ZaloUpdate) -> str | None:
        """A received photo, downloaded at once into the media store (Zalo's URLs expire); its id."""
        media = self.pipeline.app.media
        if update.event_name != "message.image.received" or not update.photo_url or media is None:
            return None
        try:
            data = await self.client.download(update.photo_url, MAX_BYTES)
            return (await media.keep(data, kind="photo", channel=CHANNEL)).ref
        except (ZaloError, OSError, ValueError) as exc:
            log.warning("Zalo: a received photo could not be kept: %s", exc)
            return None

    async def _handle(self, update: ZaloUpdate) -> None:
        event = event_of(update, media_ref=await self._kept_photo(update))
        if event is None:
            return
        key = update.sender_id
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                rendered = await self.pipeline.handle(event, self.renderer)
                await self.send(update.chat_id, flatten(rendered))  # type: ignore[arg-type]
        except Exception:
            log.exception("Zalo: an update could not be handled")
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def send(self, chat_id: str, messages: Sequence[TextMessage]) -> None:
        for message in messages:
            await self._send_one(chat_id, message)

    async def _send_one(self, chat_id: str, message: TextMessage) -> None:
        for attempt in range(SEND_ATTEMPTS):
            try:
                if message.photo_url:
                    await self.client.send_photo(chat_id, message.photo_url, message.text or None)
                else:
                    await self.client.send_message(chat_id, message.text)
                return
            except ZaloDeliveryUnknown as exc:
                log.warning("Zalo: a reply may or may not have arrived; not resent (%s)", exc)
                return
            except (ZaloNotSent, ZaloRateLimited) as exc:
                log.info("Zalo: reply not sent (%s), attempt %d", exc, attempt + 1)
                await self._sleep(min(10.0, 0.5 * 2**attempt))
        log.warning("Zalo: a reply to %s could not be sent after %d attempts", chat_id[:4], SEND_ATTEMPTS)

    async def stop(self) -> None:
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
