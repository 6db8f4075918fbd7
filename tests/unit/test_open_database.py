"""bot.startup.open_database stopped while it connects (Ctrl-C at start-up, the sandbox's console cancelled)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.startup import open_database


def test_a_cancelled_open_leaves_no_connection_behind_the_event_loop(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """aiosqlite connects in a thread of its own, which no cancellation stops: an open cancelled mid-connect
    must wait for that attempt and close it, or the thread answers an event loop that is gone."""
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    before = set(threading.enumerate())

    async def stopped_while_connecting() -> None:
        opening = asyncio.create_task(open_database(f"sqlite+aiosqlite:///{tmp_path}/bot.db"))
        await asyncio.sleep(0)  # the task runs up to its first wait: the connection, in aiosqlite's thread
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening

    asyncio.run(stopped_while_connecting())  # a loop of its own, closed at the end as a process's is
    for thread in set(threading.enumerate()) - before:
        if "_connection_worker_thread" in thread.name:  # aiosqlite's: done once its connection is closed
            thread.join()
    assert errors == []
