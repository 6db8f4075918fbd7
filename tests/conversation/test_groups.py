"""Private chats only: in a group the bot never posts anyone's data, the inbox or an export — it answers a
command once, politely, lets the members' own talk be, and a button pressed there gets a toast."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from bot.channels.text import TextRenderer
from bot.conversation.events import CommandEvent, Event, TextEvent, UnsupportedEvent, Who
from bot.conversation.pipeline import flatten
from storage.models import Conversation
from tests.conftest import STAFF_ID, ChatHarness, Person, register_facility

GROUP = -100_123
EN = "en"
PRIVATE_ONLY = "I only work in a private chat, so that nothing about you is shown to others."


async def in_group(chat: ChatHarness, p: Person, text: str) -> list[Any]:
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    update = chat._message(p, **content)
    update["message"]["chat"] = {"id": GROUP, "type": "supergroup", "title": "Hội cơ sở Long Xuyên"}
    return await chat._feed(update)


async def press_in_group(chat: ChatHarness, p: Person, data: str) -> list[Any]:
    return await chat._feed({"callback_query": {
        "id": f"g{next(chat._update_ids)}", "from": chat._user(p), "chat_instance": "ci", "data": data,
        "message": {"message_id": 5, "date": int(chat.clock.now().timestamp()),
                    "chat": {"id": GROUP, "type": "supergroup", "title": "Hội"},
                    "from": {"id": 777000, "is_bot": True, "first_name": "Bot"}, "text": "…"}}})


async def test_commands_in_a_group_get_one_polite_answer_and_no_data(chat: ChatHarness) -> None:
    owner, staff = Person(8401, language_code=EN), Person(STAFF_ID, language_code=EN)
    await register_facility(chat, owner)
    for person, command in ((owner, "/mydata"), (owner, "/needs"), (owner, "/start"), (staff, "/inbox"),
                            (staff, "/export"), (owner, "/forget"), (owner, "/help@khuyencong_test_bot")):
        calls = await in_group(chat, person, command)
        sent = [c for c in calls if c.method in ("SendMessage", "SendDocument", "SendPhoto")]
        assert len(sent) == 1 and sent[0].chat_id == GROUP, (command, calls)
        assert sent[0].text.startswith(PRIVATE_ONLY) and "https://t.me/khuyencong_test_bot" in sent[0].text
        assert "Nguyễn Thị Lan" not in sent[0].text and not sent[0].buttons()


async def test_a_command_in_a_group_delivered_again_is_answered_once(chat: ChatHarness) -> None:
    """A webhook POST that got no answer comes again (perhaps to another process): the group is not told twice."""
    from aiogram.types import Update

    owner = Person(8404, language_code=EN)
    update = chat._message(owner, text="/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}])
    update["message"]["chat"] = {"id": GROUP, "type": "supergroup", "title": "Hội cơ sở Long Xuyên"}
    update["update_id"] = 77_001
    before = len(chat.api.calls)
    for _ in range(2):
        await chat.dp.feed_update(chat.bot, Update.model_validate(update, context={"bot": chat.bot}))
    sent = [c for c in chat.api.calls[before:] if c.method == "SendMessage"]
    assert len(sent) == 1 and sent[0].text.startswith(PRIVATE_ONLY)


async def test_a_flood_of_commands_in_a_group_meets_the_throttle_silently(chat: ChatHarness) -> None:
    from aiogram.types import Update

    flooder = Person(8405, language_code=EN)
    before = len(chat.api.calls)
    for n in range(10):
        update = chat._message(flooder, text="/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}])
        update["message"]["chat"] = {"id": GROUP, "type": "supergroup", "title": "Hội cơ sở Long Xuyên"}
        update["update_id"] = 78_000 + n
        await chat.dp.feed_update(chat.bot, Update.model_validate(update, context={"bot": chat.bot}))
    sent = [c for c in chat.api.calls[before:] if c.method == "SendMessage"]
    assert len(sent) == 6 and all(c.text.startswith(PRIVATE_ONLY) for c in sent)  # the burst; no "slow down"


async def test_staff_writing_first_in_a_group_leave_no_trace(chat: ChatHarness) -> None:
    from storage.models import Identity

    staff = Person(STAFF_ID, language_code=EN)
    calls = await in_group(chat, staff, "/inbox")
    assert next(c.text for c in calls if c.method == "SendMessage").startswith(PRIVATE_ONLY)
    async with chat.app.session_maker() as session:
        assert (await session.exec(select(Identity).where(Identity.external_id == str(STAFF_ID)))).all() == []


async def test_talk_in_a_group_is_left_alone(chat: ChatHarness) -> None:
    owner = Person(8402, language_code=EN)
    assert await in_group(chat, owner, "chào cả nhà") == []
    assert await in_group(chat, owner, "Menu") == []


async def test_a_press_in_a_group_is_a_toast_and_an_open_form_stays(chat: ChatHarness) -> None:
    owner = Person(8403, language_code=EN)
    await chat.send(owner, "/start")  # registration is open in the private chat
    for data in ("forget:1", "lang:en", "an:go:1:", "inbox:p:0"):
        calls = await press_in_group(chat, owner, data)
        assert [c.method for c in calls] == ["AnswerCallbackQuery"]
        assert calls[0].params["text"].startswith(PRIVATE_ONLY)
    async with chat.app.session_maker() as session:
        assert (await session.exec(select(Conversation))).first() is not None


async def test_a_group_on_a_text_channel_keeps_the_persons_numbers(chat: ChatHarness) -> None:
    who = Who("zalo", "9a9a", "Ba", "vi")

    async def say(action: Any) -> list[str]:
        return [m.text for m in flatten(await chat.app.pipeline.handle(Event(who, action), TextRenderer()))]

    assert "2. 🇬🇧 English" in (await say(CommandEvent("language")))[0]
    (notice,) = await say(UnsupportedEvent("group"))
    assert notice.startswith("Tôi chỉ làm việc trong cuộc trò chuyện riêng") and "t.me" not in notice
    assert (await say(TextEvent("2")))[0].startswith("Language set to English.")  # "2" still means English
