"""No dead end: what the bot does not understand. A newcomer is greeted and offered registration; a registered
owner or collaborator gets the menu and "Send this as a question to the centre" — typed as a number on a
text-only phone, a button on Telegram — and the words they typed become an open question."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.channels.telegram_render import TelegramRenderer
from bot.clock import FakeClock
from bot.conversation.events import ChooseEvent, Event, TextEvent, Who
from bot.conversation.pipeline import flatten
from storage import repos
from storage.models import Facility, Question, User
from tests.conftest import STAFF_ID, ChatHarness, Person, make_settings, register_facility, telegram_view
from tests.conversation.test_typing_only import Phone

CENTRE = {"centre_phone": "0296 3852 123", "centre_address": "12 Tôn Đức Thắng, Long Xuyên"}


async def _owner(app, clock: FakeClock, *, channel: str, external_id: str, locale: str = "vi") -> User:
    """A facility owner who registered earlier (written straight into the database)."""
    now = clock.now()
    async with app.session_maker() as s:
        owner = User(channel=channel, external_id=external_id, full_name="Nguyễn Thị Lan", phone="+84912345678",
                     locale=locale, consent_at=now, created_at=now, updated_at=now)
        s.add(owner)
        await s.flush()
        s.add(Facility(name="Cơ sở nước mắm Hưng Thịnh", owner_user_id=owner.id, commune_code=30307, sector="food",
                       created_at=now, updated_at=now))
        await s.commit()
        await s.refresh(owner)
    return owner


async def _questions(app) -> list[Question]:
    async with app.session_maker() as s:
        return list((await s.exec(select(Question).order_by(Question.id))).all())


# --- newcomers -------------------------------------------------------------------------------------------


async def test_a_newcomer_typing_a_greeting_or_anything_is_greeted_and_offered_registration(
        engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(**CENTRE), engine, clock=clock)
    ba = Phone(app.pipeline, Who("zalo", "ab01", "Ba", "vi"))
    assert "Trước tiên, mời anh/chị đăng ký cơ sở" in await ba.type("alo")  # a greeting starts registration
    assert "tên cơ sở" in ba.last.lower()
    await ba.type("huỷ")

    tu = Phone(app.pipeline, Who("zalo", "ab02", "Tư", "vi"))
    greeting = await tu.type("toi muon vay von")
    assert greeting.startswith("Xin chào! Tôi là trợ lý của Trung tâm Khuyến công tỉnh.")
    assert "chưa hiểu" not in greeting  # no dead end
    assert "Anh/chị có muốn đăng ký cơ sở không?" in greeting and "0296 3852 123" in greeting
    assert "1. 📝 Đăng ký cơ sở" in greeting
    assert "Trước tiên, mời anh/chị đăng ký cơ sở" in await tu.type(tu.number_of("Đăng ký cơ sở"))
    assert await _questions(app) == []  # a newcomer's words are not kept


async def test_a_newcomer_on_telegram_gets_a_register_button(chat: ChatHarness) -> None:
    p = Person(9101, language_code="en")
    calls = await chat.send(p, "I want a loan for my workshop")
    assert calls[-1].text.startswith("Hello! I am the assistant")
    assert "Would you like to register your facility?" in calls[-1].text
    assert "didn't understand" not in calls[-1].text
    calls = await chat.press_button(p, "Register my facility")
    assert "let's register your facility" in calls[-1].text


# --- registered people -----------------------------------------------------------------------------------


async def test_a_registered_owner_on_a_text_phone_sends_a_question_by_its_number(
        engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(**CENTRE), engine, clock=clock)
    owner = await _owner(app, clock, channel="zalo", external_id="cafe01")
    lan = Phone(app.pipeline, Who("zalo", "cafe01", "Lan", "vi"))
    shown = await lan.type("máy của tôi hỏng rồi")
    assert "Xin lỗi, tôi chưa hiểu ý anh/chị." in shown
    assert "/need" in shown and "0296 3852 123" in shown  # the menu, with the centre's contact
    assert "“máy của tôi hỏng rồi”" in shown
    assert "0. Về menu chính" in shown

    sent = await lan.type(lan.number_of("Gửi tin này thành câu hỏi cho trung tâm"))
    assert sent.startswith("✅ Câu hỏi của anh/chị đã được gửi đến trung tâm")
    assert "0296 3852 123" in sent and "12 Tôn Đức Thắng" in sent
    (question,) = await _questions(app)
    assert (question.text, question.user_id, question.channel, question.status) == (
        "máy của tôi hỏng rồi", owner.id, "zalo", "open")
    assert question.created_at == clock.now() and question.answered_at is None

    await lan.type("1")  # the number again: that menu is gone, nothing is sent twice
    assert "Gửi tin này" not in lan.last  # "1" is no question to offer
    assert len(await _questions(app)) == 1


async def test_words_kept_between_the_two_steps_are_the_last_ones_offered(
        engine: AsyncEngine, clock: FakeClock) -> None:
    """Line breaks and accents are kept as typed; newer words replace older ones; symbols are not offered."""
    app = create_app(make_settings(), engine, clock=clock)
    await _owner(app, clock, channel="zalo", external_id="cafe02", locale="en")
    lan = Phone(app.pipeline, Who("zalo", "cafe02", "Lan", "en"))
    await lan.type("first words")
    await lan.type("Máy sấy bị hỏng\nCần người sửa gấp")
    assert "Send this as a question" in lan.last
    await lan.type(lan.number_of("Send this as a question"))
    assert "Your question was sent to the centre; the answer will come here." in lan.last
    await lan.type("???")
    assert "didn't understand" in lan.last and "Send this as a question" not in lan.last
    assert [q.text for q in await _questions(app)] == ["Máy sấy bị hỏng\nCần người sửa gấp"]


async def test_a_registered_owner_on_telegram_presses_the_button(chat: ChatHarness) -> None:
    p = Person(9102, language_code="vi")
    await register_facility(chat, p)
    calls = await chat.send(p, "máy của tôi hỏng rồi")
    texts = [c.text for c in calls]
    assert any("Xin lỗi, tôi chưa hiểu ý anh/chị." in t and "/need" in t for t in texts)
    assert any(("📝 Nhu cầu mới", "") in c.buttons() for c in calls)  # the main menu's keyboard
    calls = await chat.press_button(p, "Gửi tin này thành câu hỏi cho trung tâm")
    assert calls[-1].method == "EditMessageText"  # the button goes away with the answer
    assert "Câu hỏi của anh/chị đã được gửi đến trung tâm" in calls[-1].text
    (question,) = await _questions(chat.app)
    async with chat.app.session_maker() as s:
        user = await repos.get_user(s, channel="telegram", external_id="9102")
    assert (question.text, question.user_id, question.channel) == ("máy của tôi hỏng rồi", user.id, "telegram")

    again = await chat.press_button(p, "Gửi tin này thành câu hỏi cho trung tâm", calls=[
        c for c in chat.to(p) if any("qa:" in d for _t, d in c.buttons())])
    assert "không còn chờ gửi" in again[-1].text  # a second press sends nothing
    assert len(await _questions(chat.app)) == 1


async def test_a_press_after_newer_words_sends_nothing_stale(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    await _owner(app, clock, channel="telegram", external_id="777", locale="en")
    who = Who("telegram", "777", "Lan", "en")

    async def act(action) -> list:
        return flatten(await app.pipeline.handle(Event(who, action), TelegramRenderer()))

    first = await act(TextEvent("the dryer is broken"))
    (button,) = [b for m in first if m.reply_markup and "inline_keyboard" in m.reply_markup
                 for row in m.reply_markup["inline_keyboard"] for b in row]
    assert button["text"] == "✉️ Send this as a question to the centre"
    old = button["callback_data"].split(":", 1)[1]
    await act(TextEvent("and the oven too"))
    (stale,) = await act(ChooseEvent("qa", old))
    assert stale.method == "notice" and "no longer waiting" in stale.text
    assert await _questions(app) == []


async def test_a_collaborator_may_ask_too_and_staff_are_not_offered(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    now = clock.now()
    async with app.session_maker() as s:
        s.add(User(channel="zalo", external_id="c7c7", role="collaborator", commune_code=30307, locale="en",
                   created_at=now, updated_at=now))
        await s.commit()
    ctv = Phone(app.pipeline, Who("zalo", "c7c7", "Tác", "en"))
    await ctv.type("cơ sở bà Năm cần hỏi về vốn vay")
    assert "/report" in ctv.last  # a collaborator's menu
    await ctv.type(ctv.number_of("Send this as a question"))
    assert [q.text for q in await _questions(app)] == ["cơ sở bà Năm cần hỏi về vốn vay"]

    staff = Phone(app.pipeline, Who("telegram", str(STAFF_ID), "Hà", "en"))
    await staff.type("something odd")
    assert "didn't understand" in staff.last and "Send this as a question" not in staff.last


async def test_mydata_lists_questions_and_forget_erases_their_words(engine: AsyncEngine, clock: FakeClock) -> None:
    from bot.domain import ERASED, Role
    from bot.services import questions
    from bot.services.needs import Actor

    app = create_app(make_settings(), engine, clock=clock)
    await _owner(app, clock, channel="zalo", external_id="cafe03", locale="en")
    lan = Phone(app.pipeline, Who("zalo", "cafe03", "Lan", "en"))
    for words in ("Máy sấy của tôi bị hỏng", "Khi nào có hội chợ?"):
        await lan.type(words)
        await lan.type(lan.number_of("Send this as a question"))
    now = clock.now()
    async with app.session_maker() as s:
        officer = User(channel="telegram", external_id=str(STAFF_ID), role="staff", created_at=now, updated_at=now)
        s.add(officer)
        await s.flush()
        first = (await _questions(app))[0]
        await questions.answer(s, clock=clock, actor=Actor(user=officer, role=Role.STAFF), question_id=first.id or 0,
                               text="Chị Lan ơi, cán bộ sẽ gọi chị.", translate=app.translate)
        await s.commit()

    mine = await lan.type("/mydata")
    assert "Your questions to the centre" in mine and "Máy sấy của tôi bị hỏng" in mine
    assert "Answer: Chị Lan ơi, cán bộ sẽ gọi chị." in mine and "Waiting for an answer" in mine
    assert "questions to the centre" in await lan.type("/forget")
    await lan.type(lan.number_of("Yes, delete my data"))
    answered, still_open = await _questions(app)
    assert (answered.text, answered.answer, answered.user_id, answered.status) == (ERASED, ERASED, None, "answered")
    assert (still_open.text, still_open.answer, still_open.user_id, still_open.status) == (ERASED, None, None, "closed")


async def test_staff_with_a_chat_are_alerted_to_a_new_question_without_a_flood(engine: AsyncEngine,
                                                                               clock: FakeClock) -> None:
    """One short alert per new question to each staff member with a chat, through the outbox (on their own
    channel); a second question within ALERT_GAP is not alerted again (the page lists it), after the gap the next
    alert says how many are waiting."""
    from bot.services.questions import ALERT_GAP

    app = create_app(make_settings(zalo_admin_ids="a0a0beef", public_base_url="https://kc.example.vn"), engine,
                     clock=clock)
    now = clock.now()
    async with app.session_maker() as s:
        s.add(User(channel="telegram", external_id=str(STAFF_ID), role="staff", locale="en", created_at=now,
                   updated_at=now))
        s.add(User(channel="zalo", external_id="a0a0beef", locale="vi", created_at=now, updated_at=now))
        await s.commit()
    await _owner(app, clock, channel="zalo", external_id="cafe09")
    lan = Phone(app.pipeline, Who("zalo", "cafe09", "Lan", "vi"))

    async def ask(words: str) -> None:
        await lan.type(words)
        await lan.type(lan.number_of("Gửi tin này thành câu hỏi"))

    await ask("Máy sấy của tôi bị hỏng, ai sửa được?")
    async with app.session_maker() as s:
        alerts = list(await repos.outbox_rows(s))
    by_chat = {row.chat_id: row for row in alerts if row.kind == "question_alert"}
    assert set(by_chat) == {str(STAFF_ID), "a0a0beef"}  # each on their own channel; the asker is not told
    en = telegram_view(by_chat[str(STAFF_ID)])
    assert "New question to the centre from Cơ sở nước mắm Hưng Thịnh" in en and "Máy sấy của tôi bị hỏng" in en
    assert "Questions waiting for an answer: 1" in en and "https://kc.example.vn/conversations/" in en
    assert "Câu hỏi mới gửi Trung tâm từ Cơ sở nước mắm Hưng Thịnh" in by_chat["a0a0beef"].text

    clock.advance(seconds=60)
    await ask("Khi nào có hội chợ?")  # a minute later: no second alert
    async with app.session_maker() as s:
        assert len([r for r in await repos.outbox_rows(s) if r.kind == "question_alert"]) == 2
    clock.advance(seconds=ALERT_GAP.total_seconds())
    await ask("Trung tâm có hỗ trợ làm nhãn mác không?")
    async with app.session_maker() as s:
        alerts = [r for r in await repos.outbox_rows(s) if r.kind == "question_alert"]
    assert len(alerts) == 4
    assert "Questions waiting for an answer: 3" in telegram_view([r for r in alerts if r.chat_id == str(STAFF_ID)][-1])


async def test_a_question_closed_without_an_answer_is_told_with_the_centres_contact(engine: AsyncEngine,
                                                                                   clock: FakeClock) -> None:
    from bot.domain import Role
    from bot.services import questions
    from bot.services.needs import Actor

    app = create_app(make_settings(**CENTRE), engine, clock=clock)
    await _owner(app, clock, channel="zalo", external_id="cafe10")
    lan = Phone(app.pipeline, Who("zalo", "cafe10", "Lan", "vi"))
    await lan.type("Máy sấy của tôi bị hỏng")
    await lan.type(lan.number_of("Gửi tin này thành câu hỏi"))
    now = clock.now()
    async with app.session_maker() as s:
        officer = User(channel="telegram", external_id="55", role="staff", created_at=now, updated_at=now)
        s.add(officer)
        await s.flush()
        (question,) = await _questions(app)
        await questions.close(s, clock=clock, actor=Actor(user=officer, role=Role.STAFF), question_id=question.id or 0,
                              translate=app.translate, contact=app.settings.centre_contact)
        await s.commit()
        (told,) = [r for r in await repos.outbox_rows(s) if r.kind == "question_closed"]
    assert told.chat_id == "cafe10" and told.channel == "zalo"
    assert "Về câu hỏi của anh/chị gửi Trung tâm" in told.text and "“Máy sấy của tôi bị hỏng”" in told.text
    assert "đã đóng câu hỏi này" in told.text and "0296 3852 123" in told.text and "12 Tôn Đức Thắng" in told.text
