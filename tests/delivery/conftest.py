"""The sandbox Bot API server in-process, and the real aiogram Bot + Telegram sender talking to it over HTTP."""

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.channels.telegram import TelegramSender
from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer

TOKEN = "123456:sandbox"
CLIENT_TIMEOUT = 0.5  # seconds: short so that "latency above the client timeout" costs little real time


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    srv = SandboxServer(bot_token=TOKEN, clock=lambda: 0.0)
    srv.limiter.configure(RateLimits(enabled=False))
    await srv.start()
    yield srv
    await srv.stop()


def sandbox_bot(base_url: str, timeout: float = CLIENT_TIMEOUT) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url), timeout=timeout))


@pytest.fixture
async def telegram(sandbox: SandboxServer) -> AsyncIterator[TelegramSender]:
    bot = sandbox_bot(sandbox.base_url)
    yield TelegramSender(bot)
    await bot.session.close()
