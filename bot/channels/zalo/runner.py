"""Zalo updates through the conversation pipeline, and the replies back, by long polling or a webhook.

`getUpdates` hands out one update per call and answers 408 when there is nothing; a webhook and polling
exclude each other, so polling starts with `deleteWebhook` and webhook mode with `setWebhook`. Each update
is handled as its own task (a webhook POST is answered once it is handled and answered); one person's updates
(and the sending of their replies) stay in order.

Errors as Zalo documents them: 401 stops (ZaloUnauthorized leaves `run_*`), 429 without retry_after and
408/5xx are retried after a capped exponential back-off (the sleep is injected), 403 means the person
cannot be messaged (logged, nothing retried).

An update delivered twice (Zalo retrying a webhook POST, perhaps to another process behind the load balancer) is
handled once: this process remembers the ids it saw, and the pipeline marks each update as handled in its unit
of work, in the database every process shares. A person flooding the bot meets the same per-person throttle as
on Telegram, in the pipeline (bot/services/throttle.py): told once to slow down, the rest of the flood dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot import health
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
    ZaloUpdate,
)
from bot.channels.zalo.inbound import CHANNEL, RecentIds, WebhookRefused, accept_webhook, event_of
from bot.conversation.events import Event
from bot.conversation.pipeline import Pipeline, flatten, queued
from bot.conversation.replies import Rendered
from bot.media import MAX_BYTES
from bot.services import usage
from bot.services.throttle import may_pass

log = logging.getLogger(__name__)
T = TypeVar("T")
SEND_ATTEMPTS = 4
SECRET_HEADER = "X-Bot-Api-Secret-Token"
MAX_BACKOFF = 30.0


def backoff(failures: int, cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait after `failures` failed calls in a row: 1, 2, 4 … up to `cap` (never 0)."""
    return min(cap, 0.5 * 2 ** max(1, failures))


class ZaloChannel:
    def __init__(self, client: ZaloClient, pipeline: Pipeline, *, renderer: TextRenderer | None = None,
                 poll_timeout: int = 30, sleep: Callable[[float], object] = asyncio.sleep,
                 scheduler: Any | None = None) -> None:
        self.client, self.pipeline = client, pipeline
        self.scheduler = scheduler  # this process's, for /healthz
        self.leader: Any | None = None  # and whether it leads (bot/leader.py)
        media = pipeline.app.media
        self.renderer = renderer or (TextRenderer(media_url=media.url) if media is not None else TextRenderer())
        self.poll_timeout = poll_timeout
        self._sleep = sleep
        self._seen = RecentIds()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    async def run_polling(self, on_ready: Callable[[], None] | None = None) -> None:
        """Poll until stopped; a refused token stops with ZaloUnauthorized (the caller says it in one line)."""
        await self._retrying(self.client.delete_webhook)
        me = await self._retrying(self.client.get_me)
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
                wait = backoff(failures)
                log.warning("Zalo: polling failed (%s); trying again in %g s", exc, wait)
                await self._sleep(wait)
                continue
            if update is not None:
                self.accept(update)

    async def run_webhook(self, url: str, secret: str, *, host: str = "127.0.0.1", port: int = 8081,
                          on_ready: Callable[[], None] | None = None) -> None:
        """Listen on host:port, tell Zalo to POST there (`setWebhook`), and serve until stopped."""
        me = await self._retrying(self.client.get_me)
        runner = web.AppRunner(self.webhook_app(secret), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            await self._retrying(lambda: self.client.set_webhook(url, secret))
            log.info("Zalo: webhook as %s, listening on %s:%d", me.get("account_name") or me.get("id"), host, port)
            if on_ready is not None:
                on_ready()
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """A start-up call, tried again after a back-off on 429/408/5xx; 401 and other refusals are raised."""
        failures = 0
        while True:
            try:
                return await call()
            except (ZaloNotSent, ZaloRateLimited, ZaloDeliveryUnknown) as exc:
                failures += 1
                wait = backoff(failures)
                log.warning("Zalo: %s; trying again in %g s", exc, wait)
                await self._sleep(wait)

    def webhook_app(self, secret: str) -> web.Application:
        """The webhook's HTTP side: any path, POST only; the secret header is what admits a request. Also
        GET /healthz (bot/health.py) for the orchestrator: no secret, and it says nothing secret."""
        app = web.Application(client_max_size=2**20)

        async def healthz(request: web.Request) -> web.StreamResponse:
            status, body = await health.check(self.pipeline.app, scheduler=self.scheduler, leader=self.leader)
            return web.json_response(body, status=status)

        async def receive(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            try:
                update = accept_webhook(body, request.headers.get(SECRET_HEADER), secret, self._seen)
            except WebhookRefused:
                return web.json_response({"ok": False, "error_code": 403, "description": "Forbidden"}, status=403)
            if update is not None:
                # Answered once handled and its replies sent (or queued): a process killed meanwhile leaves the
                # POST unanswered, so Zalo delivers it again instead of the update being lost.
                await self._handled(update)
            return web.json_response({"ok": True})

        app.router.add_get("/healthz", healthz)
        app.router.add_post("/{path:.*}", receive)
        return app

    async def receive(self, body: bytes, headers: Mapping[str, str], secret: str) -> int:
        """A webhook POST served by the console's ASGI app (`/webhook/zalo`): the same checks and duplicate
        filter as the bot's own listener, but answered once the update is handled and its replies sent, so a
        person's updates stay in order across processes. The HTTP status to answer (403: nothing done)."""
        try:
            update = accept_webhook(body, headers.get(SECRET_HEADER), secret, self._seen)
        except WebhookRefused:
            return 403
        if update is not None:
            await self._handled(update)
        return 200

    async def _handled(self, update: ZaloUpdate) -> None:
        """Handle a webhook's update before its POST is answered. Shielded: a request cut off (the server
        stopping, the client gone) does not cut the handling short mid-send; it runs on to the end."""
        task = self._start(update)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:  # nothing a delivery again would change: answered 200, and logged
            log.exception("Zalo: an update could not be handled")

    def accept(self, update: ZaloUpdate) -> asyncio.Task[None] | None:
        """Handle one update (from a poll or a webhook) in the background; duplicates are dropped."""
        if not self._seen.first_time(update.message_id):
            return None
        return self._start(update)

    def _start(self, update: ZaloUpdate) -> asyncio.Task[None]:
        task = asyncio.create_task(self._handle(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _kept_photo(self, update: ZaloUpdate) -> str | None:
        """A received photo, downloaded at once into the media store (Zalo's URLs expire); its id."""
        media = self.pipeline.app.media
        if update.event_name != "message.image.received" or not update.photo_url or media is None:
            return None
        if not await may_pass(self.pipeline.app, f"{CHANNEL}:{update.sender_id}"):
            return None  # a flood: the pipeline drops it, and no photo of it is fetched only to be dropped
        try:
            data = await self.client.download(update.photo_url, MAX_BYTES)
            return (await media.keep(data, kind="photo", channel=CHANNEL)).ref
        except (ZaloError, OSError, ValueError, SQLAlchemyError) as exc:
            log.warning("Zalo: a received photo could not be kept: %s", exc)
            return None

    async def _handle(self, update: ZaloUpdate) -> None:
        if update.is_bot:
            return
        event = event_of(update, media_ref=await self._kept_photo(update))
        if event is None:
            return
        key = update.sender_id
        # One lock per person while any of their updates is under way; a count (not lock.locked(), which is
        # False between a release and the next waiter's wake-up) says when it can go.
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                rendered = await self.pipeline.handle(event, self.renderer, update_id=update.message_id or None)
                await self._count(await self._reply(event, update.chat_id, rendered))
                if flatten(rendered):
                    await self.pipeline.answered(event.who, update.message_id or None)
        except Exception:
            log.exception("Zalo: an update could not be handled")
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _count(self, messages: int) -> None:
        """Replies count against Zalo's monthly quota as the outbox's messages do (bot/services/usage.py)."""
        if not messages:
            return
        app = self.pipeline.app
        try:
            async with app.session_maker() as session:
                await usage.record(session, channel=CHANNEL, moment=app.clock.now(), messages=messages, tz=app.tz)
                await session.commit()
        except Exception:  # the count is a figure for staff: never let it cost a person their answer
            log.warning("Zalo: the month's message count could not be updated", exc_info=True)

    async def send(self, chat_id: str, messages: Sequence[TextMessage]) -> int:
        """Send in order; returns how many messages may have arrived (for the month's count)."""
        return sum([bool(await self._send_one(chat_id, message)) for message in messages])

    async def _reply(self, event: Event, chat_id: str, rendered: list[Rendered]) -> int:
        """Send the replies in order; from the first that could not go after the retries, the rest goes to the
        outbox (never lost, one copy, in order). Returns how many messages may have arrived."""
        sent = 0
        for index, message in enumerate(flatten(rendered)):
            outcome = await self._send_one(chat_id, message)  # type: ignore[arg-type]
            if outcome is None:
                if chat_id == event.who.external_id:
                    await self.pipeline.defer(event.who, queued(rendered, self.renderer.caps, done=index))
                break
            sent += outcome
        return sent

    async def _send_one(self, chat_id: str, message: TextMessage) -> bool | None:
        """True: sent (or perhaps: never resent); False: refused for good; None: not sent after the retries."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                if message.photo_url:
                    await self.client.send_photo(chat_id, message.photo_url, message.text or None)
                else:
                    await self.client.send_message(chat_id, message.text)
                return True
            except ZaloDeliveryUnknown as exc:
                log.warning("Zalo: a reply may or may not have arrived; not resent (%s)", exc)
                return True
            except ZaloUnreachable as exc:
                log.info("Zalo: %s cannot be messaged (%s)", chat_id[:4], exc)
                return False
            except ZaloBadRequest as exc:
                log.warning("Zalo: a reply was refused (%s)", exc)
                return False
            except (ZaloNotSent, ZaloRateLimited) as exc:
                log.info("Zalo: reply not sent (%s), attempt %d", exc, attempt + 1)
                await self._sleep(backoff(attempt + 1, cap=10.0))
        log.warning("Zalo: a reply to %s could not be sent after %d attempts", chat_id[:4], SEND_ATTEMPTS)
        return None

    async def stop(self) -> None:
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
