"""The one delivery path: rows in `outbox`, sent by workers through a per-channel sender.

Row states: pending → sending → sent | failed | blocked | unknown (| cancelled, for a stopped broadcast).

* Pacing: every worker draws from one token bucket stored in the database (`send_budget`), so all
  sender processes together stay under the global rate; a worker also keeps ≥ 1 s between two
  messages to the same chat.
* A row is claimed (pending → sending, `claimed_at` set) in its own committed transaction before the
  network call; on PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so two workers never take the
  same row.
* 429: the row goes back to pending, due after `retry_after`; a burst of 429s pauses every worker.
  403 / chat not found: `blocked`, and the person is marked unreachable until they write again.
  Errors that prove nothing left (cannot connect, DNS, a 5xx answered with a body): retried with
  exponential backoff, then `failed` with the reason.
* A timeout after the request was sent, a dropped connection, an unreadable answer: the message may
  have left, so the row becomes `unknown` and is never resent (nobody gets two copies); counted apart
  from `failed`.
* Stopping: `stop()` stops claiming and lets the sends in flight finish and be recorded (SIGTERM).
* A crash mid-send (SIGKILL, power loss) leaves rows in `sending` whose outcome is unknown: the
  message may have left. Once older than the client timeout plus a margin they are marked `unknown`,
  never resent; the broadcast report counts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.base import (
    ChannelSender,
    DeliveryUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    Unreachable,
)
from bot.clock import Clock
from bot.domain import OutboxStatus
from storage.models import OutboxMessage, SendBudget, User

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
SEND_TIMEOUT = 60.0  # seconds; the client's timeout (SEND_TIMEOUT setting), well above Telegram's latency
STALE_MARGIN = 60.0  # a row `sending` longer than the timeout plus this was cut off by a crash
PER_CHAT_GAP = 1.0  # seconds between two messages to one chat
MAX_INLINE_WAIT = 2.0  # deliver_due waits this long at most for the next due row
BUDGET = "telegram"


async def enqueue(
    session: AsyncSession,
    *,
    clock: Clock,
    user: User,
    kind: str,
    text: str,
    payload: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    announcement_id: int | None = None,
    due: datetime | None = None,
) -> OutboxMessage:
    """Queue one message to one person, in the caller's transaction (sent after it commits)."""
    now = clock.now()
    row = OutboxMessage(
        channel=user.channel,
        chat_id=user.external_id,
        user_id=user.id,
        kind=kind,
        text=text,
        payload={"parse_mode": "HTML", **(payload or {})},
        status=OutboxStatus.PENDING,
        next_attempt_at=due or now,
        dedupe_key=dedupe_key,
        announcement_id=announcement_id,
        created_at=now,
    )
    session.add(row)
    session.info["outbox_dirty"] = True
    return row


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background delivery failed", exc_info=task.exception())


class OutboxWorker:
    """Claims due rows within the shared rate budget and hands them to the channel's sender."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        senders: Mapping[str, ChannelSender],
        clock: Clock,
        *,
        rate: float = 25.0,
        concurrency: int = 16,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.session_maker = session_maker
        self.senders = dict(senders)
        self.clock = clock
        self.rate = rate
        # A small bucket: at most rate + rate/10 messages in any one-second window (27 at 25/s).
        self.capacity = max(1.0, rate / 10)
        self.concurrency = concurrency
        # No call can still be running after its timeout: older `sending` rows belong to a dead process.
        self.stale_after = timedelta(seconds=send_timeout + STALE_MARGIN)
        self._lock = asyncio.Lock()
        self._stopping = False
        self._running = False
        self._wake = asyncio.Event()
        self._last_sent: dict[str, float] = {}
        self._recent_429: deque[float] = deque(maxlen=3)
        self.stats = {"sent": 0, "retries_429": 0, "blocked": 0, "failed": 0, "unknown": 0}

    # --- recovery ---

    async def recover_interrupted(self) -> int:
        """Rows left in `sending` by a dead process: the message may have left, so `unknown`, never resent."""
        cutoff = self.clock.now() - self.stale_after
        async with self.session_maker() as session:
            result = await session.exec(
                update(OutboxMessage)  # type: ignore[call-overload]
                .where(col(OutboxMessage.status) == OutboxStatus.SENDING, col(OutboxMessage.claimed_at) < cutoff)
                .values(status=OutboxStatus.UNKNOWN, last_error="interrupted: delivery unknown, not resent")
            )
            await session.commit()
            return int(result.rowcount or 0)

    # --- the shared budget ---

    async def _take_budget(self, session: AsyncSession, want: int, now: datetime) -> tuple[int, float]:
        """Take up to `want` tokens from the shared bucket (row-locked on PostgreSQL)."""
        query = select(SendBudget).where(SendBudget.name == BUDGET)
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        budget = (await session.exec(query)).first()
        if budget is None:
            try:
                async with session.begin_nested():
                    session.add(SendBudget(name=BUDGET, tokens=self.capacity, refilled_at=now))
            except IntegrityError:
                pass  # another worker created it first
            budget = (await session.exec(query)).one()
        if budget.paused_until is not None and budget.paused_until > now:
            return 0, (budget.paused_until - now).total_seconds()
        elapsed = max(0.0, (now - budget.refilled_at).total_seconds())
        tokens = min(self.capacity, budget.tokens + elapsed * self.rate)
        take = min(want, math.floor(tokens))
        budget.tokens = tokens - take
        # `now` was read before the row lock: another worker may have refilled later; never go back in time.
        budget.refilled_at = max(budget.refilled_at, now)
        session.add(budget)
        return take, 0.0 if take else (1 - tokens) / self.rate

    async def _refund(self, session: AsyncSession, tokens: int) -> None:
        if tokens > 0:
            await session.exec(
                update(SendBudget).where(col(SendBudget.name) == BUDGET)  # type: ignore[call-overload]
                .values(tokens=SendBudget.tokens + tokens)
            )

    async def _pause_all(self, seconds: float) -> None:
        async with self.session_maker() as session:
            await session.exec(
                update(SendBudget).where(col(SendBudget.name) == BUDGET)  # type: ignore[call-overload]
                .values(paused_until=self.clock.now() + timedelta(seconds=seconds))
            )
            await session.commit()

    # --- claiming ---

    async def _claim(self, slots: int) -> tuple[list[OutboxMessage], float | None]:
        """Claim what the budget and the free send slots allow; returns (rows, seconds to wait) — wait None
        when nothing is due. A claimed row is sent at once: none waits in `sending` for a slot."""
        now = self.clock.now()
        mono = self.clock.monotonic()
        async with self.session_maker() as session:
            due = (
                select(OutboxMessage, User.unreachable_at)
                .join(User, col(User.id) == col(OutboxMessage.user_id), isouter=True)
                .where(OutboxMessage.status == OutboxStatus.PENDING, col(OutboxMessage.next_attempt_at) <= now)
                .order_by(col(OutboxMessage.id)).limit(int(self.capacity) * 4)
            )
            if session.bind.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True, of=OutboxMessage)
            rows = (await session.exec(due)).all()
            if not rows:
                await session.commit()
                nxt = (await session.exec(
                    select(OutboxMessage.next_attempt_at).where(OutboxMessage.status == OutboxStatus.PENDING)
                    .order_by(col(OutboxMessage.next_attempt_at)).limit(1))).first()
                return [], None if nxt is None else max(0.0, (nxt - now).total_seconds())
            candidates = []
            for row, unreachable_at in rows:
                if unreachable_at is not None:
                    # They blocked the bot: settle the row without sending (only due rows, so it stays cheap).
                    row.status = OutboxStatus.BLOCKED
                    row.last_error = "recipient unreachable"
                    session.add(row)
                else:
                    candidates.append(row)
            # One message per chat per batch, and ≥ PER_CHAT_GAP since this worker last wrote to it.
            chosen: list[OutboxMessage] = []
            seen: set[str] = set()
            chat_wait = math.inf
            for row in candidates:
                gap = PER_CHAT_GAP - (mono - self._last_sent.get(row.chat_id, -math.inf))
                if row.chat_id in seen or gap > 0:
                    chat_wait = min(chat_wait, max(gap, 0.05))
                    continue
                seen.add(row.chat_id)
                chosen.append(row)
            chosen = chosen[:slots]
            take, budget_wait = await self._take_budget(session, len(chosen), now) if chosen else (0, math.inf)
            chosen = chosen[:take]
            for row in chosen:
                row.status = OutboxStatus.SENDING
                row.attempts += 1
                row.claimed_at = now
                session.add(row)
            await session.commit()
            if chosen:
                return chosen, 0.0
            if len(candidates) < len(rows):
                return [], 0.0  # rows were settled as blocked: look again at once
            return [], max(0.01, min(budget_wait, chat_wait))

    # --- sending ---

    async def deliver_due(self, *, drain: bool = False) -> int:
        """Send what is due, pacing by sleeping on the clock; returns the rows handled.

        Stops when nothing is due within MAX_INLINE_WAIT; with `drain`, waits (on the clock) until no
        row is pending at all — for tests with a fake clock and for benchmarks.
        """
        async with self._lock:
            tasks: set[asyncio.Task[None]] = set()
            try:
                handled = await self._deliver_loop(tasks, drain)
            except asyncio.CancelledError:
                # Killed: sends in flight die with us and their rows stay `sending` (see recover_interrupted).
                for task in tasks:
                    task.cancel()
                raise
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if len(self._last_sent) > 10_000:
                horizon = self.clock.monotonic() - PER_CHAT_GAP
                self._last_sent = {k: v for k, v in self._last_sent.items() if v > horizon}
            return handled

    async def _deliver_loop(self, tasks: set[asyncio.Task[None]], drain: bool) -> int:
        handled = 0
        finished = [0]  # sends completed so far (a list so the done-callback can count)

        def done(_task: asyncio.Task[None]) -> None:
            finished[0] += 1

        while not self._stopping:
            if len(tasks) >= self.concurrency:
                # Every send slot is busy: wait for one before claiming (a claimed row never waits).
                await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            finished_before = finished[0]
            rows, wait = await self._claim(self.concurrency - len(tasks))
            if rows:
                for row in rows:
                    self._last_sent[row.chat_id] = self.clock.monotonic()
                    task = asyncio.create_task(self._deliver(row))
                    task.add_done_callback(done)
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                handled += len(rows)
                continue
            if wait is None and tasks:
                # Sends in flight may put their row back (429, network error): wait for one.
                await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            if wait is None and finished[0] != finished_before:
                continue  # a send finished while we looked: its row may be pending again
            if wait is None or (wait > MAX_INLINE_WAIT and not drain):
                break
            await self.clock.sleep(wait)
        return handled

    def notify(self) -> asyncio.Task[int] | None:
        """New rows were committed: wake the running loop, or (no loop, as in tests) deliver now."""
        if self._running:
            self._wake.set()
            return None
        task = asyncio.create_task(self.deliver_due())
        task.add_done_callback(_log_task_error)
        return task

    async def run(self, idle: float = 1.0) -> None:
        """Production loop: deliver, then wait for a wake-up or `idle` seconds."""
        self._running = True
        while not self._stopping:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("delivery round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; the sends in flight finish and are recorded."""
        self._stopping = True
        self._wake.set()
        async with self._lock:
            pass

    async def _deliver(self, row: OutboxMessage) -> None:
        sender = self.senders.get(row.channel)
        status, error, retry_at, unreachable = OutboxStatus.SENT, None, None, False
        attempts = row.attempts
        if sender is None:
            status, error = OutboxStatus.FAILED, f"no sender for channel {row.channel}"
        else:
            try:
                await sender.send(row.chat_id, row.text, row.payload)
            except RateLimited as exc:
                status, retry_at = OutboxStatus.PENDING, self.clock.now() + timedelta(seconds=exc.retry_after)
                attempts -= 1  # being told to wait is not a failed attempt
                self.stats["retries_429"] += 1
                await self._note_429(exc.retry_after)
            except Unreachable as exc:
                status, error, unreachable = OutboxStatus.BLOCKED, str(exc)[:500], True
            except PermanentError as exc:
                status, error = OutboxStatus.FAILED, str(exc)[:500]
            except (TransientError, ConnectionRefusedError) as exc:
                error = (str(exc) or type(exc).__name__)[:500]
                if attempts >= MAX_ATTEMPTS:
                    status = OutboxStatus.FAILED
                else:
                    status = OutboxStatus.PENDING
                    retry_at = self.clock.now() + timedelta(seconds=min(300, 2 ** attempts))
            except (DeliveryUnknown, OSError) as exc:  # timeouts and resets included
                # The request may have left: resending could give a second copy.
                status, error = OutboxStatus.UNKNOWN, (str(exc) or type(exc).__name__)[:500]
            except Exception as exc:  # a bug in a sender must not leave the row in `sending`
                log.exception("sender crashed on outbox row %s", row.id)
                status, error = OutboxStatus.FAILED, f"internal error: {type(exc).__name__}"
        now = self.clock.now()
        values: dict[str, Any] = {"status": status, "last_error": error, "attempts": attempts}
        if status == OutboxStatus.SENT:
            values["sent_at"] = now
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        async with self.session_maker() as session:
            await session.exec(
                update(OutboxMessage).where(col(OutboxMessage.id) == row.id)  # type: ignore[call-overload]
                .values(**values)
            )
            if unreachable and row.user_id is not None:
                await session.exec(
                    update(User).where(col(User.id) == row.user_id).values(unreachable_at=now)  # type: ignore[call-overload]
                )
            await session.commit()
        if status in (OutboxStatus.SENT, OutboxStatus.BLOCKED, OutboxStatus.FAILED, OutboxStatus.UNKNOWN):
            self.stats[status.value] += 1
        if status in (OutboxStatus.FAILED, OutboxStatus.UNKNOWN):
            log.warning("outbox row %s %s: %s", row.id, status.value, error)

    async def _note_429(self, retry_after: float) -> None:
        """Several 429s within a second mean a global flood: pause every worker."""
        mono = self.clock.monotonic()
        self._recent_429.append(mono)
        if len(self._recent_429) == self._recent_429.maxlen and mono - self._recent_429[0] < 1.0:
            await self._pause_all(retry_after)
            self._recent_429.clear()
