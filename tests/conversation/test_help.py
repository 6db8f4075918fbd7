"""/help, /language and the menu as channel-neutral flows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.telegram_render import TelegramRenderer
from bot.channels.text import TextRenderer
from bot.clock import FakeClock
from bot.conversation.events import CommandEvent, Event, TextEvent, Who
from bot.conversation.pipeline import flatten
from storage.models import Facility, User
from tests.conftest import ChatHarness, Person, make_settings


async def test_language_and_help_by_typing_on_a_text_channel(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    who = Who("zalo", "c0ffee", "Ba", "vi")

    async def say(action) -> list[str]:
        return [m.text for m in flatten(await app.pipeline.handle(Event(who, action), TextRenderer()))]

    (choose,) = await say(CommandEvent("language"))
    assert "1. 🇻🇳 Tiếng Việt\n2. 🇬🇧 English" in choose
    (answer,) = await say(TextEvent("2"))
    assert answer.startswith("Language set to English.\n\nWhat I can do for you\n/start – register your facility")
    (menu,) = await say(TextEvent("tro giup"))  # a menu word, typed without accents
    assert menu.startswith("What I can do for you") and "/inbox" not in menu
    (nothing,) = await say(CommandEvent("cancel"))
    assert nothing == "There is nothing to cancel."


async def test_after_switching_language_the_menu_buttons_switch_too(chat: ChatHarness) -> None:
    p = Person(4107, language_code="vi")
    await chat.send(p, "/language")
    calls = await chat.press(p, "lang:en")
    shown = [c for c in calls if c.method == "SendMessage"][-1]
    assert shown.text.startswith("Language set to English.")
    assert ("📝 New need", "") in shown.buttons()  # the reply keyboard, in the new language
    assert shown.params["reply_markup"]["is_persistent"] and ("📝 Nhu cầu mới", "") not in shown.buttons()
    calls = await chat.press(p, "lang:vi")  # and back: the same message carries the Vietnamese menu
    shown = [c for c in calls if c.method == "SendMessage"][-1]
    assert ("📝 Nhu cầu mới", "") in shown.buttons() and ("📝 New need", "") not in shown.buttons()


@pytest.mark.parametrize("renderer", [TelegramRenderer, TextRenderer])
async def test_help_fits_the_role_and_names_the_centre(engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    """A collaborator is not told to register or shown /need twice; a registered owner is not told to register;
    the centre's phone and address are in /help and in the answer to what the bot did not understand."""
    app = create_app(make_settings(centre_phone="0296 3852 123", centre_address="12 Tôn Đức Thắng, Long Xuyên"),
                     engine, clock=clock)
    now = clock.now()
    async with app.session_maker() as s:
        ctv = User(channel="zalo", external_id="c0ffee01", role="collaborator", commune_code=30307, locale="en",
                   created_at=now, updated_at=now)
        owner = User(channel="zalo", external_id="c0ffee02", locale="en", consent_at=now, created_at=now,
                     updated_at=now)
        s.add(ctv)
        s.add(owner)
        await s.flush()
        s.add(Facility(name="Nước mắm Lan", commune_code=30307, sector="food", owner_user_id=owner.id,
                       created_at=now, updated_at=now))
        await s.commit()

    async def said(external_id: str, action: Any) -> str:
        rendered = await app.pipeline.handle(Event(Who("zalo", external_id, "X", "en"), action), renderer())
        return "\n".join(m.text for m in flatten(rendered))

    collaborator = await said("c0ffee01", CommandEvent("help"))
    assert "register your facility" not in collaborator and collaborator.count("(or /need)") == 1
    assert "0296 3852 123" in collaborator and "12 Tôn Đức Thắng, Long Xuyên" in collaborator
    registered = await said("c0ffee02", CommandEvent("help"))
    assert "register your facility" not in registered and "“📝 New need” – ask the centre" in registered
    puzzled = await said("c0ffee02", TextEvent("toi muon hoi ve von vay"))
    assert "understand" in puzzled and "0296 3852 123" in puzzled


@pytest.mark.parametrize("renderer", [TelegramRenderer, TextRenderer])
async def test_help_names_the_menu_words_with_the_commands_as_the_alternative(
        engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    """/help says "Nhu cầu của tôi" rather than a bare /needs, keeps the command as an alternative, and the menu's
    words work when typed on a text channel."""
    app = create_app(make_settings(), engine, clock=clock)
    who = Who("zalo", "c0ffee09", "Ba", "vi")

    async def said(action: Any) -> str:
        rendered = await app.pipeline.handle(Event(who, action), renderer())
        return "\n".join(m.text for m in flatten(rendered))

    shown = await said(CommandEvent("help"))
    assert "“📋 Nhu cầu của tôi” – nhu cầu của anh/chị và trạng thái xử lý (hoặc /needs)" in shown
    assert "“📝 Nhu cầu mới” –" in shown and "\n/needs –" not in shown
    assert "/language – " in shown  # commands without a menu word stay as they are
    typed = await said(TextEvent("nhu cau cua toi"))  # the menu word, typed without accents
    assert "chưa đăng ký cơ sở" in typed.lower() or "nhu cầu" in typed.lower()
    assert "chưa hiểu" not in typed
