"""Who may reach what: every route × {no session, facility owner, collaborator, revoked staff, staff};
CSRF; sessions (expiry, sign-out, revocation); cookies."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import col, select

from bot.domain import Role
from bot.services import accounts
from bot.web.security import SESSION_COOKIE
from storage.models import (
    Announcement,
    AuditEntry,
    CertifiedProduct,
    Facility,
    Invite,
    Need,
    NeedNote,
    OutboxMessage,
    Project,
    ProjectNeed,
    Question,
    SavedAudience,
    Signup,
)
from tests.web.conftest import Console, later, revoke, sessions_of

ANNOUNCEMENT = {"kind": "general", "title": "Thông báo mới", "body": "Nội dung thông báo"}
PAGES = ["/", "/needs", "/needs/{id}", "/log", "/facilities", "/facilities/{fid}", "/facilities/import",
         "/facilities/{fid}/merge?other={fid2}", "/conversations", "/conversations?status=answered",
         "/conversations/{qid}", "/announcements", "/announcements/new", "/announcements/{aid}",
         "/announcements/{aid}/deliveries", "/announcements/{aid}/deliveries?status=failed",
         "/announcements/{aid}/progress", "/announcements/{fair}/signups",
         "/announcements/{fair}/signups?status=waiting",
         "/people", "/people?commune_q=long", "/people/cards", "/people/invites/{code}",
         "/projects", "/projects?year=2026&source=local", "/projects/new",
         "/projects/{pid}", "/projects/{pid}?q=nuoc", "/reports", "/reports?period=2021-2025&commune=30307"]
# An upload's pages: staff reach them only with their own upload (tests/web/test_facilities.py).
UPLOAD_PAGES = ["/facilities/import/{token}", "/facilities/import/{token}/report"]
DATA = ["/needs/export.xlsx", "/needs/export.csv", "/announcements/{fair}/signups/export.xlsx",
        "/announcements/{fair}/signups/export.csv?status=registered", "/reports/export.xlsx",
        "/reports/export.xlsx?period=2026"]
PROJECT_FORM = {"name": "Đề án mới", "funding_source": "local", "year": "2026", "approved_on": "2026-03-01",
                "status": "approved"}
POSTS = [("/needs/{id}/status", {"to": "surveyed"}), ("/needs/{id}/reopen", {"reason": "x"}),
         ("/needs/{id}/notes", {"text": "ghi chú"}),
         ("/facilities/{fid}", {"name": "Cơ sở mới", "commune": "30307", "sector": "food"}),
         ("/facilities/{fid}/merge", {"other": "{fid2}", "keep": "{fid}"}),
         ("/conversations/{qid}/answer", {"text": "Trả lời"}), ("/conversations/{qid}/close", {}),
         ("/announcements", ANNOUNCEMENT), ("/announcements/{aid}", ANNOUNCEMENT), ("/announcements/{aid}/photo", {}),
         ("/announcements/{aid}/audience", {"role": "facility"}),
         ("/announcements/{aid}/audiences", {"name": "Nhóm A"}),
         ("/announcements/audiences/{sid}/delete", {}), ("/announcements/{aid}/test", {}),
         ("/announcements/{aid}/copy", {}), ("/announcements/{aid}/send", {}), ("/announcements/{aid}/stop", {}),
         ("/announcements/{aid}/cancel", {}),
         ("/announcements/{fair}/signups/{signup}/status", {"to": "dossier"}),
         ("/announcements/{fair}/signups/capacity", {"capacity": "12"}),
         ("/announcements/{fair}/signups/{signup}/products",
          {"name": "Nước mắm cá linh", "level": "provincial", "certified_on": "1/3/2026"}),
         ("/announcements/{fair}/signups/{signup}/products/1/remove", {}),
         ("/people/invites", {"role": "collaborator", "commune": "30307"}), ("/people/invites/{code}/cancel", {}),
         ("/people/{cid}/revoke", {}),
         ("/projects", PROJECT_FORM), ("/projects/{pid}", {**PROJECT_FORM, "status": "disbursed"}),
         ("/projects/{pid}/needs", {"need": "{id}", "support": "10"}),
         ("/projects/{pid}/needs/{id}", {"support": "12"}), ("/projects/{pid}/needs/{id}/remove", {}),
         ("/logout", {})]
# htmx fragments posted with the page's values (the live preview and count): 200 for staff.
FRAGMENT_POSTS = [("/announcements/preview", ANNOUNCEMENT), ("/announcements/{aid}/count", {"role": "facility"})]
UPLOAD_POSTS = [("/facilities/import", {}), ("/facilities/import/{token}/check", {"map_name": "0"}),
                ("/facilities/import/{token}/confirm", {})]
TOKEN = "A" * 32
NOT_STAFF = ["nobody", "owner", "collaborator", "revoked"]


async def _as(console: Console, who: str) -> None:
    """Put `who` in front of the console: a session row exists for everyone but `nobody` (the owner's and the
    collaborator's as if they had once been staff); `revoked` lost the staff role after signing in."""
    if who != "nobody":
        await console.sign_in_as(who)
    if who in ("owner", "collaborator", "revoked"):
        await revoke(console, who)


async def _two(console: Console) -> tuple[Need, dict[str, Any]]:
    """A need (and its facility), another facility, a question, a fair with a sign-up: what the paths are
    filled with."""
    need = await console.add_need()
    other = await console.add_need(facility="Nước mắm Hưng Thịnh")
    question = await console.add_question()
    now = console.clock.now()
    async with console.app.session_maker() as session:
        ann = Announcement(kind="general", title="Tin chung", body="Nội dung", audience={}, status="draft",
                           created_at=now, updated_at=now)
        saved = SavedAudience(name="Cơ sở", criteria={"roles": ["facility"]}, created_at=now)
        session.add_all([ann, saved])
        await session.commit()
    fair = await console.add_fair(signers=("collaborator",))
    async with console.app.session_maker() as session:
        signup = (await session.exec(select(Signup))).one()
    async with console.app.session_maker() as session:
        invite = await accounts.create_invite(session, clock=console.clock, creator=console.people["staff"],
                                              role=Role.COLLABORATOR, commune_code=30307)
        await session.commit()
    return need, {"id": need.id, "fid": need.facility_id, "fid2": other.facility_id, "token": TOKEN,
                  "qid": question.id, "aid": ann.id, "sid": saved.id, "fair": fair.id, "signup": signup.id,
                  "code": invite.token, "cid": console.people["collaborator"].id,
                  "pid": (await _project(console)).id}


async def _project(console: Console) -> Project:
    now = console.clock.now()
    async with console.app.session_maker() as session:
        project = Project(name="Đề án máy móc", funding_source="local", year=2026, approved_on=date(2026, 3, 1),
                          created_at=now, updated_at=now)
        session.add(project)
        await session.commit()
        await session.refresh(project)
    return project


@pytest.mark.parametrize("who", NOT_STAFF)
async def test_pages_send_anyone_not_staff_to_sign_in(console: Console, who: str) -> None:
    _need, ids = await _two(console)
    await _as(console, who)
    for path in PAGES + UPLOAD_PAGES:
        r = await console.client.get(path.format(**ids))
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
        partial = await console.client.get(path.format(**ids), headers={"HX-Request": "true"})
        assert partial.status_code == 401 and partial.headers["HX-Redirect"] == "/login", path


@pytest.mark.parametrize("who", NOT_STAFF)
async def test_data_and_actions_refuse_anyone_not_staff(console: Console, who: str) -> None:
    need, ids = await _two(console)
    await _as(console, who)
    for path in DATA:
        r = await console.client.get(path.format(**ids))
        assert r.status_code == 401, path
        assert "spreadsheet" not in r.headers["content-type"] and "csv" not in r.headers["content-type"]
    for path, form in POSTS + UPLOAD_POSTS + FRAGMENT_POSTS:
        data = {k: v.format(**ids) for k, v in form.items()}
        r = await console.client.post(path.format(**ids), data={**data, "csrf": "anything"})
        assert r.status_code == 401, path
    upload = await console.client.post("/facilities/import", data={"csrf": "anything"},
                                       files={"file": ("a.csv", "Tên cơ sở,Xã\nA,Long Xuyên\n".encode())})
    assert upload.status_code == 401
    async with console.app.session_maker() as session:
        assert (await session.get(Need, need.id)).status == "received"
        assert (await session.get(Question, ids["qid"])).status == "open"
        assert (await session.exec(select(NeedNote))).all() == []
        assert [s.participant_status for s in (await session.exec(select(Signup))).all()] == ["registered"]
        assert (await session.get(Announcement, ids["fair"])).capacity is None
        assert (await session.exec(select(OutboxMessage))).all() == []
        facilities = (await session.exec(select(Facility).order_by(col(Facility.id)))).all()
        # Two from _two, one from the question's asker: none edited or merged.
        assert [f.name for f in facilities] == ["Cơ sở nước mắm Hưng Thịnh", "Nước mắm Hưng Thịnh",
                                                "Cơ sở nước mắm Hưng Thịnh"]
        assert (await session.exec(select(AuditEntry).where(col(AuditEntry.action) != "sign_in"))).all() == []
        anns = (await session.exec(select(Announcement).order_by(col(Announcement.id)))).all()
        assert len(anns) == 2  # the draft and the fair: nothing copied or created
        general = await session.get(Announcement, ids["aid"])
        assert (general.title, general.status, general.audience) == ("Tin chung", "draft", {})
        assert [a.name for a in (await session.exec(select(SavedAudience))).all()] == ["Cơ sở"]
        assert [i.token for i in (await session.exec(select(Invite))).all()] == [ids["code"]]
        assert [(p.name, p.status) for p in (await session.exec(select(Project))).all()] == [("Đề án máy móc",
                                                                                               "approved")]
        assert (await session.exec(select(ProjectNeed))).all() == []
        assert (await session.exec(select(CertifiedProduct))).all() == []


async def test_staff_reach_every_page_and_export(console: Console) -> None:
    _need, ids = await _two(console)
    await console.sign_in_as("staff")
    for path in PAGES:
        r = await console.client.get(path.format(**ids))
        assert r.status_code == 200, path
        assert "Trần Văn Cán" in r.text or path.endswith("/progress")  # who is signed in (not in a fragment)
    for path in DATA:
        assert (await console.client.get(path.format(**ids))).status_code == 200, path
    csrf = await console.csrf()
    for path, form in FRAGMENT_POSTS:
        data = {k: v.format(**ids) for k, v in form.items()}
        r = await console.client.post(path.format(**ids), data={**data, "csrf": csrf}, headers={"HX-Request": "true"})
        assert r.status_code == 200, path
    for path, form in POSTS:
        data = {k: v.format(**ids) for k, v in form.items()}
        r = await console.client.post(path.format(**ids), data={**data, "csrf": csrf})
        assert r.status_code == 303, path
    # The import's steps, with an upload of this session (a made-up token is an expired upload).
    await console.sign_in_as("staff")  # signed out by the last post
    for path in UPLOAD_PAGES:
        r = await console.client.get(path.format(**ids))
        assert r.status_code == 303 and r.headers["location"] == "/facilities/import?expired=1", path
    upload = await console.client.post("/facilities/import", data={"csrf": await console.csrf()},
                                       files={"file": ("a.csv", "Tên cơ sở,Xã\nA,Long Xuyên\n".encode())})
    assert upload.status_code == 303
    token = upload.headers["location"].rsplit("/", 1)[1]
    for path in UPLOAD_PAGES:
        assert (await console.client.get(path.format(token=token))).status_code == 200, path


async def test_a_post_without_the_csrf_token_is_refused(console: Console) -> None:
    need = await console.add_need()
    await console.sign_in_as("staff")
    for data in ({"to": "surveyed"}, {"to": "surveyed", "csrf": "forged"}):
        r = await console.client.post(f"/needs/{need.id}/status", data=data)
        assert r.status_code == 403
    ok = await console.client.post(f"/needs/{need.id}/status", data={"to": "surveyed"},
                                   headers={"X-CSRF-Token": await console.csrf()})
    assert ok.status_code == 303
    async with console.app.session_maker() as session:
        from storage.models import Need

        assert (await session.get(Need, need.id)).status == "surveyed"


async def test_sign_in_forms_need_their_double_submit_token(console: Console) -> None:
    r = await console.client.post("/login", data={"login": "canbo", "password": "x"})
    assert r.status_code == 403
    token = await console.pre_csrf()
    console.client.cookies.delete("kc_csrf")
    r = await console.client.post("/login", data={"login": "canbo", "password": "x", "csrf": token})
    assert r.status_code == 403


async def test_a_revoked_staff_members_sessions_die_at_the_next_request(console: Console) -> None:
    await console.sign_in_as("revoked")
    assert (await console.client.get("/needs")).status_code == 200
    await revoke(console)
    assert (await console.client.get("/needs")).status_code == 303
    assert all(s.ended_at is not None for s in await sessions_of(console, "revoked"))


async def test_sessions_expire(console: Console) -> None:
    await console.sign_in_as("staff")
    later(console.clock, hours=11, minutes=59)
    assert (await console.client.get("/needs")).status_code == 200
    later(console.clock, minutes=2)
    assert (await console.client.get("/needs")).status_code == 303


async def test_sign_out_ends_the_session(console: Console) -> None:
    token = await console.sign_in_as("staff")
    r = await console.client.post("/logout", data={"csrf": await console.csrf()})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    console.client.cookies.set(SESSION_COOKIE, token)  # a copy of the old cookie
    assert (await console.client.get("/needs")).status_code == 303


async def test_unknown_cookie_is_nobody(console: Console) -> None:
    console.client.cookies.set(SESSION_COOKIE, "made-up")
    assert (await console.client.get("/")).status_code == 303


async def test_next_is_only_a_local_path(console: Console) -> None:
    await console.sign_in_as("staff")
    r = await console.client.get("/lang/en?next=//evil.example/x")
    assert r.headers["location"] == "/"


async def test_pages_are_not_framed_cached_or_scripted_from_elsewhere(console: Console) -> None:
    await console.sign_in_as("staff")
    r = await console.client.get("/needs")
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert '<script src="/static/htmx.min.js"' in r.text and "https://" not in r.text
    login = await console.client.get("/login")
    cookie = next(c for c in login.headers.get_list("set-cookie") if c.startswith("kc_csrf="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_a_malformed_address_is_a_polite_404(console: Console) -> None:
    await console.sign_in_as("staff")
    for path in ("/needs/abc", "/log?page=x", "/nowhere", "/conversations/abc"):
        r = await console.client.get(path)
        assert r.status_code == 404 and "Không có trang này." in r.text, path


@pytest.mark.parametrize("who", [*NOT_STAFF, "staff"])
async def test_webhook_routes_admit_a_messenger_secret_never_a_session(console: Console, who: str) -> None:
    """/webhook/telegram and /webhook/zalo (tests/web/test_webhooks.py): no sign-in and no CSRF token admits
    them, staff's neither; a process not in webhook mode has none (404), and nothing is recorded."""
    await _as(console, who)
    async with console.app.session_maker() as session:
        before = len((await session.exec(select(AuditEntry))).all())
    for path in ("/webhook/telegram", "/webhook/zalo"):
        r = await console.client.post(path, content=b"{}")
        assert r.status_code == 404, (path, who)
    async with console.app.session_maker() as session:
        assert len((await session.exec(select(AuditEntry))).all()) == before
