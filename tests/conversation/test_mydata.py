"""/mydata on the pipeline: everything stored, never over a channel's limit (split on text channels, a
.txt document on Telegram when long), also in the middle of a form."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.channels.telegram_render import TelegramMessage, TelegramRenderer, _visible
from bot.channels.text import TextRenderer
from bot.clock import FakeClock
from bot.context import AppContext
from bot.conversation.events import CommandEvent, Event, TextEvent, Who
from bot.conversation.pipeline import flatten
from bot.conversation.split import utf16_len
from storage.models import Facility, Need, User
from tests.conftest import make_settings

COMMUNE = 30280  # any code; the directory shows it by name or number


async def _busy_owner(app: AppContext, who: Who, needs: int = 5) -> None:
    """An owner with `needs` needs of 1,000 characters each (markup-like characters included)."""
    now = app.clock.now()
    async with app.session_maker() as session:
        user = User(channel=who.channel, external_id=who.external_id, full_name="Nguyễn Thị <Lan>",
                    phone="+84912345678", locale=who.language or "vi", consent_at=now, created_at=now, updated_at=now)
        session.add(user)
        await session.flush()
        facility = Facility(name="Cơ sở nước mắm Hưng Thịnh & Co", commune_code=COMMUNE, sector="food",
                            owner_user_id=user.id, consent_at=now, created_at=now, updated_at=now)
        session.add(facility)
        await session.flush()
        for i in range(needs):
            text = (f"Nhu cầu số {i} <b>: " + "cần máy đóng chai & dán nhãn tự động. " * 40)[:1000]
            session.add(Need(ref=f"NC-2026-{i + 1:04d}", facility_id=facility.id, commune_code=COMMUNE,
                             category="machinery", description=text, registrant_user_id=user.id,
                             created_at=now, updated_at=now))
        await session.commit()


async def test_long_data_is_split_on_a_text_channel_and_nothing_is_lost(engine: AsyncEngine,
                                                                         clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    who = Who("zalo", "feed01", "Lan", "vi")
    await _busy_owner(app, who)
    renderer = TextRenderer()
    texts = [m.text for m in flatten(await app.pipeline.handle(Event(who, CommandEvent("mydata")), renderer))]
    assert len(texts) >= 3 and all(len(t) <= renderer.caps.max_text for t in texts)
    whole = "\n\n".join(texts)
    assert whole.startswith("Thông tin chúng tôi lưu về anh/chị\nMã Zalo của anh/chị: feed01\nTên: Nguyễn Thị <Lan>")
    assert "Ngôn ngữ: Tiếng Việt" in whole and "Ngôn ngữ: vi" not in whole
    positions = [whole.index(f"• NC-2026-{i:04d}") for i in range(1, 6)]
    assert positions == sorted(positions, reverse=True)  # in the stored order, newest first
    for i in range(5):  # every need whole, each in one message (split between needs)
        assert any(f"Nhu cầu số {i} <b>: cần máy" in t and t.count("NC-2026-") <= 2 for t in texts)
    assert "<b>" in whole and "&amp;" not in whole  # their words as written, no markup on a text channel


async def test_long_data_on_telegram_comes_as_one_text_document(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    who = Who("telegram", "5501", "Lan", "en")
    await _busy_owner(app, who)
    (message,) = flatten(await app.pipeline.handle(Event(who, CommandEvent("mydata")), TelegramRenderer()))
    assert isinstance(message, TelegramMessage) and message.method == "document" and message.file is not None
    assert message.file.name.endswith(".txt") and "in this file" in message.text
    content = message.file.data.decode("utf-8")
    assert utf16_len(content) > 4096 and all(f"NC-2026-{i:04d}" in content for i in range(1, 6))
    assert "Nhu cầu số 4 <b>: " in content and "&amp;" not in content
    assert "Name: Cơ sở nước mắm Hưng Thịnh & Co" in content


async def test_short_data_is_one_message_with_escaped_words_on_telegram(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    who = Who("telegram", "5502", "Lan", "en")
    await _busy_owner(app, who, needs=1)
    messages = flatten(await app.pipeline.handle(Event(who, CommandEvent("mydata")), TelegramRenderer()))
    assert [m.method for m in messages] == ["send"]
    html = messages[0].text
    assert html.startswith("<b>What we store about you</b>\nYour Telegram id: <code>5502</code>")
    assert "Nguyễn Thị &lt;Lan&gt;" in html and "Nhu cầu số 0 &lt;b&gt;: " in html
    assert utf16_len(_visible(html)) <= 4096


async def test_mydata_in_the_middle_of_a_form_shows_its_answers(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    who = Who("zalo", "feed02", "Lan", "en")
    await _busy_owner(app, who, needs=0)

    async def say(action) -> str:
        return "\n---\n".join(m.text for m in flatten(await app.pipeline.handle(Event(who, action), TextRenderer())))

    await say(CommandEvent("need"))
    await say(TextEvent("1"))  # the first kind of need
    shown = await say(CommandEvent("mydata"))
    assert shown.startswith("What we store about you") and "Answers of the form you are filling in" in shown
    assert "Kind of need:" in shown
    # …and the form is still open where it was: the next answer is taken as the description.
    assert (await say(TextEvent("Cần máy đóng chai tự động"))).startswith("Which machine or equipment?")


async def test_nothing_stored_says_so_with_the_channel_id(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    who = Who("zalo", "feed03", "Ba", "en")
    (message,) = flatten(await app.pipeline.handle(Event(who, CommandEvent("mydata")), TextRenderer()))
    assert message.text == "We store nothing about you.\n\nYour Zalo id: feed03"
