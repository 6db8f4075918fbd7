"""Bad input, stale buttons, floods, flood control and restarts: never a crash, never silence."""

import logging

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from sqlmodel import select

from bot.app import create_app
from storage.models import Conversation, Facility
from tests.conftest import ChatHarness, Person, form_cb, make_settings, register_facility
from tests.fakebot import BOT_ID, RecordingSession

EN = "en"


async def _at_facility_name(chat: ChatHarness, p: Person) -> None:
    await chat.send(p, "/start")


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("", False),
        ("   \t  ", False),
        ("x" * 5000, False),
        ("🏭🏭🏭", False),
        ("<b>x</b>", True),
        ("<script>alert(1)</script>", True),
        ("&amp;", True),
        ("'; DROP TABLE needs; --", True),
        ("مصنع الأرز", True),
        ("Cơ\u200b sở\u202e A", True),
    ],
)
async def test_free_text_is_refused_politely_or_echoed_escaped(chat: ChatHarness, text: str, accepted: bool) -> None:
    p = Person(5001, language_code=EN)
    await _at_facility_name(chat, p)
    calls = await chat.send(p, text)
    reply = calls[-1].text
    assert reply  # never silent
    if not accepted:
        assert reply.startswith("⚠️")
        assert "name of your facility" in reply  # the question is asked again; nothing lost
        return
    assert "owner's full name" in reply
    for _ in range(2):
        await chat.send(p, "Trần Văn B" if _ == 0 else "0912345678")
    await chat.send(p, "long xuyen")
    await chat.press(p, form_cb("c", "register", "sector", "other"))
    await chat.send(p, "gạo")
    summary = (await chat.press(p, form_cb("c", "register", "consent", "yes")))[-1].text
    assert "<script>" not in summary and "<b>x</b>" not in summary
    if text == "<b>x</b>":
        assert "&lt;b&gt;x&lt;/b&gt;" in summary
    if text == "&amp;":
        assert "&amp;amp;" in summary
    if "\u200b" in text:
        assert "\u200b" not in summary and "\u202e" not in summary
    await chat.press(p, form_cb("ok", "register", "__summary__"))
    async with chat.app.session_maker() as s:
        facility = (await s.exec(select(Facility))).one()
    assert facility.name == text.replace("\u200b", "").replace("\u202e", "")


async def test_5000_character_description_is_refused_with_the_limit(chat: ChatHarness) -> None:
    p = Person(5002, language_code=EN)
    await register_facility(chat, p)
    await chat.send(p, "/need")
    await chat.press(p, form_cb("c", "need", "category", "other"))
    reply = (await chat.send(p, "a" * 5000))[-1].text
    assert "too long (5000 characters)" in reply and "under 1000" in reply


async def test_non_text_messages_in_a_form_get_the_step_hint(chat: ChatHarness) -> None:
    p = Person(5003, language_code=EN)
    await _at_facility_name(chat, p)
    reply = (await chat.sticker(p))[-1].text
    assert "can't use that kind of message" in reply and "name of your facility" in reply
    reply = (await chat.document(p))[-1].text
    assert "answer with a text message" in reply


async def test_commands_inside_a_form_keep_the_form(chat: ChatHarness) -> None:
    p = Person(5004, language_code=EN)
    await _at_facility_name(chat, p)
    reply = (await chat.send(p, "/need"))[-1].text
    assert "You are filling in “Facility registration”" in reply
    reply = (await chat.send(p, "/help"))[-1].text
    assert "/cancel" in reply and "name of your facility" in reply
    assert "owner's full name" in (await chat.send(p, "Cơ sở A"))[-1].text


async def test_stale_and_forged_form_buttons_change_nothing(chat: ChatHarness) -> None:
    p = Person(5005, language_code=EN)
    await _at_facility_name(chat, p)
    await chat.send(p, "Cơ sở A")
    for data in (form_cb("b", "register", "facility_name"),  # an old message's Back
                 form_cb("c", "need", "category", "fair"),  # another form
                 "f:zz",  # garbage
                 ):
        calls = await chat.press(p, data)
        assert calls[-1].method == "AnswerCallbackQuery"
    # A choice pressed on a text step is answered with that step's hint.
    reply = (await chat.press(p, form_cb("c", "register", "owner_name", "x")))[-1].text
    assert "answer with a text message" in reply
    async with chat.app.session_maker() as s:
        conv = (await s.exec(select(Conversation))).one()
    assert conv.step == "owner_name" and conv.data == {"facility_name": "Cơ sở A"}


async def test_buttons_after_a_finished_form_are_inactive(chat: ChatHarness) -> None:
    p = Person(5006, language_code=EN)
    await register_facility(chat, p)
    calls = await chat.press(p, form_cb("ok", "register", "__summary__"))
    assert calls[-1].params["text"] == "This button is no longer active."
    async with chat.app.session_maker() as s:
        assert len((await s.exec(select(Facility))).all()) == 1


async def test_restart_mid_form_continues_at_the_same_step(chat: ChatHarness) -> None:
    p = Person(5007, language_code=EN)
    await _at_facility_name(chat, p)
    await chat.send(p, "Cơ sở A")
    await chat.send(p, "Trần Văn B")
    # A new process: new app, dispatcher and bot on the same database.
    settings = make_settings()
    engine = chat.app.session_maker.kw["bind"]
    app2 = create_app(settings, engine, clock=chat.clock)
    api2 = RecordingSession()
    bot2 = Bot(token="123456:TEST-token", session=api2, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    chat2 = ChatHarness(app2, api2, bot2, chat.clock)
    reply = (await chat2.send(p, "0912345678"))[-1].text
    assert "commune or ward" in reply
    await chat2.send(p, "long xuyen")
    await chat2.press(p, form_cb("c", "register", "sector", "food"))
    await chat2.send(p, "bánh")
    await chat2.press(p, form_cb("c", "register", "consent", "yes"))
    assert "is registered" in (await chat2.press(p, form_cb("ok", "register", "__summary__")))[-1].text


async def test_flood_from_one_user_is_throttled_politely_others_unaffected(chat: ChatHarness) -> None:
    flooder, other = Person(5008, language_code=EN), Person(5009, language_code=EN)
    replies = []
    for _ in range(15):
        before = len(chat.api.calls)
        update = chat._message(flooder, text="???")
        update["update_id"] = 10_000 + _
        from aiogram.types import Update

        await chat.dp.feed_update(chat.bot, Update.model_validate(update, context={"bot": chat.bot}))
        replies += [c.text for c in chat.api.calls[before:]]
    slow = [r for r in replies if "very quickly" in r]
    assert len(slow) == 1  # told once, not per message
    assert len(replies) == 7  # the burst (6) answered normally, then one polite notice
    assert "Would you like to register your facility?" in (await chat.send(other, "what is this?"))[-1].text
    chat.clock.advance(5)
    assert "Would you like to register your facility?" in (await chat.send(flooder, "???"))[-1].text


async def press_ten_times(chat: ChatHarness, who: Person, data: str, *, ids: str, first_update: int) -> None:
    """Ten presses of a button with `data` in a row (query ids `ids`-0 … `ids`-9), each fed to the Dispatcher."""
    from aiogram.types import Update

    for n in range(10):
        press = {"update_id": first_update + n, "callback_query": {
            "id": f"{ids}-{n}", "from": chat._user(who), "chat_instance": "ci", "data": data,
            "message": {"message_id": 7, "date": int(chat.clock.now().timestamp()),
                        "chat": {"id": who.id, "type": "private"},
                        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot"}, "text": "…"}}}
        await chat.dp.feed_update(chat.bot, Update.model_validate(press, context={"bot": chat.bot}))


async def test_a_flood_of_presses_gets_one_notice_and_every_press_is_answered(chat: ChatHarness) -> None:
    """Beyond the burst: one brief notice; the rest of the flood does nothing, but each press is still answered
    (Telegram shows a spinner on a button until its press is)."""
    flooder = Person(5012, language_code=EN)
    before = len(chat.api.calls)
    await press_ten_times(chat, flooder, "menu", ids="flood", first_update=20_000)
    calls = chat.api.calls[before:]
    answers = [c for c in calls if c.method == "AnswerCallbackQuery"]
    assert sorted(c.params["callback_query_id"] for c in answers) == sorted(f"flood-{n}" for n in range(10))
    notices = [c.params.get("text") for c in answers if c.params.get("text")]
    assert notices == ["Please wait a moment before pressing again."]
    menus = [c for c in calls if c.method in ("SendMessage", "EditMessageText")]
    assert len(menus) == 6  # the burst, answered as usual


async def test_a_flood_of_presses_the_aiogram_routers_take_still_answers_every_press(chat: ChatHarness) -> None:
    """Presses the pipeline does not take (a button of no flow) meet the throttle in front of the aiogram
    routers: the rest of the flood is dropped there, but each press is still answered (no endless spinner)."""
    flooder = Person(5013, language_code=EN)
    before = len(chat.api.calls)
    await press_ten_times(chat, flooder, "no-such-button", ids="old", first_update=21_000)
    calls = chat.api.calls[before:]
    assert not chat.api.refused
    answers = [c for c in calls if c.method == "AnswerCallbackQuery"]
    assert sorted(c.params["callback_query_id"] for c in answers) == sorted(f"old-{n}" for n in range(10))
    texts = [c.params.get("text") for c in answers]
    assert texts == ["This button is no longer active."] * 6 + ["Please wait a moment before pressing again."] \
        + [None] * 3  # the burst, one notice, then the rest answered with nothing
    assert [c for c in calls if c.method != "AnswerCallbackQuery"] == []


async def test_a_flood_of_messages_the_aiogram_routers_take_is_not_answered_beyond_one_notice(
        chat: ChatHarness) -> None:
    """A dropped message is never answered (that would feed the flood)."""
    from aiogram.types import Update

    flooder = Person(5014, language_code=EN)
    before = len(chat.api.calls)
    for n in range(10):
        update = chat._message(flooder, text="/nosuchcommand",
                               entities=[{"type": "bot_command", "offset": 0, "length": 14}])
        update["update_id"] = 22_000 + n
        await chat.dp.feed_update(chat.bot, Update.model_validate(update, context={"bot": chat.bot}))
    texts = [c.text for c in chat.api.calls[before:]]
    assert texts == ["Sorry, I didn't understand that. Send /help to see what I can do."] * 6 + [
        "You are sending messages very quickly. Please wait a few seconds, then continue."]


async def test_flood_control_on_a_reply_waits_and_retries_without_error_logs(chat: ChatHarness, caplog) -> None:
    chat.api.fail_next("SendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, times=2)
    with caplog.at_level(logging.INFO):
        calls = await chat.send(Person(5010, language_code=EN), "/help")
    assert calls[-1].text.startswith("<b>What I can do for you</b>")
    assert chat.clock.slept == [3, 3]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_unexpected_error_gets_an_apology_not_silence(chat: ChatHarness, monkeypatch) -> None:
    from handlers import start

    async def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(start.accounts, "first_contact", boom)
    calls = await chat.send(Person(5011, language_code=EN), "/start")
    assert "something went wrong on our side" in calls[-1].text




async def test_a_reply_that_could_not_connect_is_sent_again(chat: ChatHarness) -> None:
    chat.api.connect_failures = 2
    calls = await chat.send(Person(5012, language_code=EN), "/help")
    assert calls[-1].text.startswith("<b>What I can do for you</b>")
    assert chat.clock.slept == [0.5, 1.0]
