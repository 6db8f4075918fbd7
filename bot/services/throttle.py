"""The per-person flood throttle: a token bucket per person (THROTTLE_RATE updates a second, bursts of
THROTTLE_BURST). The first update over the limit is answered once ("slow down"); the rest of the flood is
dropped until the bucket refills.

Where the buckets live decides whether several processes see one flood as one:
* in process memory — SQLite, one process (the zero-set-up default);
* in the database (`throttle` table, one upsert per update) — PostgreSQL, any number of processes;
* in Redis (a Lua script per update, keys expire once full again) — when REDIS_URL is set.
A store that cannot be reached lets the update through (a throttle must never cost a person their answer),
except the database store inside a unit of work: there the database is the turn's own, and its error the turn's.

It is checked where each event is handled: the pipeline counts a person's event in its unit of work (the
database store in the same transaction, after the person's lock: no connection or round trip of its own), on
every channel; Telegram updates still handled by aiogram routers meet it in a middleware in front of them.
"""

from __future__ import annotations

import logging
import math
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.i18n_marker import N_

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)
# What the first update over the limit is answered with, on every channel (the rest of the flood: nothing).
SLOW_DOWN = N_("You are sending messages very quickly. Please wait a few seconds, then continue.")
PRESS_SLOWER = N_("Please wait a moment before pressing again.")  # the same, for a button pressed (a notice)
MAX_MEMORY_KEYS = 50_000


class Verdict(IntEnum):
    PASS = 0
    WARN = 1  # the first update over the limit: told once
    DROP = 2  # the rest of the flood


class Throttle(Protocol):
    # Whether a count made with a session is rolled back with it (the database store).
    transactional: bool

    async def check(self, key: str, *, session: AsyncSession | None = None) -> Verdict:
        """One update from `key` ("telegram:123"). With the unit of work's `session`, a store in the database
        counts it in that transaction (rolled back with it)."""

    async def peek(self, key: str) -> bool:
        """Whether an update from `key` would pass now, counting nothing: a channel asks before fetching a file
        the person sent, so a flood of files is not downloaded only to be dropped."""


def refilled(tokens: float, elapsed: float, rate: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, elapsed) * rate)


def take(tokens: float, elapsed: float, state: int, rate: float, burst: float) -> tuple[float, Verdict]:
    """One update against a bucket: (its tokens after, the verdict). The stores below do the same."""
    now = refilled(tokens, elapsed, rate, burst)
    if now >= 1:
        return now - 1, Verdict.PASS
    return now, Verdict.WARN if state == Verdict.PASS else Verdict.DROP


class MemoryThrottle:
    """One process's buckets (SQLite, a single process)."""

    transactional = False

    def __init__(self, clock: Clock, rate: float, burst: int) -> None:
        self.clock, self.rate, self.burst = clock, rate, float(burst)
        self._buckets: dict[str, tuple[float, float, Verdict]] = {}

    async def check(self, key: str, *, session: AsyncSession | None = None) -> Verdict:
        now = self.clock.monotonic()
        tokens, last, state = self._buckets.get(key, (self.burst, now, Verdict.PASS))
        tokens, verdict = take(tokens, now - last, state, self.rate, self.burst)
        if len(self._buckets) > MAX_MEMORY_KEYS:
            self._buckets.clear()
        self._buckets[key] = (tokens, now, verdict)
        return verdict

    async def peek(self, key: str) -> bool:
        now = self.clock.monotonic()
        tokens, last, _state = self._buckets.get(key, (self.burst, now, Verdict.PASS))
        return refilled(tokens, now - last, self.rate, self.burst) >= 1


# One statement: the bucket is created full, or refilled and taken from, atomically (the row is locked by the
# upsert). Every SET expression reads the row as it was.
_ELAPSED = "(CASE WHEN :now > throttle.refilled_at THEN :now - throttle.refilled_at ELSE 0 END)"
_REFILLED = (f"(CASE WHEN throttle.tokens + {_ELAPSED} * :rate > :burst THEN :burst "
             f"ELSE throttle.tokens + {_ELAPSED} * :rate END)")
_UPSERT = text(f"""
INSERT INTO throttle (key, tokens, refilled_at, state) VALUES (:key, :burst - 1, :now, 0)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN {_REFILLED} >= 1 THEN {_REFILLED} - 1 ELSE {_REFILLED} END,
    state = CASE WHEN {_REFILLED} >= 1 THEN 0 WHEN throttle.state = 0 THEN 1 ELSE 2 END,
    refilled_at = CASE WHEN :now > throttle.refilled_at THEN :now ELSE throttle.refilled_at END
RETURNING state
""".replace(":now", "CAST(:now AS DOUBLE PRECISION)").replace(":rate", "CAST(:rate AS DOUBLE PRECISION)")
              .replace(":burst", "CAST(:burst AS DOUBLE PRECISION)"))


class DatabaseThrottle:
    """Buckets in the `throttle` table, shared by every process on the database."""

    transactional = True

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], clock: Clock, rate: float,
                 burst: int) -> None:
        self.session_maker, self.clock, self.rate, self.burst = session_maker, clock, rate, float(burst)
        self.engine: AsyncEngine = session_maker.kw["bind"]

    async def check(self, key: str, *, session: AsyncSession | None = None) -> Verdict:
        params = {"key": key[:80], "now": self.clock.now().timestamp(), "rate": self.rate, "burst": self.burst}
        if session is not None:
            # In the unit of work's transaction, after the person's lock: no connection of its own. An error
            # here is the turn's (its database is away, so is its answer): not caught.
            return Verdict(int((await (await session.connection()).execute(_UPSERT, params)).scalar_one()))
        try:
            # One statement, in autocommit: no BEGIN and COMMIT round trips for every update.
            async with self.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                state = (await connection.execute(_UPSERT, params)).scalar_one()
        except Exception:
            log.warning("the shared throttle could not be read: letting the update through", exc_info=True)
            return Verdict.PASS
        return Verdict(int(state))

    async def peek(self, key: str) -> bool:
        try:
            async with self.engine.connect() as connection:
                row = (await connection.execute(_PEEK, {"key": key[:80]})).first()
        except Exception:
            log.warning("the shared throttle could not be read", exc_info=True)
            return True
        return row is None or refilled(row[0], self.clock.now().timestamp() - row[1], self.rate, self.burst) >= 1


_PEEK = text("SELECT tokens, refilled_at FROM throttle WHERE key = :key")


_LUA = """
local b = redis.call('HMGET', KEYS[1], 't', 'at', 's')
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t, at, s = tonumber(b[1]), tonumber(b[2]), tonumber(b[3])
if t == nil then t, at, s = burst, now, 0 end
local r = math.min(burst, t + math.max(0, now - at) * rate)
local state
if r >= 1 then r = r - 1; state = 0 elseif s == 0 then state = 1 else state = 2 end
redis.call('HSET', KEYS[1], 't', tostring(r), 'at', tostring(math.max(now, at)), 's', state)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return state
"""


class RedisThrottle:
    """Buckets in Redis (REDIS_URL), shared by every process; a key expires once its bucket is full again."""

    transactional = False

    def __init__(self, url: str, clock: Clock, rate: float, burst: int, *, prefix: str = "kc:throttle:") -> None:
        from redis.asyncio import Redis  # the `redis` extra: only where REDIS_URL is set

        self.redis: Any = Redis.from_url(url)
        self.clock, self.rate, self.burst, self.prefix = clock, rate, float(burst), prefix
        self.ttl = math.ceil(self.burst / rate) + 60
        self._script = self.redis.register_script(_LUA)

    async def check(self, key: str, *, session: AsyncSession | None = None) -> Verdict:
        try:
            state = await self._script(keys=[self.prefix + key],
                                       args=[self.rate, self.burst, self.clock.now().timestamp(), self.ttl])
        except Exception:
            log.warning("Redis could not be reached for the throttle: letting the update through", exc_info=True)
            return Verdict.PASS
        return Verdict(int(state))

    async def peek(self, key: str) -> bool:
        try:
            tokens, at = await self.redis.hmget(self.prefix + key, "t", "at")
        except Exception:
            log.warning("Redis could not be reached for the throttle", exc_info=True)
            return True
        if tokens is None or at is None:
            return True
        return refilled(float(tokens), self.clock.now().timestamp() - float(at), self.rate, self.burst) >= 1

    async def close(self) -> None:
        await self.redis.aclose()


async def may_pass(app: AppContext, key: str) -> bool:
    """Whether the person's next update would pass the flood throttle now (nothing counted; no throttle: True)."""
    return app.throttle is None or await app.throttle.peek(key)


def throttle_of(app: AppContext) -> Throttle:
    """The process's one flood throttle (`app.throttle`, made at first use by the channels' wiring): the pipeline
    counts each person's events in their unit of work; Telegram's aiogram routers, what reaches them."""
    if app.throttle is None:
        app.throttle = create_throttle(app.settings, app.session_maker, app.clock)
    return app.throttle


def create_throttle(settings: Any, session_maker: async_sessionmaker[AsyncSession], clock: Clock) -> Throttle:
    """Redis when REDIS_URL is set; the database on PostgreSQL (several processes); memory on SQLite."""
    rate, burst = settings.throttle_rate, settings.throttle_burst
    if settings.redis_url:
        return RedisThrottle(settings.redis_url, clock, rate, burst)
    bind = session_maker.kw.get("bind")
    if bind is not None and bind.dialect.name == "postgresql":
        return DatabaseThrottle(session_maker, clock, rate, burst)
    return MemoryThrottle(clock, rate, burst)
