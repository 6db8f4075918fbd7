"""Collaborators and staff join only through one-time invitation links."""

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import Invite, User
from tests.conftest import STAFF_ID, ChatHarness, Person, form_cb

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)
TOKEN_RE = re.compile(r"https://t\.me/khuyencong_test_bot\?start=([A-Za-z0-9_-]+)")


async def make_invite(chat: ChatHarness, role: str = "collaborator", commune: str = "my hoa hung") -> str:
    await chat.send(STAFF, "/start")
    await chat.send(STAFF, "/invite")
    calls = await chat.press(STAFF, form_cb("c", "invite", "role", role))
    if role == "collaborator":
        calls = await chat.send(STAFF, commune)
    match = TOKEN_RE.search(calls[-1].text)
    assert match, calls[-1].text
    return match.group(1)


async def join(chat: ChatHarness, p: Person, token: str) -> list:
    await chat.send(p, f"/start {token}")
    await chat.send(p, "Lê Văn Cộng")
    await chat.send(p, "0987 654 321")
    return await chat.press(p, form_cb("ok", "join", "__summary__"))


async def _user(chat: ChatHarness, tg_id: int) -> User | None:
    async with chat.app.session_maker() as s:
        return (await s.exec(select(User).where(User.external_id == str(tg_id)))).first()


async def test_invite_link_shape_and_single_use(chat: ChatHarness) -> None:
    token = await make_invite(chat)
    assert len(token) <= 64
    ctv = Person(2001, language_code=EN)
    calls = await chat.send(ctv, f"/start {token}")
    assert "collaborator</b> for Xã Mỹ Hòa Hưng" in calls[-1].text
    calls = await join(chat, ctv, token)
    assert "You are now the collaborator for Xã Mỹ Hòa Hưng" in calls[-1].text
    user = await _user(chat, 2001)
    assert user is not None and (user.role, user.commune_code, user.phone) == ("collaborator", 30313, "+84987654321")

    other = Person(2002, language_code=EN)
    calls = await chat.send(other, f"/start {token}")
    assert "already been used" in calls[-1].text
    other_user = await _user(chat, 2002)
    assert other_user is None or other_user.role == "user"


async def test_expired_invite_is_refused(chat: ChatHarness) -> None:
    token = await make_invite(chat)
    chat.clock.advance(timedelta(days=7, seconds=1).total_seconds())
    p = Person(2003, language_code=EN)
    calls = await chat.send(p, f"/start {token}")
    assert "expired" in calls[-1].text
    assert await _user(chat, 2003) is None


async def test_invite_expiring_while_form_is_open_grants_nothing(chat: ChatHarness) -> None:
    token = await make_invite(chat)
    p = Person(2004, language_code=EN)
    chat.clock.advance(timedelta(days=7, minutes=-30).total_seconds())
    await chat.send(p, f"/start {token}")
    await chat.send(p, "Lê Văn Cộng")
    await chat.send(p, "0987 654 321")
    chat.clock.advance(timedelta(hours=1).total_seconds())  # the link expires; the form itself has not
    calls = await chat.press(p, form_cb("ok", "join", "__summary__"))
    assert "expired" in calls[-1].text
    user = await _user(chat, 2004)
    assert user is not None and user.role == "user"


@pytest.mark.parametrize("token", ["forged-token-123", "x" * 64, "a" * 65, "bad$chars!"])
async def test_forged_tokens_are_refused(chat: ChatHarness, token: str) -> None:
    p = Person(2005, language_code=EN)
    calls = await chat.send(p, f"/start {token}")
    assert "not valid" in calls[-1].text
    user = await _user(chat, 2005)
    assert user is None or user.role == "user"


async def test_staff_invite_grants_staff(chat: ChatHarness) -> None:
    token = await make_invite(chat, role="staff")
    p = Person(2006, language_code=EN)
    calls = await join(chat, p, token)
    assert "staff access" in calls[-1].text
    calls = await chat.send(p, "/inbox")
    assert "<b>Needs</b>" in calls[-1].text


async def test_staff_lists_and_revokes_collaborators(chat: ChatHarness) -> None:
    token = await make_invite(chat)
    ctv = Person(2007, language_code=EN)
    await join(chat, ctv, token)
    calls = await chat.send(STAFF, "/collaborators")
    assert "Lê Văn Cộng" in calls[-1].text and "Xã Mỹ Hòa Hưng" in calls[-1].text
    await chat.press_button(STAFF, "Revoke")
    await chat.press_button(STAFF, "Yes, revoke")
    assert "no longer a collaborator" in chat.last(STAFF).text
    assert "Your access as collaborator of the khuyến công centre has been withdrawn" in chat.last(ctv).text
    user = await _user(chat, 2007)
    assert user is not None and user.role == "user" and user.commune_code is None


STAFF_COMMANDS = ["/inbox", "/export", "/invite", "/collaborators"]


@pytest.mark.parametrize("command", STAFF_COMMANDS)
async def test_staff_commands_refuse_facilities_and_collaborators(chat: ChatHarness, command: str) -> None:
    token = await make_invite(chat)
    ctv = Person(2008, language_code=EN)
    await join(chat, ctv, token)
    for person in (ctv, Person(2009, language_code=EN)):
        calls = await chat.send(person, command)
        assert calls[-1].text == "Sorry, this is only available to staff of the khuyến công centre."
    async with chat.app.session_maker() as s:
        assert len((await s.exec(select(Invite))).all()) == 1  # nothing was created by the refused ones


async def test_forged_staff_buttons_are_refused(chat: ChatHarness) -> None:
    p = Person(2010, language_code=EN)
    calls = await chat.press(p, "ib.m:1|approved||||")
    assert calls[-1].method == "AnswerCallbackQuery"
    assert "only available to staff" in calls[-1].params["text"]
    calls = await chat.press(p, "co.ry:1")
    assert "only available to staff" in calls[-1].params["text"]
