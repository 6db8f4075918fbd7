"""Bugs our fakes found once they refused what Telegram refuses (tests/fakebot.py, bot/sandbox/telegram_rules.py)."""

from bot.sandbox.telegram_rules import parse_html
from tests.conftest import STAFF_ID, ChatHarness, Person, form_cb
from tests.updates.test_announcements import compose

STAFF = Person(STAFF_ID, first_name="Hà", language_code="en")


async def test_the_formatting_hint_shows_the_tags_not_their_escapes(chat: ChatHarness) -> None:
    await chat.send(STAFF, "/start")
    await chat.send(STAFF, "/announce")
    await chat.press(STAFF, form_cb("c", "announce", "kind", "general"))
    await chat.send(STAFF, "Tin")
    shown = parse_html((await chat.send(STAFF, "<b>chưa đóng thẻ"))[-1].text)
    assert "Use only <b>, <i>, <u>, <s>, <a href=…>, <code> and <blockquote>" in shown and "&lt;" not in shown


async def test_a_toggle_pressed_twice_is_not_an_error(chat: ChatHarness) -> None:
    ann_id = await compose(chat)
    for _ in range(2):  # the second edit would show exactly the same: Telegram says "not modified"
        calls = await chat.press(STAFF, f"an:cr:{ann_id}:30280", message_id=4242)
        assert not any("went wrong" in c.text for c in calls)
    assert chat.api.refused[-1][1].startswith("Bad Request: message is not modified")


async def test_a_message_that_cannot_be_edited_is_sent_anew(chat: ChatHarness) -> None:
    ann_id = await compose(chat)
    chat.api.fail_next("EditMessageText", 400, "Bad Request: message can't be edited")
    calls = await chat.press(STAFF, f"an:r:{ann_id}:facility")
    said = [c for c in calls if c.method == "SendMessage"]
    assert said and "Who: Facilities" in said[-1].text  # the changed audience, as a new message
    assert [c.method for c in calls].count("AnswerCallbackQuery") == 1
