"""/help, /language and the menu as channel-neutral flows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.text import TextRenderer
from bot.clock import FakeClock
from bot.conversation.events import CommandEvent, Event, TextEvent, Who
from bot.conversation.pipeline import flatten
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
