"""Staff revoke staff made by invitation, cancel pending invitations, and revocation closes open forms."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Conversation, Invite, User
from tests.conftest import STAFF_ID, ChatHarness, Person, register_facility
from tests.roles.conftest import restarted
from tests.updates.test_invites import join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)


async def _user(chat: ChatHarness, tg_id: int) -> User:
    async with chat.app.session_maker() as s:
        return (await s.exec(select(User).where(User.external_id == str(tg_id)))).one()


async def _invites(chat: ChatHarness) -> list[Invite]:
    async with chat.app.session_maker() as s:
        return list((await s.exec(select(Invite))).all())


async def test_staff_revokes_invited_staff_and_their_open_form_closes(chat: ChatHarness) -> None:
    second = Person(4001, language_code=EN)
    await join(chat, second, await make_invite(chat, role="staff"))
    assert "Who is this invitation for?" in (await chat.send(second, "/invite"))[-1].text

    calls = await chat.send(STAFF, "/collaborators")
    assert "<b>Staff</b> (2)" in calls[-1].text and "Lê Văn Cộng" in calls[-1].text
    labels = [label for label, _data in calls[-1].buttons()]
    assert "Revoke staff Lê Văn Cộng" in labels
    assert not any("Hà" in label for label in labels)  # no button to revoke oneself
    await chat.press_button(STAFF, "Revoke staff Lê Văn Cộng")
    await chat.press_button(STAFF, "Yes, revoke")
    assert "Lê Văn Cộng no longer has staff access." in chat.last(STAFF).text

    person = await _user(chat, 4001)
    assert (person.role, person.commune_code) == ("user", None)
    async with chat.app.session_maker() as s:
        assert (await s.get(Conversation, person.id)) is None
    assert "Your access as staff member of the khuyến công centre has been withdrawn" in chat.last(second).text
    calls = await chat.send(second, "2")  # the answer the /invite form was waiting for
    assert "start=" not in "\n".join(c.text for c in calls)
    assert "only available to staff" in (await chat.send(second, "/invite"))[-1].text
    assert [i.used_at is not None for i in await _invites(chat)] == [True]


async def test_admin_ids_staff_cannot_be_revoked_in_chat(chat: ChatHarness) -> None:
    both = restarted(chat, admin_ids=f"{STAFF_ID},4002")
    other = Person(4002, first_name="Minh", language_code=EN)
    await both.send(other, "/start")
    await both.send(STAFF, "/start")
    calls = await both.send(STAFF, "/collaborators")
    assert calls[-1].text.count("ADMIN_IDS") == 2
    calls = await both.press_button(STAFF, "Revoke staff")
    calls = await both.press_button(STAFF, "Yes, revoke")
    assert "staff through the ADMIN_IDS setting" in calls[-1].text
    assert "remove their id from ADMIN_IDS and restart the bot" in calls[-1].text
    assert "<b>Staff</b>" in (await both.send(other, "/help"))[-1].text  # still staff


async def test_forged_revocations_change_nothing(chat: ChatHarness) -> None:
    await chat.send(STAFF, "/start")
    owner = Person(4003, language_code=EN)
    await register_facility(chat, owner)
    me, them = await _user(chat, STAFF_ID), await _user(chat, 4003)
    calls = await chat.press(STAFF, f"co.ry:{me.id or 0}")
    assert "cannot revoke your own access" in calls[-1].text
    calls = await chat.press(STAFF, f"co.ry:{them.id or 0}")
    assert "no longer exists or is not yours" in calls[-1].text
    calls = await chat.press(owner, f"co.ry:{me.id or 0}")
    assert "only available to staff" in calls[-1].text
    assert (await _user(chat, 4003)).role == "user"


async def test_staff_cancel_a_pending_invitation(chat: ChatHarness) -> None:
    collab_token = await make_invite(chat, commune="long xuyen")
    staff_token = await make_invite(chat, role="staff")
    calls = await chat.send(STAFF, "/collaborators")
    assert "<b>Pending invitations</b> (2)" in calls[-1].text
    assert "collaborator for Phường Long Xuyên, valid until 09/03/2026" in calls[-1].text
    await chat.press_button(STAFF, "Cancel the invitation: staff member")
    await chat.press_button(STAFF, "Yes, cancel the invitation")
    assert "The invitation has been cancelled" in chat.last(STAFF).text
    assert [i.token for i in await _invites(chat)] == [collab_token]

    newcomer = Person(4004, language_code=EN)
    assert "not valid" in (await chat.send(newcomer, f"/start {staff_token}"))[-1].text
    calls = await chat.press(STAFF, f"co.xy:{staff_token}")
    assert "already been used, has expired or was cancelled" in calls[-1].text
    calls = await chat.press(newcomer, f"co.xy:{collab_token}")
    assert "only available to staff" in calls[-1].text
    assert [i.token for i in await _invites(chat)] == [collab_token]


async def test_an_invitation_cancelled_while_its_join_form_is_open_grants_nothing(chat: ChatHarness) -> None:
    token = await make_invite(chat, role="staff")
    newcomer = Person(4005, language_code=EN)
    await chat.send(newcomer, f"/start {token}")
    await chat.send(newcomer, "Lê Văn Cộng")
    await chat.send(newcomer, "0987 654 321")
    await chat.press(STAFF, f"co.xy:{token}")
    from tests.conftest import form_cb
    calls = await chat.press(newcomer, form_cb("ok", "join", "__summary__"))
    assert "not valid" in calls[-1].text
    assert (await _user(chat, 4005)).role == "user"


async def test_console_lists_revokes_and_cancels(chat: ChatHarness) -> None:
    from bot import console

    second = Person(4006, language_code=EN)
    await join(chat, second, await make_invite(chat, role="staff"))
    pending = await make_invite(chat, commune="long xuyen")
    lines = await console.access_lines(chat.app)
    assert any(line.strip().startswith(f"{STAFF_ID}") and "(ADMIN_IDS)" in line for line in lines)
    assert any(line.strip().startswith("4006") and "(by invitation)" in line for line in lines)
    assert any(pending in line and "Phường Long Xuyên" in line for line in lines)

    assert "Refused:" in await console.revoke(chat.app, str(STAFF_ID))
    assert "ADMIN_IDS" in await console.revoke(chat.app, str(STAFF_ID))
    assert "is no longer staff" in await console.revoke(chat.app, "4006")
    assert (await _user(chat, 4006)).role == "user"
    assert "Refused:" in await console.revoke(chat.app, "4006")
    assert "cancelled" in await console.cancel_invite(chat.app, pending)
    assert "Refused:" in await console.cancel_invite(chat.app, pending)
    assert [i.token for i in await _invites(chat) if i.used_at is None] == []
    await chat.deliver()
    assert "has been withdrawn" in chat.last(second).text
