"""/subscriptions and /stop as channel-neutral flows: the same choices on Telegram (buttons, edits, a toast)
and on a text channel (numbers to type)."""

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
from storage import repos
from tests.conftest import ChatHarness, Person, make_settings

LAN_ZALO = Who("zalo", "9f8e7d6c5b4a", "Lan", "vi")


async def test_topics_can_be_followed_by_typing_numbers(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    assert app.pipeline is not None

    async def say(action) -> list[str]:
        return [m.text for m in flatten(await app.pipeline.handle(Event(LAN_ZALO, action), TextRenderer()))]

    (shown,) = await say(CommandEvent("subscriptions"))
    assert shown.startswith("Chủ đề thông báo\n\nAnh/chị chọn một chủ đề")
    assert "1. ✅ Hội chợ" in shown and "6. Theo dõi tất cả" in shown and "0. Về menu chính" in shown
    saved, listing = await say(TextEvent("1"))
    assert saved == "Đã lưu." and "1. ⬜ Hội chợ" in listing and "2. ✅" in listing
    await say(TextEvent("7"))  # follow none
    async with app.session_maker() as session:
        user = await repos.get_user(session, channel="zalo", external_id=LAN_ZALO.external_id)
        assert user is not None and user.topics == []
    (stopped,) = await say(CommandEvent("stop"))
    assert "/start" in stopped
    async with app.session_maker() as session:
        user = await repos.get_user(session, channel="zalo", external_id=LAN_ZALO.external_id)
        assert user is not None and user.announcements_off


async def test_on_telegram_a_toggle_is_a_toast_and_an_edit(chat: ChatHarness) -> None:
    lan = Person(5005, language_code="en")
    (listing,) = await chat.send(lan, "/subscriptions")
    assert listing.text.startswith("<b>Announcement topics</b>\n\nChoose a topic")
    assert listing.buttons()[0] == ("✅ Trade fair / exhibition", "sub.t:fair")
    calls = await chat.press_button(lan, "Trade fair")
    assert [c.method for c in calls] == ["AnswerCallbackQuery", "EditMessageText"]
    assert calls[0].params["text"] == "Saved." and calls[1].buttons()[0][0] == "⬜ Trade fair / exhibition"
    calls = await chat.press(lan, "sub.t:nonsense")
    assert [(c.method, c.params.get("text")) for c in calls] == [("AnswerCallbackQuery",
                                                                  "This button is no longer active.")]


@pytest.mark.parametrize("renderer", [TelegramRenderer, TextRenderer])
async def test_start_after_stop_says_announcements_are_back_and_how_to_stop(
        engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    assert app.pipeline is not None

    async def say(action: Any) -> str:
        rendered = await app.pipeline.handle(Event(LAN_ZALO, action), renderer())
        return "\n".join(m.text for m in flatten(rendered))

    await say(CommandEvent("stop"))
    resumed = await say(CommandEvent("start"))
    assert "Anh/chị sẽ lại nhận thông báo của trung tâm" in resumed and "/stop" in resumed
    async with app.session_maker() as session:
        user = await repos.get_user(session, channel="zalo", external_id=LAN_ZALO.external_id)
        assert user is not None and not user.announcements_off
    again = await say(CommandEvent("start"))  # nothing to resume: not said again
    assert "sẽ lại nhận thông báo" not in again
