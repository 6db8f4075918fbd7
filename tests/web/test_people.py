"""The console's Collaborators and staff page: invitations with their link, code and QR card, cancelling them,
collaborators per commune with their last report, communes nobody covers, revoking access."""

from __future__ import annotations

import re
from datetime import timedelta

import segno
from sqlmodel import col, select

from bot.domain import Role
from bot.services import accounts
from bot.web.people_routes import QR_ERROR, QR_SCALE
from storage.models import AuditEntry, Invite, OutboxMessage, ReportSchedule, ReportSubmission, User
from tests.web.conftest import LONG_XUYEN, Console, sessions_of

BOT = "khuyencong_test_bot"


async def _invites(console: Console) -> list[Invite]:
    async with console.app.session_maker() as session:
        return list((await session.exec(select(Invite).order_by(col(Invite.created_at)))).all())


async def _audit(console: Console, action: str) -> list[AuditEntry]:
    async with console.app.session_maker() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_the_commune_is_found_without_accents(console: Console) -> None:
    await console.sign_in_as("staff")
    r = await console.client.get("/people", params={"commune_q": "long xuyen"},
                                 headers={"HX-Request": "true", "HX-Target": "commune-hits"})
    assert r.status_code == 200 and "Phường Long Xuyên" in r.text and "<html" not in r.text
    assert 'name="commune" value="30307"' in r.text
    page = await console.client.get("/people", params={"commune_q": "khong co xa nay"})
    assert "Không có xã, phường nào khớp với “khong co xa nay”." in page.text


async def test_inviting_a_collaborator_shows_the_link_the_code_and_a_qr_card(console: Console) -> None:
    console.app.bot_username = BOT
    await console.sign_in_as("staff")
    r = await console.client.post("/people/invites", data={"role": "collaborator", "commune": str(LONG_XUYEN),
                                                           "csrf": await console.csrf()})
    assert r.status_code == 303
    [invite] = await _invites(console)
    assert (invite.role, invite.commune_code, invite.used_at) == ("collaborator", LONG_XUYEN, None)
    assert invite.expires_at - invite.created_at == timedelta(days=7)
    assert r.headers["location"] == f"/people/invites/{invite.token}"
    card = await console.client.get(r.headers["location"])
    link = f"https://t.me/{BOT}?start={invite.token}"
    assert f'href="{link}"' in card.text
    assert card.text.count(invite.token) >= 3  # the code, the link, the card
    assert segno.make(link, error=QR_ERROR).svg_inline(scale=QR_SCALE) in card.text
    assert "Phường Long Xuyên" in card.text
    assert "Trên Telegram: quét mã QR bằng camera điện thoại" in card.text  # the card's words, in Vietnamese
    [entry] = await _audit(console, "invite")
    assert entry.actor_user_id == console.people["staff"].id
    assert entry.detail == {"role": "collaborator", "commune": LONG_XUYEN}
    listed = await console.client.get("/people")
    assert invite.token in listed.text and f"/people/invites/{invite.token}" in listed.text


async def test_a_staff_invitation_and_its_code_on_zalo(console: Console) -> None:
    await console.sign_in_as("staff")
    r = await console.client.post("/people/invites", data={"role": "staff", "commune": str(LONG_XUYEN),
                                                           "csrf": await console.csrf()})
    [invite] = await _invites(console)
    assert (invite.role, invite.commune_code) == ("staff", None)
    card = await console.client.get(r.headers["location"])
    assert invite.token in card.text
    assert "<svg" not in card.text  # no bot username known: no link, no QR, the code to type
    assert "BOT_USERNAME" in card.text


async def test_a_collaborator_invitation_needs_a_commune_of_the_province(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await console.csrf()
    for commune in ("", "99999", "abc"):
        r = await console.client.post("/people/invites", data={"role": "collaborator", "commune": commune,
                                                               "csrf": csrf})
        assert r.status_code == 303 and r.headers["location"].startswith("/people?error=")
    page = await console.client.get(r.headers["location"])
    assert "Chọn xã, phường" in page.text
    assert await _invites(console) == [] and await _audit(console, "invite") == []


async def test_cancelling_an_invitation(console: Console) -> None:
    async with console.app.session_maker() as session:
        invite = await accounts.create_invite(session, clock=console.clock, creator=console.people["staff"],
                                              role=Role.COLLABORATOR, commune_code=LONG_XUYEN)
        await session.commit()
    await console.sign_in_as("staff")
    r = await console.client.post(f"/people/invites/{invite.token}/cancel", data={"csrf": await console.csrf()})
    assert r.status_code == 303
    assert await _invites(console) == []
    [entry] = await _audit(console, "invite_cancel")
    assert entry.detail == {"role": "collaborator", "commune": LONG_XUYEN}
    assert (await console.client.get(f"/people/invites/{invite.token}")).status_code == 404
    again = await console.client.post(f"/people/invites/{invite.token}/cancel", data={"csrf": await console.csrf()})
    assert "error=" in again.headers["location"]


async def test_collaborators_per_commune_with_their_last_report_and_communes_with_none(console: Console) -> None:
    now, collaborator = console.clock.now(), console.people["collaborator"].id
    async with console.app.session_maker() as session:
        schedule = ReportSchedule(title="Báo cáo tháng", frequency="monthly", day=5, created_at=now)
        session.add(schedule)
        await session.flush()
        for period, days in (("2026-02", 20), ("2026-03", 2)):
            session.add(ReportSubmission(schedule_id=schedule.id, period=period, user_id=collaborator,
                                         commune_code=LONG_XUYEN, created_at=now - timedelta(days=days)))
        await session.commit()
    await console.sign_in_as("staff")
    page = (await console.client.get("/people")).text
    covered = page[page.index("Cộng tác viên theo xã"):page.index('id="uncovered"')]
    last = (now - timedelta(days=2)).astimezone(console.app.tz).strftime("%d/%m/%Y")
    assert "Phường Long Xuyên" in covered and "Phạm Cộng Tác" in covered and last in covered and "Zalo" in covered
    uncovered = page[page.index('id="uncovered"'):]
    total = len(console.app.communes.all())
    assert f"Xã, phường chưa có cộng tác viên ({total - 1})" in uncovered
    assert "Phường Long Xuyên" not in uncovered and "Phường Châu Đốc" in uncovered


async def test_revoking_a_staff_member_ends_their_console_sessions(console: Console) -> None:
    await console.sign_in_as("revoked")
    await console.sign_in_as("staff")
    page = (await console.client.get("/people")).text
    assert f'action="/people/{console.people["revoked"].id}/revoke"' in page
    assert f'action="/people/{console.people["staff"].id}/revoke"' not in page  # not oneself
    r = await console.client.post(f"/people/{console.people['revoked'].id}/revoke", data={"csrf": await console.csrf()})
    assert r.status_code == 303 and r.headers["location"] == "/people?done=revoked"
    async with console.app.session_maker() as session:
        assert (await session.get(User, console.people["revoked"].id)).role == "user"
        told = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "access_revoked"))).all()
    assert len(told) == 1
    assert all(s.ended_at is not None for s in await sessions_of(console, "revoked"))
    [entry] = await _audit(console, "revoke")
    assert (entry.target_kind, entry.target_id, entry.detail["role"]) == ("person", console.people["revoked"].id,
                                                                         "staff")
    log = (await console.client.get("/log")).text
    assert "Thu hồi quyền" in log and "Lê Thôi" in log


async def test_revoking_a_collaborator_and_not_oneself(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await console.csrf()
    r = await console.client.post(f"/people/{console.people['collaborator'].id}/revoke", data={"csrf": csrf})
    assert r.headers["location"] == "/people?done=revoked"
    own = await console.client.post(f"/people/{console.people['staff'].id}/revoke", data={"csrf": csrf})
    assert own.headers["location"].startswith("/people?error=")
    async with console.app.session_maker() as session:
        assert (await session.get(User, console.people["collaborator"].id)).role == "user"
        assert (await session.get(User, console.people["staff"].id)).role == "staff"
    page = (await console.client.get("/people")).text
    assert "Chưa có cộng tác viên nào." in page


async def test_the_printable_cards_of_every_pending_collaborator_invitation(console: Console) -> None:
    console.app.bot_username = BOT
    async with console.app.session_maker() as session:
        tokens = [(await accounts.create_invite(session, clock=console.clock, creator=console.people["staff"],
                                                role=Role.COLLABORATOR, commune_code=code)).token
                  for code in (LONG_XUYEN, 30316)]
        await accounts.create_invite(session, clock=console.clock, creator=console.people["staff"],
                                     role=Role.STAFF, commune_code=None)
        await session.commit()
    await console.sign_in_as("staff")
    page = (await console.client.get("/people/cards")).text
    assert len(re.findall(r'<article class="qr-card"', page)) == 2
    for token in tokens:
        assert segno.make(f"https://t.me/{BOT}?start={token}", error=QR_ERROR).svg_inline(scale=QR_SCALE) in page
