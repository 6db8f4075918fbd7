"""Telegram's rules as our fakes enforce them (the sandbox server and the tests' fake Bot share them)."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest

from bot.sandbox import telegram_rules as rules
from tests.fakebot import RecordingSession


@pytest.mark.parametrize(("html", "shown"), [
    ("<b>Tên</b>: Lan &amp; &lt;Ba&gt; &quot;x&quot; &#39; &#x1F3ED;", "Tên: Lan & <Ba> \"x\" ' 🏭"),
    ('<a href="https://x.vn/?a=1&amp;b=2">trang</a> > 3', "trang > 3"),
    ("<B>hoa</B> <span class=\"tg-spoiler\">s</span> <tg-spoiler>t</tg-spoiler>", "hoa s t"),
    ("<blockquote expandable>q</blockquote><pre><code class=\"language-python\">x</code></pre>", "qx"),
])
def test_valid_html_is_shown_without_its_tags(html: str, shown: str) -> None:
    assert rules.parse_html(html) == shown


@pytest.mark.parametrize(("html", "why"), [
    ("a < b", 'Unsupported start tag ""'),
    ("AT&T", "Character '&' is reserved"),
    ("&nbsp;", "Character '&' is reserved"),
    ("<script>x</script>", 'Unsupported start tag "script"'),
    ("<b>chưa đóng", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", "Unmatched end tag"),
    ("x</b>", "Unexpected end tag"),
    ("<b", "Unclosed start tag"),
    ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler"'),
])
def test_html_telegram_cannot_parse_is_refused(html: str, why: str) -> None:
    with pytest.raises(rules.Refused) as refused:
        rules.parse_html(html)
    assert refused.value.description.startswith("Bad Request: can't parse entities: ")
    assert why in refused.value.description


def test_lengths_are_counted_after_parsing_in_utf16_units() -> None:
    assert rules.check_text("<b>" + "a" * 4096 + "</b>", "HTML") == "a" * 4096  # tags don't count
    assert rules.check_text("&lt;" * 4096, "HTML") == "<" * 4096  # an entity is one character
    for too_long, mode in (("a" * 4097, None), ("🏭" * 2049, "HTML")):  # an emoji is two units
        with pytest.raises(rules.Refused, match="message is too long"):
            rules.check_text(too_long, mode)
    with pytest.raises(rules.Refused, match="message text is empty"):
        rules.check_text("<b> </b>", "HTML")
    rules.check_caption("<i>" + "c" * 1024 + "</i>", "HTML")
    with pytest.raises(rules.Refused, match="caption is too long"):
        rules.check_caption("c" * 1025, "HTML")


def test_buttons_are_limited_in_number_and_data() -> None:
    def board(n: int, data: str = "x") -> dict:
        return {"inline_keyboard": [[{"text": str(i), "callback_data": data}] for i in range(n)]}

    rules.check_markup(board(100, "d" * 64))
    rules.check_markup('{"keyboard": [[{"text": "Menu"}]]}')
    with pytest.raises(rules.Refused, match="reply markup is too long"):
        rules.check_markup(board(101))
    with pytest.raises(rules.Refused, match="BUTTON_DATA_INVALID"):
        rules.check_markup(board(1, "đ" * 33))  # 66 bytes


async def test_the_fake_bot_refuses_like_telegram() -> None:
    api = RecordingSession()
    bot = Bot(token="123456:TEST-token", session=api, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(5, "Nothing matches “<zz”")
    sent = await bot.send_message(5, "<b>Đã lưu</b>")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("<b>Đã lưu</b>", chat_id=5, message_id=sent.message_id)
    await bot.edit_message_text("<b>Đã lưu.</b>", chat_id=5, message_id=sent.message_id)
    await bot.answer_callback_query("q1")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("q1", text="Lỗi")
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_document(5, "FILE", caption="c" * 1025)
    assert [c.method for c in api.calls] == ["SendMessage", "EditMessageText", "AnswerCallbackQuery"]
    assert [why.split(":")[1].strip() for _call, why in api.refused] == [
        "can't parse entities", "message is not modified", "query is too old and response timeout expired or "
        "query ID is invalid", "message caption is too long"]
