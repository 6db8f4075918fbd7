"""Direct replies follow the outbox's rules: a 5xx or a failed connect is retried, a timeout is not resent."""

import pytest
from aiogram.exceptions import TelegramNetworkError

from bot.channels.telegram_middlewares import RetryAfterMiddleware
from bot.clock import FakeClock
from tests.conftest import ChatHarness, Person
from tests.delivery.conftest import sandbox_bot


async def test_a_5xx_on_a_reply_is_retried(chat: ChatHarness) -> None:
    chat.api.fail_next("SendMessage", 502, "Bad Gateway", times=2)
    calls = await chat.send(Person(5020, language_code="en"), "/help")
    assert calls[-1].text.startswith("<b>What I can do for you</b>")
    assert chat.clock.slept == [0.5, 1.0]


async def test_replies_through_the_sandbox_one_copy_each(sandbox, clock: FakeClock) -> None:
    bot = sandbox_bot(sandbox.base_url)
    bot.session.middleware(RetryAfterMiddleware(clock))
    sandbox.user(1)
    try:
        sandbox.faults.update({"next_5xx": 2})
        await bot.send_message(1, "Gửi ngay")  # the staff's "Send now" behind two Bad Gateways
        assert [m["text"] for m in sandbox.bot_messages(1)] == ["Gửi ngay"]
        sandbox.faults.update({"latency_ms": 1000})  # the answer comes after the client's timeout
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.send_message(1, "Chậm")
        await sandbox.wait_for(1, lambda e: e["kind"] == "message" and e["message"].get("text") == "Chậm",
                               timeout=5)
        assert sandbox.calls["sendMessage"] == 4  # 2 × 502, 1 sent, 1 slow one never repeated
        assert [m["text"] for m in sandbox.bot_messages(1)] == ["Gửi ngay", "Chậm"]
    finally:
        await bot.session.close()
