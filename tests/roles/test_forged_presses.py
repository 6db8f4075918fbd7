"""Forged button data: every action checks that this person may act on that object; ids out of range are
"not found"; nothing is leaked or changed."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.models import Signup, User
from tests.conftest import STAFF_ID, ChatHarness, Person, form_cb, register_facility
from tests.updates.test_announcements import compose
from tests.updates.test_invites import join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)
NOT_FOUND = "This item no longer exists or is not yours. Nothing was changed."
HUGE = ["99999999999999999999", str(2**31), str(2**63)]


def _texts(calls: list) -> str:
    return "\n".join(c.text for c in calls)


async def _user_row(chat: ChatHarness, tg_id: int) -> User | None:
    async with chat.app.session_maker() as s:
        return (await s.exec(select(User).where(User.external_id == str(tg_id)))).first()


async def test_a_draft_is_shown_to_nobody_but_staff(chat: ChatHarness) -> None:
    owner = Person(5001, language_code=EN)
    await register_facility(chat, owner)
    ann_id = await compose(chat, title="Bản nháp bí mật")
    for person in (owner, Person(5002, language_code=EN)):
        calls = await chat.press(person, f"ar:sh:{ann_id}")
        assert "Bản nháp bí mật" not in _texts(calls)
        assert calls[-1].params["text"] == NOT_FOUND
    assert await _user_row(chat, 5002) is None  # a press by a stranger stores nothing about them
    calls = await chat.press(STAFF, f"ar:sh:{ann_id}")
    assert "Bản nháp bí mật" in _texts(calls)


async def test_only_recipients_sign_up_or_decline(chat: ChatHarness) -> None:
    owner = Person(5003, language_code=EN)
    await register_facility(chat, owner)
    ann_id = await compose(chat, questions=None)
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    late = Person(5004, language_code=EN)
    await register_facility(chat, late, name="Cơ sở đến sau")  # registered after the broadcast: never got it
    stranger = Person(5005, language_code=EN)
    for person in (late, stranger):
        for action in ("s", "n", "done", "sh"):
            calls = await chat.press(person, f"ar:{action}:{ann_id}")
            assert calls[-1].params["text"] == NOT_FOUND, (person, action)
            assert "Hội chợ" not in _texts(calls)
    assert await _user_row(chat, 5005) is None

    calls = await chat.press(owner, f"ar:s:{ann_id}")
    assert "You are signed up" in _texts(calls)
    async with chat.app.session_maker() as s:
        signups = (await s.exec(select(Signup))).all()
    owner_row = await _user_row(chat, 5003)
    assert [(x.user_id, x.status) for x in signups] == [(owner_row.id, "signed_up")]


async def test_report_schedules_are_not_revealed_before_the_role_check(chat: ChatHarness) -> None:
    await chat.send(STAFF, "/reportschedule")
    await chat.send(STAFF, "Báo cáo tháng")
    await chat.press(STAFF, form_cb("c", "report_schedule", "frequency", "monthly"))
    await chat.send(STAFF, "10")
    await chat.send(STAFF, "3, 1")
    await chat.press(STAFF, form_cb("ok", "report_schedule", "__summary__"))
    owner = Person(5006, language_code=EN)
    await register_facility(chat, owner)
    for action in ("f", "x"):
        existing = (await chat.press(owner, f"rp.{action}:1"))[-1].params["text"]
        missing = (await chat.press(owner, f"rp.{action}:999"))[-1].params["text"]
        assert existing == missing and ("Only collaborators" in existing or "only available to staff" in existing)
    ctv = Person(5007, language_code=EN)
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    assert (await chat.press(ctv, "rp.x:1"))[-1].params["text"] == (
        "Sorry, this is only available to staff of the khuyến công centre.")
    assert (await chat.press(ctv, "rp.f:999"))[-1].params["text"] == NOT_FOUND
    assert not any(c.method == "SendDocument" for c in chat.api.calls)


@pytest.mark.parametrize("data", [
    "mn:w:{id}", "mn:wy:{id}", "ib.o:{id}||||", "ib.l:||{id}|", "ib.l:|||{id}", "co.ry:{id}", "co.p:{id}",
    "ib.m:{id}|surveyed||||", "ib.a:{id}", "ib.x:||{id}|", "rp.p:{id}|0", "rp.p:1|{id}",
    "an:o:{id}:", "an:go:{id}:", "an:pv:{id}:", "ar:s:{id}", "ar:sh:{id}", "ar:n:{id}", "rp.f:{id}", "rp.x:{id}",
])
async def test_ids_out_of_range_are_not_found(chat: ChatHarness, data: str) -> None:
    owner = Person(5008, language_code=EN)
    await register_facility(chat, owner)
    await chat.send(STAFF, "/start")
    for person in (STAFF, owner):
        for number in HUGE:
            calls = await chat.press(person, data.format(id=number))
            assert calls[-1].method == "AnswerCallbackQuery"
            # The aiogram routers refuse a malformed button; the moved flows say the item is not found, or
            # refuse who may not act at all (before looking anything up).
            assert calls[-1].params["text"] in ("This button is no longer active.",
                                                "This item no longer exists or is not yours. Nothing was changed.",
                                                "Sorry, this is only available to staff of the khuyến công centre.",
                                                "Only collaborators send periodic reports.")
            if person is STAFF and not data.startswith("rp.f"):
                assert "only available to staff" not in calls[-1].params["text"]
            assert "something went wrong" not in _texts(calls)


async def test_a_forged_form_page_shows_the_step_again_and_an_unknown_action_is_refused(chat: ChatHarness) -> None:
    owner = Person(5009, language_code=EN)
    await register_facility(chat, owner)
    await chat.send(owner, "/profile")
    await chat.send(owner, "/need")
    for value in ("²", "99999999999999999999"):
        calls = await chat.press(owner, form_cb("p", "need", "category", value))
        assert "something went wrong" not in _texts(calls)
        assert "What kind of support do you need?" in calls[-1].text
    calls = await chat.press(owner, form_cb("zz", "need", "category"))  # an action no form has
    assert [(c.method, c.text) for c in calls] == [("AnswerCallbackQuery", "This button is no longer active.")]


async def test_someone_who_answered_may_still_act_without_the_original_message_row(chat: ChatHarness) -> None:
    """A reminder carries the announcement's buttons; having signed up is proof enough of having received it."""
    owner = Person(5010, language_code=EN)
    await register_facility(chat, owner)
    ann_id = await compose(chat, kind="competition", questions=None)
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    await chat.press(owner, f"ar:s:{ann_id}")
    async with chat.app.session_maker() as s:
        from sqlalchemy import delete

        from storage.models import OutboxMessage
        await s.exec(delete(OutboxMessage))
        await s.commit()
    calls = await chat.press(owner, f"ar:done:{ann_id}")
    assert "no more deadline reminders" in calls[-1].params["text"]
    async with chat.app.session_maker() as s:
        (signup,) = (await s.exec(select(Signup))).all()
    assert signup.completed_at is not None
