"""Sending rendered replies on Telegram: one answer per pressed button, double taps, refused edits."""

from __future__ import annotations

from aiogram import Bot

from bot.channels.telegram_render import TelegramRenderer
from bot.channels.telegram_send import TelegramReplySender
from bot.conversation.replies import Choice, Reply
from tests.fakebot import RecordingSession


def setup() -> tuple[RecordingSession, TelegramReplySender]:
    session = RecordingSession()
    return session, TelegramReplySender(Bot(token="123456:TEST-token", session=session))


async def test_a_press_is_answered_once_with_the_notice() -> None:
    session, sender = setup()
    rendered = TelegramRenderer().render(Reply.of("Đã lưu.", notice=True)).messages
    rendered += TelegramRenderer().render(Reply.of("Trang 2", replace_previous=True)).messages
    await sender.deliver(42, rendered, edit_message_id=7, callback_query_id="q1")
    assert [(c.method, c.params.get("text")) for c in session.calls] == [
        ("AnswerCallbackQuery", "Đã lưu."), ("EditMessageText", "Trang 2")]


async def test_a_press_without_a_notice_is_still_answered_once() -> None:
    session, sender = setup()
    await sender.deliver(42, TelegramRenderer().render(Reply.of("Chọn:", choices=[[Choice("A", "x", "1")]])).messages,
                         callback_query_id="q2")
    assert [c.method for c in session.calls] == ["AnswerCallbackQuery", "SendMessage"]
    assert session.calls[1].buttons() == [("A", "x:1")]


async def test_a_double_tap_that_changes_nothing_is_not_an_error() -> None:
    session, sender = setup()
    session.fail_next("EditMessageText", 400, "Bad Request: message is not modified: specified new message "
                                               "content and reply markup are exactly the same")
    shown = await sender.deliver(42, TelegramRenderer().render(Reply.of("Trang 1", replace_previous=True)).messages,
                                 edit_message_id=9)
    assert shown == [9] and [c.method for c in session.calls] == []


async def test_an_edit_telegram_refuses_is_sent_as_a_new_message() -> None:
    session, sender = setup()
    session.fail_next("EditMessageText", 400, "Bad Request: message can't be edited")
    await sender.deliver(42, TelegramRenderer().render(Reply.of("Danh sách", replace_previous=True)).messages,
                         edit_message_id=9)
    assert [(c.method, c.text) for c in session.calls] == [("SendMessage", "Danh sách")]


async def test_the_menu_keyboard_is_sent_as_a_reply_keyboard() -> None:
    session, sender = setup()
    reply = Reply.of("Đăng ký xong.", keyboard=(("📝 Nhu cầu mới", "📋 Nhu cầu của tôi"),))
    await sender.deliver(42, TelegramRenderer().render(reply).messages)
    assert session.calls[0].params["reply_markup"]["keyboard"][0][0]["text"] == "📝 Nhu cầu mới"
