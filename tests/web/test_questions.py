"""Conversations: staff see the questions people sent from the bot (newest first, with the person, facility,
commune and channel), answer one — the answer goes to the person through the outbox — or close it; every
action is in the audit log."""

from __future__ import annotations

import re

from sqlmodel import select

from storage.models import AuditEntry, OutboxMessage, Question
from tests.conftest import telegram_view
from tests.web.conftest import Console


async def _csrf(console: Console, question_id: int) -> str:
    page = await console.client.get(f"/conversations/{question_id}")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


async def test_staff_see_open_questions_newest_first_with_who_asked(console: Console) -> None:
    older = await console.add_question(text="Máy sấy của tôi bị hỏng, ai sửa được?")
    newer = await console.add_question(who="collaborator", channel="zalo", text="Cơ sở bà Năm hỏi về vốn vay")
    await console.sign_in_as("staff")
    page = await console.client.get("/conversations")
    assert page.status_code == 200
    assert '<a href="/conversations" aria-current="page">Hỏi đáp</a>' in page.text  # the nav link
    assert page.text.index("Cơ sở bà Năm hỏi về vốn vay") < page.text.index("Máy sấy của tôi bị hỏng")
    owner_row = page.text[page.text.index(f'/conversations/{older.id}"'):]
    assert "Nguyễn Thị Lan" in owner_row and "Cơ sở nước mắm Hưng Thịnh" in owner_row
    assert "Phường Long Xuyên" in owner_row and "Telegram" in owner_row and "0912 345 678" in owner_row
    ctv_row = page.text[page.text.index(f'/conversations/{newer.id}"'):page.text.index(f'/conversations/{older.id}"')]
    assert "Phạm Cộng Tác" in ctv_row and "CTV" in ctv_row and "Zalo" in ctv_row and "Phường Long Xuyên" in ctv_row
    assert "Chờ trả lời (2)" in page.text

    one = await console.client.get(f"/conversations/{older.id}")
    assert "Máy sấy của tôi bị hỏng, ai sửa được?" in one.text and 'action="/conversations/' in one.text


async def test_an_answer_goes_to_the_person_through_the_outbox_and_is_audited(console: Console) -> None:
    question = await console.add_question()
    await console.sign_in_as("staff")
    answer = "Chào chị Lan, cán bộ kỹ thuật sẽ gọi chị trong tuần này.\nTrung tâm có hỗ trợ sửa chữa."
    r = await console.client.post(f"/conversations/{question.id}/answer",
                                  data={"text": answer, "csrf": await _csrf(console, question.id)})
    assert r.status_code == 303 and r.headers["location"] == f"/conversations/{question.id}"

    async with console.app.session_maker() as session:
        stored = await session.get(Question, question.id)
        (row,) = (await session.exec(select(OutboxMessage))).all()
        (entry,) = (await session.exec(select(AuditEntry).where(AuditEntry.action == "answer"))).all()
    assert (stored.status, stored.answer, stored.answered_by_user_id) == (
        "answered", answer, console.people["staff"].id)
    assert stored.answered_at == console.clock.now()
    assert (row.user_id, row.chat_id, row.channel, row.kind, row.status) == (
        console.people["owner"].id, "6001", "telegram", "question_answer", "pending")
    shown = telegram_view(row)
    assert "Trung tâm Khuyến công đã trả lời câu hỏi của anh/chị" in shown
    assert "Máy sấy của tôi bị hỏng, ai sửa được?" in shown and "cán bộ kỹ thuật sẽ gọi chị" in shown
    assert (entry.actor_user_id, entry.target_kind, entry.target_id) == (
        console.people["staff"].id, "question", question.id)

    page = await console.client.get(f"/conversations/{question.id}")
    assert "Đã trả lời" in page.text and "cán bộ kỹ thuật sẽ gọi chị" in page.text and "Trần Văn Cán" in page.text
    assert 'action="/conversations/' not in page.text  # nothing more to do
    assert "Trả lời câu hỏi" in (await console.client.get("/log")).text
    assert "Máy sấy" not in (await console.client.get("/conversations")).text  # no longer open
    assert "Máy sấy" in (await console.client.get("/conversations?status=answered")).text

    again = await console.client.post(f"/conversations/{question.id}/answer",
                                      data={"text": "Lần nữa", "csrf": await _csrf(console, question.id)})
    assert "đã được trả lời hoặc đã đóng" in (await console.client.get(again.headers["location"])).text
    async with console.app.session_maker() as session:
        assert len((await session.exec(select(OutboxMessage))).all()) == 1


async def test_an_empty_answer_is_refused_and_a_question_can_be_closed_without_one(console: Console) -> None:
    question = await console.add_question()
    await console.sign_in_as("staff")
    csrf = await _csrf(console, question.id)
    r = await console.client.post(f"/conversations/{question.id}/answer", data={"text": "  ", "csrf": csrf})
    assert "alert" in (await console.client.get(r.headers["location"])).text
    r = await console.client.post(f"/conversations/{question.id}/close", data={"csrf": csrf})
    assert r.status_code == 303
    async with console.app.session_maker() as session:
        stored = await session.get(Question, question.id)
        assert (stored.status, stored.answer) == ("closed", None)
        (told,) = (await session.exec(select(OutboxMessage))).all()  # the person is told, politely
        (entry,) = (await session.exec(select(AuditEntry).where(AuditEntry.action == "close"))).all()
    assert entry.target_id == question.id
    assert (told.user_id, told.kind, told.status) == (console.people["owner"].id, "question_closed", "pending")
    shown = telegram_view(told)
    assert "Về câu hỏi của anh/chị gửi Trung tâm" in shown and "Máy sấy của tôi bị hỏng" in shown
    assert "đã đóng câu hỏi này" in shown
    page = await console.client.get(f"/conversations/{question.id}")
    assert "đã được đóng mà không trả lời" in page.text and "Đóng câu hỏi" in page.text
