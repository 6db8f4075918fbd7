"""The one delivery path: rows in `outbox`, sent by workers through a per-channel sender.

Row states: pending → sending → sent | failed | blocked | unknown (| cancelled, for a stopped broadcast).

* Priority: a row's `priority` (bot.domain.Priority) orders the claim before its id: replies that could not
  be sent at once, then status changes, test copies, sign-in codes, then reminders and digests, and bulk
  announcement sends last; a notification queued during a 10,000-recipient broadcast goes in the next claim.
* Pacing: each channel has its own token bucket stored in the database (`send_budget`, one row per
  channel), so all sender processes together stay under that channel's rate (Telegram about 30/s, Zalo a
  conservative setting) and a slow or paused channel never holds back another; a worker also keeps ≥ 1 s
  between two messages to the same chat — the claim skips chats written to less than a second ago, so one
  chat with many rows due never slows the others. A busy lane keeps the refill a slow claim cycle earned
  (up to CARRY seconds of it), so the achieved rate stays at the configured one.
  Rows of a channel this process has no sender for stay pending for a process that has one.
* Order per person: a queued reply (priority REPLY) is sent only after the earlier replies to that chat.
* A row is claimed (pending → sending, `claimed_at` set) in its own committed transaction before the
  network call; on PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED`, so two workers never take the
  same row.
* 429: the row goes back to pending, due after `retry_after`; a burst of 429s pauses every worker.
  403 / chat not found: `blocked`, and the person is marked unreachable until they write again.
  Errors that prove nothing left (cannot connect, DNS, a 5xx answered with a body): retried with
  capped exponential backoff for the retry span (RETRY_HOURS), then `failed` with the reason.
  429, outages and pauses are per channel: Zalo answering 429 (it gives no retry_after) pauses Zalo only.
* Outages: after DOWN_AFTER transient or unknown outcomes in a row the channel is "down": every worker
  pauses (2, 4, 8 … PAUSE_CAP seconds) and sends one probe at a time instead of burning every row;
  `send_budget.down_since` tells the broadcast progress to say "paused"; the first success clears it.
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
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from bot.channels.base import (
    ChannelSender,
    DeliveryUnknown,
    PartlySent,
    PermanentError,
    RateLimited,
    TransientError,
    Unreachable,
)
from bot.clock import Clock
from bot.conversation.replies import Reply, plain_reply_text, reply_to_json
from bot.domain import OutboxStatus, Priority
from bot.services import usage
from storage import repos
from storage.models import OutboxMessage, SendBudget, User

log = logging.getLogger(__name__)

RETRY_SPAN = timedelta(hours=6)  # default of the RETRY_HOURS setting
BACKOFF_CAP = 300.0  # seconds between two tries of one row, at most
DOWN_AFTER = 3  # transient/unknown outcomes in a row that mean the channel is down
PAUSE_CAP = 60.0  # seconds; longest pause while the channel is down
SEND_TIMEOUT = 60.0  # seconds; the client's timeout (SEND_TIMEOUT setting), well above Telegram's latency
STALE_MARGIN = 60.0  # a row `sending` longer than the timeout plus this was cut off by a crash
PER_CHAT_GAP = 1.0  # seconds between two messages to one chat
MAX_INLINE_WAIT = 2.0  # deliver_due waits this long at most for the next due row
RECORD_ATTEMPTS = 4  # writes of a send's outcome against a busy database
CARRY = 0.25  # seconds of refill a drained (busy) bucket keeps across one slow claim cycle


async def enqueue(
    session: AsyncSession,
    *,
    clock: Clock,
    user: User,
    kind: str,
    reply: Reply,
    dedupe_key: str | None = None,
    announcement_id: int | None = None,
    due: datetime | None = None,
    priority: Priority = Priority.NOTICE,
) -> OutboxMessage:
    """Queue one message to one person, in the caller's transaction (sent after it commits).

    The row keeps the neutral reply (rendered for the recipient's channel when it is sent) and its plain
    words in `text` for staff views and logs."""
    now = clock.now()
    row = OutboxMessage(
        channel=user.channel,
        chat_id=user.external_id,
        user_id=user.id,
        kind=kind,
        priority=priority,
        **stored(reply),
        status=OutboxStatus.PENDING,
        next_attempt_at=due or now,
        dedupe_key=dedupe_key,
        announcement_id=announcement_id,
        created_at=now,
    )
    session.add(row)
    session.info["outbox_dirty"] = True
    return row


REPLY_KIND = "reply"
# A reply to a chat in one of these states is still to be sent: the person's later replies queue behind it
# (read with the unit of work's first statement, storage.repos.turn_state).
WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


async def replies_waiting(session: AsyncSession, *, channel: str, chat_id: str) -> bool:
    """True while a reply to this chat waits in the outbox: later replies must queue behind it."""
    return await repos.reply_waits(session, channel=channel, chat_id=chat_id, reply_kind=REPLY_KIND, waiting=WAITING)


# A reply to queue: the reply, how many of its messages already left, a text channel's rendered messages.
QueuedReply = tuple[Reply, int, list[dict[str, Any]] | None]


def queue_replies(session: AsyncSession, *, clock: Clock, channel: str, chat_id: str, user_id: int | None,
                  replies: Sequence[QueuedReply]) -> None:
    """Replies that could not be sent at once (nothing of them left, or only their first `parts` messages),
    in order, in the caller's transaction: the outbox sends them first of all, one copy, in this order."""
    now = clock.now()
    for reply, parts, texts in replies:
        row = OutboxMessage(channel=channel, chat_id=chat_id, user_id=user_id, kind=REPLY_KIND,
                            priority=Priority.REPLY, **stored(reply), status=OutboxStatus.PENDING,
                            next_attempt_at=now, created_at=now)
        if parts or texts:
            # A text channel's messages as the person was to see them (the numbers of their pending menu).
            row.payload = {**row.payload, **({"parts_sent": parts} if parts else {}),
                           **({"texts": texts} if texts else {})}
        session.add(row)
    if replies:
        session.info["outbox_dirty"] = True


def stored(reply: Reply) -> dict[str, Any]:
    """An outbox row's `text` and `payload` for a reply (also for rows inserted in bulk)."""
    return {"text": plain_reply_text(reply), "payload": {"reply": reply_to_json(reply)}}


@dataclass
class _Outcome:
    status: OutboxStatus
    error: str | None
    retry_at: datetime | None = None
    attempts: int | None = None  # None: as claimed
    unreachable: bool = False
    trouble: bool | None = False  # True: the channel may be down; False: it answered; None: no news
    messages: int = 0  # messages that left (for the channel's monthly count and its budget)
    payload: dict[str, Any] | None = None  # the row's payload, when it changed (parts already sent)


async def channel_down(session: AsyncSession, *, channel: str | None = None) -> bool:
    """True while the senders consider the channel (None: any channel) unreachable (sends paused)."""
    query = select(SendBudget.down_since).where(col(SendBudget.down_since).is_not(None))
    if channel is not None:
        query = query.where(SendBudget.name == channel)
    return (await session.exec(query.limit(1))).first() is not None


@dataclass
class _Lane:
    """One channel's pacing and health as this worker sees them (its bucket is the `send_budget` row)."""

    channel: str
    rate: float
    capacity: float
    trouble_run: int = 0  # transient/unknown outcomes in a row
    pauses: int = 0  # pauses since the channel went down (for the back-off)
    pause_ends: float = -math.inf
    down_seen: bool = False  # this worker knows `down_since` is set
    in_flight: int = 0
    recent_429: deque[float] = field(default_factory=lambda: deque(maxlen=3))

    @property
    def down(self) -> bool:
        return self.trouble_run >= DOWN_AFTER


def refill(tokens: float, elapsed: float, rate: float, capacity: float) -> float:
    """A bucket's tokens after `elapsed` seconds.

    The cap bounds a burst after a quiet spell. A drained bucket (under one token: its lane wanted more than
    it had) belongs to a busy lane whose claim cycle ran late; what accrued meanwhile was earned by not
    sending, and is kept up to CARRY seconds of it instead of being cut at the cap (which cost ~4 % of the
    rate whenever a cycle took longer than capacity/rate)."""
    earned = tokens + max(0.0, elapsed) * rate
    if tokens >= 1:
        return min(capacity, earned)
    return min(earned, max(capacity, tokens + min(max(0.0, elapsed), CARRY) * rate))


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background delivery failed", exc_info=task.exception())


class OutboxWorker:
    """Claims due rows within each channel's shared rate budget and hands them to the channel's sender."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        senders: Mapping[str, ChannelSender],
        clock: Clock,
        *,
        rate: float = 25.0,
        rates: Mapping[str, float] | None = None,
        concurrency: int = 16,
        send_timeout: float = SEND_TIMEOUT,
        retry_span: timedelta = RETRY_SPAN,
        tz: ZoneInfo = usage.LOCAL,
    ) -> None:
        """`rate` is every channel's messages per second unless `rates` names the channel's own."""
        self.session_maker = session_maker
        self.senders = dict(senders)
        self.clock = clock
        # A small bucket per channel: at most rate + rate/10 messages in any one-second window (27 at 25/s); at
        # least 2 tokens, so a slow channel (Zalo at 5/s) loses no refill when a claim cycle runs late.
        self.lanes = {channel: _Lane(channel, r, max(2.0, r / 10))
                      for channel in self.senders for r in [(rates or {}).get(channel, rate)]}
        self._turn = 0  # which lane claims first (round robin)
        self.concurrency = concurrency
        # No call can still be running after its timeout: older `sending` rows belong to a dead process.
        self.stale_after = timedelta(seconds=send_timeout + STALE_MARGIN)
        self.retry_span = retry_span
        self.tz = tz
        self._lock = asyncio.Lock()
        self._stopping = False
        self._running = False
        self._wake = asyncio.Event()
        # Chats this worker wrote to, oldest first (pruned once PER_CHAT_GAP has passed).
        self._last_sent: OrderedDict[str, float] = OrderedDict()
        self.stats = {"sent": 0, "retries_429": 0, "blocked": 0, "failed": 0, "unknown": 0, "paused": 0}

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

    # --- the shared budgets ---

    async def _take_budget(self, session: AsyncSession, lane: _Lane, want: int, now: datetime) -> tuple[int, float]:
        """Take up to `want` tokens from the channel's shared bucket (row-locked on PostgreSQL)."""
        query = select(SendBudget).where(SendBudget.name == lane.channel)
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        budget = (await session.exec(query)).first()
        if budget is None:
            try:
                async with session.begin_nested():
                    session.add(SendBudget(name=lane.channel, tokens=lane.capacity, refilled_at=now))
            except IntegrityError:
                pass  # another worker created it first
            budget = (await session.exec(query)).one()
        lane.down_seen = budget.down_since is not None
        if budget.paused_until is not None and budget.paused_until > now:
            return 0, (budget.paused_until - now).total_seconds()
        tokens = refill(budget.tokens, (now - budget.refilled_at).total_seconds(), lane.rate, lane.capacity)
        take = max(0, min(want, math.floor(tokens)))  # below zero after a row of several messages
        budget.tokens = min(lane.capacity, tokens - take)
        # `now` was read before the row lock: another worker may have refilled later; never go back in time.
        budget.refilled_at = max(budget.refilled_at, now)
        session.add(budget)
        return take, 0.0 if take else (1 - tokens) / lane.rate

    async def _set_budget(self, channel: str, **values: Any) -> None:
        async with self.session_maker() as session:
            await session.exec(
                update(SendBudget).where(col(SendBudget.name) == channel)  # type: ignore[call-overload]
                .values(**values)
            )
            await session.commit()

    async def _pause_all(self, lane: _Lane, seconds: float, *, down: bool = False) -> None:
        """Every worker stops sending on this channel for `seconds` (other channels go on)."""
        values: dict[str, Any] = {"paused_until": self.clock.now() + timedelta(seconds=seconds)}
        if down:
            values["down_since"] = func.coalesce(SendBudget.down_since, self.clock.now())
        await self._set_budget(lane.channel, **values)

    def _note_trouble(self, lane: _Lane) -> float | None:
        """A transient or unknown outcome; several in a row mean the channel is down: returns the pause.

        Synchronous, so this worker stops claiming at once (before the shared pause is written)."""
        lane.trouble_run += 1
        mono = self.clock.monotonic()
        if lane.trouble_run < DOWN_AFTER or mono < lane.pause_ends:
            return None  # sends of the same burst failing together extend nothing
        lane.pauses += 1
        seconds = min(PAUSE_CAP, 2.0**lane.pauses)
        lane.pause_ends = mono + seconds
        lane.down_seen = True
        self.stats["paused"] += 1
        log.warning("%s unreachable (%d errors in a row): pausing its sends for %.0fs",
                    lane.channel, lane.trouble_run, seconds)
        return seconds

    async def _note_reachable(self, lane: _Lane) -> None:
        """The server answered: the channel is up again."""
        if lane.trouble_run == 0 and not lane.down_seen:
            return
        lane.trouble_run, lane.pauses, lane.pause_ends = 0, 0, -math.inf
        if lane.down_seen:
            lane.down_seen = False
            await self._set_budget(lane.channel, down_since=None, paused_until=None)
            log.info("%s reachable again: sending resumes", lane.channel)

    # --- claiming ---

    async def _claim(self, slots: int) -> tuple[list[OutboxMessage], float | None]:
        """Claim what each channel's budget and the free send slots allow; returns (rows, seconds to wait) —
        wait None when nothing is due (or only rows waiting for a send in flight). A claimed row is sent at
        once: none waits in `sending` for a slot."""
        rows: list[OutboxMessage] = []
        waits: list[float] = []
        settled = False
        lanes = list(self.lanes.values())
        self._turn = (self._turn + 1) % max(1, len(lanes))
        mono = self.clock.monotonic()
        for lane in lanes[self._turn:] + lanes[:self._turn]:
            if mono < lane.pause_ends:  # this worker saw the channel go down: nothing until the pause ends
                waits.append(max(0.01, lane.pause_ends - mono))  # never a wait too small to move a clock
                continue
            # One probe at a time while the channel is down.
            free = min(slots - len(rows), 1 - lane.in_flight if lane.down else slots)
            if free <= 0:
                continue
            claimed, wait, blocked = await self._claim_lane(lane, free)
            rows += claimed
            settled = settled or blocked
            if wait is not None:
                waits.append(wait)
        if rows or settled:
            return rows, 0.0  # rows were settled as blocked: look again at once
        return [], min(waits) if waits else None

    def _recent_chats(self, mono: float) -> list[str]:
        """Chats this worker wrote to less than PER_CHAT_GAP ago (oldest first); older ones are forgotten."""
        while self._last_sent and mono - next(iter(self._last_sent.values())) >= PER_CHAT_GAP:
            self._last_sent.popitem(last=False)
        return list(self._last_sent)

    def _sent_to(self, chat_id: str) -> None:
        self._last_sent.pop(chat_id, None)
        self._last_sent[chat_id] = self.clock.monotonic()

    def _due_query(self, lane: _Lane, now: datetime, recent: list[str]) -> Any:
        """A channel's due rows by priority, then queue order; not those of chats written to within the last
        second (one chat's many rows never fill the window), nor a queued reply behind an earlier one."""
        earlier = aliased(OutboxMessage)
        reply_ahead = exists().where(
            earlier.channel == OutboxMessage.channel, earlier.chat_id == OutboxMessage.chat_id,
            col(earlier.status).in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
            earlier.priority == Priority.REPLY, col(earlier.id) < col(OutboxMessage.id))
        due = (
            select(OutboxMessage, User.unreachable_at)
            .join(User, col(User.id) == col(OutboxMessage.user_id), isouter=True)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.channel == lane.channel,
                   col(OutboxMessage.next_attempt_at) <= now,
                   or_(OutboxMessage.priority != Priority.REPLY, ~reply_ahead))
            .order_by(col(OutboxMessage.priority), col(OutboxMessage.id)).limit(max(8, int(lane.capacity) * 4))
        )
        if recent:
            due = due.where(col(OutboxMessage.chat_id).not_in(recent))
        return due

    async def _next_due(self, session: AsyncSession, lane: _Lane, now: datetime, mono: float) -> float | None:
        """Seconds until this channel may have something to send (None: nothing pending)."""
        nxt = (await session.exec(
            select(OutboxMessage.next_attempt_at)
            .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.channel == lane.channel)
            .order_by(col(OutboxMessage.next_attempt_at)).limit(1))).first()
        if nxt is None:
            return None
        wait = (nxt - now).total_seconds()
        if wait <= 0 and self._last_sent:  # due, but only for chats written to just now (or behind a reply)
            wait = PER_CHAT_GAP - (mono - next(iter(self._last_sent.values())))
        return max(0.01, wait)

    async def _claim_lane(self, lane: _Lane, slots: int) -> tuple[list[OutboxMessage], float | None, bool]:
        """(rows claimed, seconds until this channel has something to send or None, rows settled as blocked)."""
        now = self.clock.now()
        mono = self.clock.monotonic()
        async with self.session_maker() as session:
            due = self._due_query(lane, now, self._recent_chats(mono))
            if session.bind.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True, of=OutboxMessage)
            found = (await session.exec(due)).all()
            if not found:
                await session.commit()
                return [], await self._next_due(session, lane, now, mono), False
            candidates = []
            for row, unreachable_at in found:
                if unreachable_at is not None:
                    # They blocked the bot: settle the row without sending (only due rows, so it stays cheap).
                    row.status = OutboxStatus.BLOCKED
                    row.last_error = "recipient unreachable"
                    session.add(row)
                else:
                    candidates.append(row)
            # One message per chat per batch (its first by priority and queue order).
            chosen: list[OutboxMessage] = []
            seen: set[str] = set()
            for row in candidates:
                if row.chat_id not in seen:
                    seen.add(row.chat_id)
                    chosen.append(row)
            chosen = chosen[:slots]
            take, budget_wait = await self._take_budget(session, lane, len(chosen), now) if chosen else (0, 0.05)
            chosen = chosen[:take]
            for row in chosen:
                row.status = OutboxStatus.SENDING
                row.attempts += 1
                row.claimed_at = now
                session.add(row)
            await session.commit()
            return chosen, max(0.01, budget_wait), len(candidates) < len(found)

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
                    self._sent_to(row.chat_id)
                    lane = self.lanes[row.channel]
                    lane.in_flight += 1
                    task = asyncio.create_task(self._deliver(row, lane))
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

    async def _attempt(self, sender: ChannelSender, row: OutboxMessage, lane: _Lane) -> _Outcome:
        """One API call for the row, and what it means for the row."""
        try:
            messages = await sender.send(row.chat_id, row.text, row.payload)
        except PartlySent as exc:
            # Some parts arrived and the next provably did not: the row waits and resumes from that part.
            earlier = int(row.payload.get("parts_sent") or 0)
            out = await self._failed(exc.cause, row, lane)
            out.messages, out.payload = exc.sent - earlier, {**row.payload, "parts_sent": exc.sent}
            return out
        except Exception as exc:
            return await self._failed(exc, row, lane)
        return _Outcome(OutboxStatus.SENT, None, messages=1 if messages is None else messages)

    async def _failed(self, exc: Exception, row: OutboxMessage, lane: _Lane) -> _Outcome:
        """What a send's error means for the row."""
        if isinstance(exc, RateLimited):
            self.stats["retries_429"] += 1
            await self._note_429(lane, exc.retry_after)
            # Being told to wait is not a failed attempt.
            return _Outcome(OutboxStatus.PENDING, None, self.clock.now() + timedelta(seconds=exc.retry_after),
                            attempts=row.attempts - 1)
        if isinstance(exc, Unreachable):
            return _Outcome(OutboxStatus.BLOCKED, str(exc)[:500], unreachable=True)
        if isinstance(exc, PermanentError):
            return _Outcome(OutboxStatus.FAILED, str(exc)[:500])
        if isinstance(exc, TransientError | ConnectionRefusedError):  # nothing left: try again later
            error = (str(exc) or type(exc).__name__)[:500]
            now = self.clock.now()
            if now - (row.retry_from or row.created_at) >= self.retry_span:
                return _Outcome(OutboxStatus.FAILED, error, trouble=True)
            backoff = timedelta(seconds=min(BACKOFF_CAP, 2.0**row.attempts))
            return _Outcome(OutboxStatus.PENDING, error, now + backoff, trouble=True)
        if isinstance(exc, DeliveryUnknown | OSError):  # timeouts and resets included
            # The request may have left: resending could give a second copy.
            return _Outcome(OutboxStatus.UNKNOWN, (str(exc) or type(exc).__name__)[:500], trouble=True)
        # A bug in a sender must not leave the row in `sending`.
        log.error("sender crashed on outbox row %s", row.id, exc_info=exc)
        return _Outcome(OutboxStatus.FAILED, f"internal error: {type(exc).__name__}", trouble=None)

    async def _deliver(self, row: OutboxMessage, lane: _Lane) -> None:
        try:
            out = await self._attempt(self.senders[row.channel], row, lane)
        finally:
            lane.in_flight -= 1
        pause = self._note_trouble(lane) if out.trouble else None
        status = out.status
        metrics.outbox_send(row.channel, status.value, out.error)
        now = self.clock.now()
        values: dict[str, Any] = {"status": status, "last_error": out.error,
                                  "attempts": row.attempts if out.attempts is None else out.attempts}
        if status == OutboxStatus.SENT:
            values["sent_at"] = now
        if out.retry_at is not None:
            values["next_attempt_at"] = out.retry_at
        if out.payload is not None:
            values["payload"] = out.payload
        await self._record(row, values, out, now)
        if status in (OutboxStatus.SENT, OutboxStatus.BLOCKED, OutboxStatus.FAILED, OutboxStatus.UNKNOWN):
            self.stats[status.value] += 1
        if status in (OutboxStatus.FAILED, OutboxStatus.UNKNOWN):
            log.warning("outbox row %s %s: %s", row.id, status.value, out.error)
        if out.messages > 1:
            await self._charge(lane, out.messages - 1)
        if pause:
            await self._pause_all(lane, pause, down=True)
        elif out.trouble is False:
            await self._note_reachable(lane)

    async def _record(self, row: OutboxMessage, values: dict[str, Any], out: _Outcome, now: datetime) -> None:
        """Write a send's outcome. A busy database (SQLite's lock under load) is waited out a few times: a row
        left in `sending` would end `unknown` although its outcome is known."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                async with self.session_maker() as session:
                    await session.exec(
                        update(OutboxMessage).where(col(OutboxMessage.id) == row.id)  # type: ignore[call-overload]
                        .values(**values)
                    )
                    if out.unreachable and row.user_id is not None:
                        await session.exec(
                            update(User).where(col(User.id) == row.user_id).values(unreachable_at=now)  # type: ignore[call-overload]
                        )
                    await usage.record(session, channel=row.channel, moment=now, messages=out.messages, tz=self.tz)
                    await session.commit()
                return
            except OperationalError:
                if attempt + 1 == RECORD_ATTEMPTS:
                    raise
                log.warning("outbox row %s: its outcome could not be written yet (database busy)", row.id)
                await self.clock.sleep(0.5 * 2**attempt)

    async def _charge(self, lane: _Lane, extra: int) -> None:
        """A row that took several messages (a long text in parts, a photo and its text) pays for each: the
        claim took one token, the rest are taken now — the bucket may go below zero, and the next claims wait."""
        await self._set_budget(lane.channel, tokens=SendBudget.tokens - extra)

    async def _note_429(self, lane: _Lane, retry_after: float) -> None:
        """Several 429s within a second mean a flood on that channel: pause every worker's sends on it."""
        mono = self.clock.monotonic()
        lane.recent_429.append(mono)
        if len(lane.recent_429) == lane.recent_429.maxlen and mono - lane.recent_429[0] < 1.0:
            await self._pause_all(lane, retry_after)
            lane.recent_429.clear()
