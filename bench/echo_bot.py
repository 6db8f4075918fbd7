"""A bare aiogram echo bot: the baseline the updates benchmark compares the product with."""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def main() -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    bot = Bot(os.environ["BOT_TOKEN"],
              session=AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_BASE"])))
    await dp.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
