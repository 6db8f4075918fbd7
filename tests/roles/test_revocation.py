"""Revocation revokes: an open form re-checks the person's role at every answer and at completion;
open forms expire after FORM_TTL_HOURS."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage.models import Conversation, Invite, Need, ReportSubmission, User
from tests.conftest import (
    STAFF_ID,
    ChatHarness,
    Person,
    fill_report,
    form_cb,
    register_facility,
    schedule_monthly_report,
)
from tests.roles.conftest import restarted
from tests.updates.test_invites import TOKEN_RE, join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)


async def _rows(chat: ChatHarness, model: type) -> list:
    async with chat.app.session_maker() as s:
        return list((await s.exec(select(model))).all())


async def _set_role(chat: ChatHarness, tg_id: int, role: str) -> None:
    async with chat.app.session_maker() as s:
        user = (await s.exec(select(User).where(User.external_id == str(tg_id)))).one()
        user.role = role
        s.add(user)
        await s.commit()


async def test_staff_removed_from_admin_ids_cannot_finish_an_open_invite(chat: ChatHarness) -> None:
    await chat.send(STAFF, "/start")
    calls = await chat.send(STAFF, "/invite")
    assert "Who is this invitation for?" in calls[-1].text

    # ADMIN_IDS changed and the bot restarted: 9001 is no longer staff.
    after = restarted(chat, admin_ids="")
    calls = await after.send(STAFF, "2")  # "Staff member"
    texts = "\n".join(c.text for c in calls)
    assert not TOKEN_RE.search(texts), texts
    assert "“Invitation link” has been closed: your access has changed" in calls[-1].text
    assert "Nothing from it was saved" in calls[-1].text
    assert await _rows(after, Invite) == []
    assert await _rows(after, Conversation) == []
    # Starting it again is refused like any other staff command.
    assert "only available to staff" in (await after.send(STAFF, "/invite"))[-1].text


async def test_revoked_invited_staff_cannot_press_confirm(chat: ChatHarness) -> None:
    token = await make_invite(chat, role="staff")
    second = Person(3101, language_code=EN)
    await join(chat, second, token)
    await chat.send(second, "/reportschedule")
    await chat.send(second, "Báo cáo tháng")
    await chat.press(second, form_cb("c", "report_schedule", "frequency", "monthly"))
    await chat.send(second, "10")
    await chat.send(second, "3, 1")
    await _set_role(chat, 3101, "user")  # revoked while the summary is on screen
    await chat.press(second, form_cb("ok", "report_schedule", "__summary__"))
    assert "“Collaborator report deadline” has been closed: your access has changed" in chat.last(second).text
    from storage.models import ReportSchedule
    assert await _rows(chat, ReportSchedule) == []


async def test_revoked_collaborator_cannot_submit_a_report(chat: ChatHarness) -> None:
    ctv = Person(3201, language_code=EN)
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    await schedule_monthly_report(chat)

    await fill_report(chat, ctv, "Ghi chú", confirm=False)
    await _set_role(chat, 3201, "user")
    await chat.press(ctv, form_cb("ok", "report", "__summary__"))
    assert "“Collaborator report” has been closed: your access has changed" in chat.last(ctv).text
    assert await _rows(chat, ReportSubmission) == []


async def test_revoked_collaborator_cannot_file_for_a_facility(chat: ChatHarness) -> None:
    ctv = Person(3301, language_code=EN)
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    calls = await chat.send(ctv, "/need")
    assert "Which facility is this need for?" in calls[-1].text
    await _set_role(chat, 3301, "user")
    calls = await chat.press(ctv, form_cb("c", "need_proxy", "facility", "new"))
    assert [c.method for c in calls] == ["AnswerCallbackQuery", "SendMessage"]  # the press answered once
    assert "“New need for a facility” has been closed" in calls[-1].text
    assert await _rows(chat, Conversation) == []
    assert await _rows(chat, Need) == []


async def test_an_open_form_expires_after_the_ttl(chat: ChatHarness) -> None:
    owner = Person(3401, language_code=EN)
    await register_facility(chat, owner)
    await chat.send(owner, "/need")
    await chat.press(owner, form_cb("c", "need", "category", "training"))
    chat.clock.advance(timedelta(hours=23).total_seconds())
    calls = await chat.send(owner, "Cần tập huấn quản lý sản xuất")  # still open: an answer refreshes it
    assert "When would you like" in calls[-1].text
    chat.clock.advance(timedelta(hours=24, minutes=1).total_seconds())
    calls = await chat.send(owner, "5/2026")
    assert len(calls) == 1
    assert "“New need” was left unanswered for more than 24 hours and has expired" in calls[0].text
    assert "Nothing from it was saved" in calls[0].text
    assert await _rows(chat, Conversation) == [] and await _rows(chat, Need) == []
    # A fresh start works at once.
    calls = await chat.send(owner, "/need")
    assert "What kind of support do you need?" in calls[-1].text


async def test_a_command_after_expiry_is_answered_too(chat: ChatHarness) -> None:
    owner = Person(3402, language_code=EN)
    await register_facility(chat, owner)
    await chat.send(owner, "/need")
    chat.clock.advance(timedelta(hours=25).total_seconds())
    calls = await chat.send(owner, "/needs")
    assert "has expired" in calls[0].text
    assert "You have no needs yet" in calls[-1].text


async def test_form_ttl_is_a_setting(chat: ChatHarness) -> None:
    owner = Person(3403, language_code=EN)
    await register_facility(chat, owner)
    short = restarted(chat, form_ttl_hours=1)
    await short.send(owner, "/need")
    short.clock.advance(timedelta(minutes=61).total_seconds())
    calls = await short.press(owner, form_cb("c", "need", "category", "training"))
    assert "more than 1 hours and has expired" in short.last(owner).text
    assert [c.method for c in calls].count("AnswerCallbackQuery") == 1  # the press is answered once


async def test_the_same_command_after_expiry_starts_the_form_afresh(chat: ChatHarness) -> None:
    owner = Person(3404, language_code=EN)
    await register_facility(chat, owner)
    await chat.send(owner, "/need")
    await chat.press(owner, form_cb("c", "need", "category", "machinery"))
    chat.clock.advance(timedelta(hours=25).total_seconds())
    calls = await chat.send(owner, "/need")
    assert "has expired" in calls[0].text
    assert "What kind of support do you need?" in calls[-1].text
    (conv,) = await _rows(chat, Conversation)
    assert (conv.form, conv.step, conv.data) == ("need", "category", {})
