"""Decree 13 rights through the Dispatcher: /mydata shows everything (as a file when long), /forget erases
personal content but keeps anonymous counts, works while a form is open, and nothing personal is
stored before consent."""

from sqlmodel import select

from bot.domain import ERASED
from bot.services import announcements as ann_svc
from storage.models import Conversation, Need, OutboxMessage, Reminder, ReportSubmission, Signup, User
from tests.conftest import (
    STAFF_ID,
    ChatHarness,
    Person,
    file_need,
    fill_report,
    form_cb,
    register_facility,
    schedule_monthly_report,
)
from tests.updates.test_announcements import compose
from tests.updates.test_invites import join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)


async def _competition_signed_up(chat: ChatHarness, owner: Person) -> int:
    ann_id = await compose(chat, kind="competition", title="Bình chọn sản phẩm CNNT 2026",
                           questions="Sản phẩm dự thi?\nSố điện thoại người liên hệ?")
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    await chat.press(owner, f"ar:s:{ann_id}")
    await chat.send(owner, "Nước mắm cá linh")
    await chat.send(owner, "Chị Lan 0912 345 678")
    await chat.press(owner, form_cb("ok", f"signup.{ann_id}", "__summary__"))
    return ann_id


async def _collaborator_reported(chat: ChatHarness, ctv: Person) -> None:
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    await schedule_monthly_report(chat)
    await fill_report(chat, ctv, "Gặp anh Tư ở ấp 3, nhà có người bệnh")


async def test_mydata_shows_signups_topics_stop_consent_reminders_and_reports(chat: ChatHarness) -> None:
    owner = Person(8301, language_code=EN)
    await register_facility(chat, owner)
    await file_need(chat, owner)
    await _competition_signed_up(chat, owner)
    await chat.press(owner, "sub.t:fair")  # stop following fairs
    await chat.send(owner, "/stop")
    text = (await chat.send(owner, "/mydata"))[-1].text
    for expected in ("Nguyễn Thị Lan", "0912 345 678", "Cơ sở nước mắm Hưng Thịnh", "NC-2026-0001", "Language: English",
                     "Consent to store personal data given: 02/03/2026 09:0", "Announcements: turned off (/stop)",
                     "Topics followed: Product competition, Call for project proposals, Training course, Policy news",
                     "<b>Your answers to announcements</b>", "Bình chọn sản phẩm CNNT 2026 — signed up",
                     "<i>Sản phẩm dự thi?</i>\n  → Nước mắm cá linh",
                     "<i>Số điện thoại người liên hệ?</i>\n  → Chị Lan 0912 345 678",
                     "<b>Reminders planned for you</b>", "13/03/2026 08:00 — Bình chọn sản phẩm CNNT 2026"):
        assert expected in text, text

    ctv = Person(8302, language_code=EN)
    await _collaborator_reported(chat, ctv)
    text = (await chat.send(ctv, "/mydata"))[-1].text
    assert "Lê Văn Cộng" in text and "Collaborator for: Phường Long Xuyên" in text
    assert "Báo cáo tháng 03/2026: 12 facilities visited, 3 needs collected" in text
    assert "Gặp anh Tư ở ấp 3, nhà có người bệnh" in text


async def test_mydata_too_long_for_one_message_comes_as_a_text_file(chat: ChatHarness) -> None:
    owner = Person(8303, language_code=EN)
    await register_facility(chat, owner)
    for i in range(6):
        await chat.send(owner, "/need")
        await chat.press(owner, form_cb("c", "need", "category", "training"))
        await chat.send(owner, f"Nhu cầu số {i}: " + "cần tập huấn quản lý sản xuất và bán hàng. " * 22)
        await chat.send(owner, "5/2026")
        await chat.press(owner, form_cb("s", "need", "attachment"))
        await chat.press(owner, form_cb("ok", "need", "__summary__"))
    calls = await chat.send(owner, "/mydata")
    assert [c.method for c in calls if c.method in ("SendMessage", "SendDocument")] == ["SendDocument"]
    doc = calls[-1].params["document"]
    content = doc["data"].decode("utf-8")
    assert doc["filename"].endswith(".txt") and len(content) > 4096
    assert all(f"NC-2026-000{i}" in content for i in range(1, 7)) and "Nhu cầu số 5:" in content
    assert "<b>" not in content and "What we store about you" in content


async def test_forget_erases_personal_content_and_keeps_the_counts(chat: ChatHarness) -> None:
    owner = Person(8304, language_code=EN)
    await register_facility(chat, owner)
    await file_need(chat, owner)
    ann_id = await _competition_signed_up(chat, owner)
    ctv = Person(8305, language_code=EN)
    await _collaborator_reported(chat, ctv)
    async with chat.app.session_maker() as s:
        before = await ann_svc.figures(s, ann_id=ann_id)
        assert (await s.exec(select(Reminder).where(Reminder.status == "pending"))).all()
    assert before["sent"] == before["total"] >= 2

    for person in (owner, ctv):
        assert "descriptions of your needs" in (await chat.send(person, "/forget"))[-1].text
        assert "has been deleted" in (await chat.press(person, "fg:1"))[-1].text

    async with chat.app.session_maker() as s:
        assert (await ann_svc.figures(s, ann_id=ann_id)) == before  # a past broadcast's total is unchanged
        assert (await s.exec(select(User).where(User.external_id.in_(["8304", "8305"])))).all() == []
        (need,) = (await s.exec(select(Need))).all()
        (signup,) = (await s.exec(select(Signup))).all()
        (report,) = (await s.exec(select(ReportSubmission))).all()
        rows = (await s.exec(select(OutboxMessage).where(OutboxMessage.announcement_id == ann_id))).all()
        reminders = (await s.exec(select(Reminder).where(Reminder.status == "pending"))).all()
    assert (need.description, need.registrant_user_id, need.category, need.status) == (
        ERASED, None, "training", "received")
    assert (signup.status, signup.user_id, signup.answers) == ("signed_up", None, {"q1": ERASED, "q2": ERASED})
    assert (report.user_id, report.facilities_visited, report.needs_collected, report.notes) == (None, 12, 3, ERASED)
    gone = [r for r in rows if r.user_id is None]  # the owner's copy (the collaborator joined later)
    assert len(gone) == 1 and all((r.text, r.chat_id, r.status) == ("", "", "sent") for r in gone)
    assert reminders == []

    listing = (await chat.press(STAFF, f"an:su:{ann_id}:"))[-1].text
    assert "1 signed up" in listing and "(erased at the person's request)" in listing
    assert "Chị Lan" not in listing
    await chat.send(STAFF, "/inbox")
    card = (await chat.press_button(STAFF, "NC-2026-0001"))[-1].text
    assert "Description: (erased at the person's request)" in card
    assert "The person who filed this need has deleted their personal data." in card
    calls = await chat.press_button(STAFF, "Mark surveyed")
    answer = next(c for c in calls if c.method == "AnswerCallbackQuery")
    assert answer.params["text"] == "Status changed. Nobody is notified: the person has deleted their data."


async def test_forget_while_a_form_is_open_closes_the_form(chat: ChatHarness) -> None:
    owner = Person(8306, language_code=EN)
    await register_facility(chat, owner)
    await chat.send(owner, "/need")
    await chat.press(owner, form_cb("c", "need", "category", "training"))
    mydata = (await chat.send(owner, "/mydata"))[-1].text  # not "You are filling in…"
    assert "What we store about you" in mydata and "• Kind of need: Training and management skills" in mydata
    calls = await chat.send(owner, "/forget")
    assert "The form you have open will be closed too." in calls[-1].text
    await chat.press(owner, "fg:0")  # "No": the form goes on
    assert "When would you like the support?" in (await chat.send(owner, "Cần tập huấn"))[-1].text
    await chat.send(owner, "/forget@khuyencong_test_bot")
    assert "has been deleted" in (await chat.press(owner, "fg:1"))[-1].text
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(User).where(User.external_id == "8306"))).first() is None
        assert (await s.exec(select(Conversation))).all() == []
    assert "We store nothing about you." in (await chat.send(owner, "/mydata"))[-1].text


async def test_nothing_personal_is_stored_before_consent(chat: ChatHarness) -> None:
    owner = Person(8307, language_code=EN)
    await register_facility(chat, owner)
    ann_id = await compose(chat, questions=None)
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    visitors = [Person(8310 + i, first_name="Trần Văn", last_name=f"Bí {i}", language_code=EN) for i in range(3)]
    await chat.send(visitors[0], "/start")
    await chat.send(visitors[1], "/subscriptions")
    # A sign-up press from someone the announcement never reached is refused before anything is stored.
    await chat.press(visitors[2], f"ar:s:{ann_id}")
    async with chat.app.session_maker() as s:
        rows = (await s.exec(select(User).where(User.external_id.in_([str(v.id) for v in visitors])))).all()
    assert sorted(u.external_id for u in rows) == [str(visitors[0].id), str(visitors[1].id)]
    assert [(u.full_name, u.username, u.phone, u.consent_at) for u in rows] == [(None, None, None, None)] * 2
