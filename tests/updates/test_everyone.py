"""/help per role, /language and first-language detection, /mydata, /forget, the command menu."""

import logging

from aiogram.types import Update
from sqlmodel import select

from bot.channels.telegram_app import set_command_menu
from storage.models import Facility, Need, User
from tests.conftest import STAFF_ID, ChatHarness, Person, file_need, register_facility
from tests.updates.test_invites import join, make_invite

EN = "en"


async def test_help_shows_only_what_the_role_can_do(chat: ChatHarness) -> None:
    facility_help = (await chat.send(Person(4001, language_code=EN), "/help"))[-1].text
    assert "/need" in facility_help and "/inbox" not in facility_help and "/invite" not in facility_help
    staff_help = (await chat.send(Person(STAFF_ID, language_code=EN), "/help"))[-1].text
    assert "/inbox" in staff_help and "/export" in staff_help and "/collaborators" in staff_help
    token = await make_invite(chat)
    ctv = Person(4002, language_code=EN)
    await join(chat, ctv, token)
    ctv_help = (await chat.send(ctv, "/help"))[-1].text
    assert "“📝 File a need” – file a need for a facility in your commune" in ctv_help and "/inbox" not in ctv_help


async def test_first_language_from_telegram(chat: ChatHarness) -> None:
    en = (await chat.send(Person(4003, language_code="en-US"), "/help"))[-1].text
    assert en.startswith("<b>What I can do for you</b>")
    other = (await chat.send(Person(4004, language_code="fr"), "/help"))[-1].text
    none = (await chat.send(Person(4005, language_code=None), "/help"))[-1].text
    vi = (await chat.send(Person(4006, language_code="vi"), "/help"))[-1].text
    assert other == none == vi  # DEFAULT_LOCALE (vi) for anything that is not vi or en
    assert vi != en


async def test_language_choice_is_stored_and_used(chat: ChatHarness) -> None:
    p = Person(4007, language_code="vi")
    await chat.send(p, "/language")
    calls = await chat.press(p, "lang:en")
    assert calls[-1].text.startswith("Language set to English.")
    async with chat.app.session_maker() as s:
        user = (await s.exec(select(User).where(User.external_id == "4007"))).one()
    assert user.locale == "en"
    assert (await chat.send(p, "/help"))[-1].text.startswith("<b>What I can do for you</b>")
    await chat.press(p, "lang:vi")
    assert not (await chat.send(p, "/help"))[-1].text.startswith("<b>What I can do for you</b>")


async def test_mydata_lists_everything_stored(chat: ChatHarness) -> None:
    p = Person(4008, language_code=EN)
    first = (await chat.send(p, "/mydata"))[-1].text
    assert "store nothing" in first and "Your Telegram id: <code>4008</code>" in first  # for ADMIN_IDS
    await register_facility(chat, p)
    await file_need(chat, p)
    text = (await chat.send(p, "/mydata"))[-1].text
    for expected in ("Telegram id: <code>4008</code>", "Nguyễn Thị Lan", "0912 345 678", "Cơ sở nước mắm Hưng Thịnh",
                     "Phường Long Xuyên", "nước mắm, khô cá", "NC-2026-0001", "Cần tập huấn quản lý sản xuất"):
        assert expected in text


async def test_forget_deletes_personal_data_and_keeps_anonymous_needs(chat: ChatHarness) -> None:
    p = Person(4009, language_code=EN)
    await register_facility(chat, p)
    await file_need(chat, p)
    calls = await chat.send(p, "/forget")
    assert "cannot be undone" in calls[-1].text
    calls = await chat.press(p, "fg:0")
    assert "Nothing was deleted" in calls[-1].text
    calls = await chat.press(p, "fg:1")
    assert "has been deleted" in calls[-1].text
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(User).where(User.external_id == "4009"))).first() is None
        facility = (await s.exec(select(Facility))).one()
        (need,) = (await s.exec(select(Need))).all()
    assert facility.owner_name is None and facility.phone is None and facility.owner_user_id is None
    assert need.registrant_user_id is None and need.category == "training"
    assert "store nothing" in (await chat.send(p, "/mydata"))[-1].text


async def test_command_menu_per_language_and_refusal_is_only_a_warning(chat: ChatHarness, caplog) -> None:
    await set_command_menu(chat.bot, chat.app.i18n, "vi")
    menus = [c for c in chat.api.calls if c.method == "SetMyCommands"]
    by_lang = {c.params.get("language_code"): c.params["commands"] for c in menus}
    assert set(by_lang) == {None, "vi", "en"}
    assert by_lang["en"][0] == {"command": "start", "description": "Start or register your facility"}
    assert by_lang["vi"][0]["description"] != by_lang["en"][0]["description"]
    assert by_lang[None] == by_lang["vi"]

    chat.api.fail_next("SetMyCommands", 400, "Bad Request: not allowed", times=3)
    with caplog.at_level(logging.WARNING):
        await set_command_menu(chat.bot, chat.app.i18n, "vi")
    assert sum("could not set the command menu" in r.message for r in caplog.records) == 3
    # and the bot still answers
    assert (await chat.send(Person(4010, language_code=EN), "/help"))[-1].text


async def test_unknown_update_types_are_ignored_quietly(chat: ChatHarness) -> None:
    update = Update.model_validate({"update_id": 999, "edited_message": {
        "message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}}, context={"bot": chat.bot})
    await chat.dp.feed_update(chat.bot, update)
    assert chat.api.calls == []
