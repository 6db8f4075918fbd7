"""The Telegram shim: updates become the one event type, with clean names and private chats only."""

from __future__ import annotations

from typing import Any

from aiogram.types import CallbackQuery, Message

from bot.channels.telegram_inbound import event_of_callback, event_of_message, ignored
from bot.conversation.events import ChooseEvent, CommandEvent, ContactEvent, MediaEvent, TextEvent, UnsupportedEvent


def message(chat_type: str = "private", **content: Any) -> Message:
    return Message.model_validate({
        "message_id": 1, "date": 1_767_225_600, "chat": {"id": 42, "type": chat_type},
        "from": {"id": 42, "is_bot": False, "first_name": "Lan\u0000" + "n" * 300, "language_code": "vi"},
        **content})


def test_messages_become_events() -> None:
    event = event_of_message(message(text="/start@khuyencong_bot  abc"))
    assert event.action == CommandEvent("start", "abc")
    assert event.who.address == "telegram:42" and event.who.language == "vi"
    assert "\u0000" not in event.who.display_name and len(event.who.display_name) == 120
    assert event_of_message(message(text="chao")).action == TextEvent("chao")
    assert event_of_message(message(text="/")).action == TextEvent("/")
    own = message(contact={"phone_number": "+84912345678", "first_name": "Lan", "user_id": 42})
    assert event_of_message(own).action == ContactEvent("+84912345678")
    other = message(contact={"phone_number": "+84900000000", "first_name": "B", "user_id": 7})
    assert event_of_message(other).action == UnsupportedEvent("contact")
    doc = message(document={"file_id": "F1", "file_unique_id": "u", "file_name": "bao-gia.pdf"})
    assert event_of_message(doc).action == MediaEvent("tg:F1", "document", "bao-gia.pdf", None)
    sticker = message(sticker={"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
                               "is_animated": False, "is_video": False})
    assert event_of_message(sticker).action == UnsupportedEvent("sticker")


def test_groups_are_not_served() -> None:
    assert event_of_message(message("group", text="/mydata")).action == UnsupportedEvent("group")
    assert not ignored(message("group", text="/mydata")) and not ignored(message(text="chao"))
    assert ignored(message("supergroup", text="chào cả nhà")) and ignored(message("group", sticker={
        "file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1, "is_animated": False,
        "is_video": False}))
    query = CallbackQuery.model_validate({
        "id": "q", "chat_instance": "c", "data": "forget:1", "from": {"id": 42, "is_bot": False, "first_name": "L"},
        "message": {"message_id": 3, "date": 1_767_225_600, "chat": {"id": -5, "type": "group", "title": "G"},
                    "text": "…"}})
    assert event_of_callback(query).action == UnsupportedEvent("group")


def test_a_press_is_a_choice() -> None:
    query = CallbackQuery.model_validate({
        "id": "q", "chat_instance": "c", "data": "f.c:register|sector|food",
        "from": {"id": 42, "is_bot": False, "first_name": "Lan"}})
    assert event_of_callback(query).action == ChooseEvent("f.c", "register|sector|food")
