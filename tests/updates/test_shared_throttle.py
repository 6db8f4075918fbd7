"""The per-person flood throttle: the same verdicts from every store, and one bucket per person for all the
processes that share a database or Redis."""

import secrets
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FakeClock
from bot.services.throttle import (
    DatabaseThrottle,
    MemoryThrottle,
    RedisThrottle,
    Throttle,
    Verdict,
    create_throttle,
)
from storage.db import create_session_maker
from tests.conftest import make_settings

REDIS_URL = "redis://127.0.0.1:6379/15"
P, W, D = Verdict.PASS, Verdict.WARN, Verdict.DROP


def redis_reachable() -> bool:
    try:
        import redis  # noqa: F401
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except (ImportError, OSError):
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason="needs Redis on 127.0.0.1:6379 (and redis-py)")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    yield f"kc:test:{secrets.token_hex(4)}:"


async def flood(throttle: Throttle, n: int, key: str = "telegram:42") -> list[Verdict]:
    return [await throttle.check(key) for _ in range(n)]


async def check_store(make: Callable[[], Throttle], clock: FakeClock) -> None:
    throttle = make()
    # A burst of 6 passes, the 7th is told once, the rest of the flood is dropped.
    assert await flood(throttle, 9) == [P] * 6 + [W, D, D]
    assert await flood(throttle, 1, key="telegram:43") == [P]  # someone else is not slowed
    clock.advance(1)  # 3 updates a second come back
    assert await flood(throttle, 4) == [P, P, P, W]


async def test_memory_store(clock: FakeClock) -> None:
    await check_store(lambda: MemoryThrottle(clock, 3.0, 6), clock)


async def test_database_store_is_one_bucket_for_every_process(engine: AsyncEngine, clock: FakeClock) -> None:
    maker = create_session_maker(engine)
    await check_store(lambda: DatabaseThrottle(maker, clock, 3.0, 6), clock)
    one, two = DatabaseThrottle(maker, clock, 3.0, 6), DatabaseThrottle(create_session_maker(engine), clock, 3.0, 6)
    verdicts = [await (one if i % 2 else two).check("zalo:ab") for i in range(8)]
    assert verdicts == [P] * 6 + [W, D]  # two processes, one flood


@needs_redis
async def test_redis_store_is_one_bucket_for_every_process(clock: FakeClock, redis_prefix: str) -> None:
    one = RedisThrottle(REDIS_URL, clock, 3.0, 6, prefix=redis_prefix)
    two = RedisThrottle(REDIS_URL, clock, 3.0, 6, prefix=redis_prefix)
    try:
        await check_store(lambda: one, clock)
        verdicts = [await (one if i % 2 else two).check("zalo:ab") for i in range(8)]
        assert verdicts == [P] * 6 + [W, D]
        assert 0 < await one.redis.ttl(redis_prefix + "zalo:ab") <= 62  # forgotten once full again
    finally:
        await one.close()
        await two.close()


async def test_an_unreachable_redis_lets_updates_through(clock: FakeClock) -> None:
    pytest.importorskip("redis")
    throttle = RedisThrottle("redis://127.0.0.1:1/0", clock, 3.0, 6)
    try:
        assert await flood(throttle, 8) == [P] * 8  # a throttle never costs a person their answer
    finally:
        await throttle.close()


async def test_the_store_follows_the_deployment(engine: AsyncEngine, clock: FakeClock) -> None:
    maker = create_session_maker(engine)
    chosen = create_throttle(make_settings(), maker, clock)
    expected = DatabaseThrottle if engine.dialect.name == "postgresql" else MemoryThrottle
    assert type(chosen) is expected
    if redis_reachable():
        with_redis = create_throttle(make_settings(redis_url=REDIS_URL), maker, clock)
        assert isinstance(with_redis, RedisThrottle)
        await with_redis.close()
