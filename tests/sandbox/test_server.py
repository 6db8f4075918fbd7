"""The sandbox Bot API server over real HTTP with a real aiogram Bot: wire format, long polling,
callbacks, limits, blocked users and fault switches."""

import asyncio
import re

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiohttp import ClientSession

from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer

TOKEN = "123456:sandbox"


class Tick:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def server():
    clock = Tick()
    srv = SandboxServer(bot_token=TOKEN, clock=clock, personas=[{"id": 1, "first_name": "Lan", "label": "Lan"}])
    srv.clock = clock
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def bot(server):
    b = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
    yield b
    await b.session.close()


async def test_send_edit_document_and_download(server, bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username) == (123456, "khuyencong_sandbox_bot")
    server.user(1)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]])
    msg = await bot.send_message(1, "<b>Xin chào</b>", parse_mode="HTML", reply_markup=kb)
    assert msg.text == "<b>Xin chào</b>" and msg.reply_markup.inline_keyboard[0][0].callback_data == "a"
    edited = await bot.edit_message_text("Đã sửa", chat_id=1, message_id=msg.message_id)
    assert isinstance(edited, Message) and edited.text == "Đã sửa"
    assert server.bot_messages(1)[0]["text"] == "Đã sửa" and "reply_markup" not in server.bot_messages(1)[0]
    server.limiter.configure(RateLimits(enabled=False))
    doc = await bot.send_document(1, BufferedInputFile(b"a,b\n1,2\n", filename="nhu-cau.csv"))
    assert doc.document.file_name == "nhu-cau.csv"
    file = await bot.get_file(doc.document.file_id)
    data = await bot.download_file(file.file_path)
    assert data.read() == b"a,b\n1,2\n"
    again = await bot.send_document(1, doc.document.file_id, caption="lại")
    assert again.document.file_id == doc.document.file_id


async def test_errors_look_like_telegram(server, bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(42, "x")
    server.user(1)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=1, message_id=999)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<b>unclosed", parse_mode="HTML")
    for bare in ("Nothing matches “<zz”", "AT&T"):
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(1, bare, parse_mode="HTML")
    # Lengths count what Telegram shows: tags don't count, an emoji counts two.
    await bot.send_message(1, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "🏭" * 2049)
    buttons = [[InlineKeyboardButton(text=str(i), callback_data="x")] for i in range(101)]
    with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
        await bot.send_message(1, "x", reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1, "x", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="a", callback_data="d" * 65)]]))
    async with ClientSession() as http:
        async with http.post(f"{server.base_url}/bot{TOKEN}/noSuchMethod") as resp:
            assert resp.status == 400
            assert await resp.json() == {"ok": False, "error_code": 400,
                                         "description": "Bad Request: method noSuchMethod not found"}
        async with http.post(f"{server.base_url}/botWRONG/getMe") as resp:
            assert resp.status == 401


async def test_get_updates_offset_and_long_poll(server, bot) -> None:
    waiting = asyncio.create_task(bot.get_updates(offset=0, timeout=10))
    await asyncio.sleep(0)  # let the long poll start waiting (it is woken, not polled)
    await server.send_text(1, "/start abc")
    updates = await asyncio.wait_for(waiting, 5)
    assert [u.message.text for u in updates] == ["/start abc"]
    assert updates[0].message.entities[0].type == "bot_command"
    again = await bot.get_updates(offset=0, timeout=0)
    assert len(again) == 1  # not confirmed yet
    confirmed = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert confirmed == []


async def test_callback_press_and_answer(server, bot) -> None:
    server.user(1)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Có", callback_data="yes")]])
    msg = await bot.send_message(1, "Đồng ý?", reply_markup=kb)
    with pytest.raises(ValueError):
        await server.press(1, msg.message_id, "forged")
    await server.press(1, msg.message_id, "yes")
    (update,) = await bot.get_updates(timeout=0)
    assert update.callback_query.data == "yes" and update.callback_query.message.message_id == msg.message_id
    await bot.answer_callback_query(update.callback_query.id, text="Đã ghi nhận")
    toast = await server.wait_for(1, lambda e: e["kind"] == "toast")
    assert toast["text"] == "Đã ghi nhận"


async def test_rate_limits_per_chat_and_global(server, bot) -> None:
    server.limiter.configure(RateLimits(global_per_s=5, global_burst=5, per_chat_per_s=1, per_chat_burst=3))
    server.user(1)
    server.user(2)
    for _ in range(3):
        await bot.send_message(1, "x")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(1, "x")
    assert exc.value.retry_after == 1
    await bot.send_message(2, "y")
    await bot.send_message(2, "y")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(2, "y")  # the global bucket (5) is empty now
    server.clock.t += 1.0
    await bot.send_message(1, "x")


async def test_blocked_user_gets_403(server, bot) -> None:
    server.set_blocked(1)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(1, "x")


async def test_fault_switches(server, bot) -> None:
    server.user(1)
    server.limiter.configure(RateLimits(enabled=False))
    server.faults.update({"next_5xx": 1})
    with pytest.raises(TelegramServerError):
        await bot.send_message(1, "x")
    server.faults.update({"next_429": 2, "retry_after": 7})
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as exc:
            await bot.send_message(1, "x")
        assert exc.value.retry_after == 7
    server.faults.update({"next_drop": 1})
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1, "x")
    assert (await bot.send_message(1, "ok")).text == "ok"
    assert server.stats["5xx"] == 1 and server.stats["dropped"] == 1


async def test_web_chat_is_served_without_external_urls(server) -> None:
    async with ClientSession() as http:
        for path in ("/", "/static/app.js", "/static/style.css"):
            async with http.get(server.base_url + path) as resp:
                assert resp.status == 200, path
                body = await resp.text()
                assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", body), path
        async with http.get(server.base_url + "/sandbox/api/personas") as resp:
            assert (await resp.json())["personas"][0]["first_name"] == "Lan"
        async with http.post(server.base_url + "/sandbox/api/send", json={"user": 5, "text": "xin chào"}) as resp:
            assert resp.status == 200
        async with http.post(server.base_url + "/sandbox/api/send", json={"text": "no user"}) as resp:
            assert resp.status == 400


async def test_echo_bot_with_real_polling(server) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        after = server.last_seq()
        await server.send_text(7, "xin chào")
        reply = await server.wait_for(7, after=after, timeout=10)
        assert reply["message"]["text"] == "xin chào"
    finally:
        await dp.stop_polling()
        await polling


async def test_stop_answers_open_long_polls_at_once(server) -> None:
    """Ctrl-C must not wait out the bot's getUpdates or the web chat's event poll: both are answered, empty."""
    async with ClientSession() as http:
        get_updates = asyncio.create_task(http.post(f"{server.base_url}/bot{TOKEN}/getUpdates",
                                                    json={"timeout": 3600}))
        events = asyncio.create_task(http.get(f"{server.base_url}/sandbox/api/events",
                                              params={"user": "1", "after": "999", "wait": "30"}))
        await server.wait_long_polls(2)
        await server.stop()
        assert server.open_long_polls == 0
        updates, web = await get_updates, await events
        assert (updates.status, await updates.json()) == (200, {"ok": True, "result": []})
        assert (web.status, await web.json()) == (200, {"events": []})


def test_the_web_chat_fetches_nothing_from_the_internet() -> None:
    """No CDN, no web font, no external script: the page works offline (the sandbox promises it)."""
    import re

    from bot.sandbox.server import WEB_DIR

    for path in WEB_DIR.iterdir():
        text = path.read_text()
        assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), path.name
        assert not re.search(r"(@import|url\()\s*[\"']?(https?:)?//", text), path.name
        assert not re.search(r"fetch\(\s*[\"'`]https?:", text), path.name
