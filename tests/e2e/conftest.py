from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.server import SandboxServer
from tests.e2e.harness import TOKEN, BotProcess, fast_limits


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    srv = SandboxServer(bot_token=TOKEN, limits=fast_limits(), web=True)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def bot(server: SandboxServer, tmp_path) -> AsyncIterator[BotProcess]:
    process = BotProcess(server, tmp_path)
    await process.start()
    yield process
    await process.stop()
