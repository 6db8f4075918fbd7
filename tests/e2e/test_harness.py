"""The harness itself: a bot that cannot start fails the test at once with its log, and is never left running."""

from __future__ import annotations

import pytest

from tests.e2e.harness import BotProcess


async def test_a_bot_that_exits_fails_at_once_with_its_log(server, tmp_path) -> None:
    bot = BotProcess(server, tmp_path, BOT_TOKEN="not-a-token")
    with pytest.raises(AssertionError, match="exited with code") as failed:
        await bot.start()
    assert "BOT_TOKEN" in str(failed.value)  # the bot's own one-line reason, from its log
    assert not server.polling.is_set()


async def test_a_bot_that_does_not_poll_in_time_is_killed(server, tmp_path, bot_db) -> None:
    bot = BotProcess(server, tmp_path)
    with pytest.raises(AssertionError, match="did not start polling within 0 s"):
        await bot.start(timeout=0)
    assert bot.proc is not None and bot.proc.returncode is not None  # killed, not left running
