"""Who may reach what: every route × {no session, facility owner, collaborator, revoked staff, staff};
CSRF; sessions (expiry, sign-out, revocation); cookies."""

from __future__ import annotations

import pytest

from bot.web.security import SESSION_COOKIE
from tests.web.conftest import Console, later, revoke, sessions_of

PAGES = ["/", "/needs", "/needs/{id}", "/log", "/conversations", "/conversations?status=answered",
         "/conversations/{qid}"]
DATA = ["/needs/export.xlsx", "/needs/export.csv"]
POSTS = [("/needs/{id}/status", {"to": "surveyed"}), ("/needs/{id}/reopen", {"reason": "x"}),
         ("/needs/{id}/notes", {"text": "ghi chú"}), ("/conversations/{qid}/answer", {"text": "Trả lời"}),
         ("/conversations/{qid}/close", {}), ("/logout", {})]
NOT_STAFF = ["nobody", "owner", "collaborator", "revoked"]


async def _as(console: Console, who: str) -> None:
    """Put `who` in front of the console: a session row exists for everyone but `nobody` (the owner's and the
    collaborator's as if they had once been staff); `revoked` lost the staff role after signing in."""
    if who != "nobody":
        await console.sign_in_as(who)
    if who in ("owner", "collaborator", "revoked"):
        await revoke(console, who)


@pytest.mark.parametrize("who", NOT_STAFF)
async def test_pages_send_anyone_not_staff_to_sign_in(console: Console, who: str) -> None:
    need, question = await console.add_need(), await console.add_question()
    await _as(console, who)
    for path in PAGES:
        r = await console.client.get(path.format(id=need.id, qid=question.id))
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
        assert "Máy sấy" not in r.text, path
        partial = await console.client.get(path.format(id=need.id, qid=question.id), headers={"HX-Request": "true"})
        assert partial.status_code == 401 and partial.headers["HX-Redirect"] == "/login", path


@pytest.mark.parametrize("who", NOT_STAFF)
async def test_data_and_actions_refuse_anyone_not_staff(console: Console, who: str) -> None:
    need, question = await console.add_need(), await console.add_question()
    await _as(console, who)
    for path in DATA:
        r = await console.client.get(path)
        assert r.status_code == 401, path
        assert "spreadsheet" not in r.headers["content-type"] and "csv" not in r.headers["content-type"]
    for path, form in POSTS:
        r = await console.client.post(path.format(id=need.id, qid=question.id), data={**form, "csrf": "anything"})
        assert r.status_code == 401, path
    async with console.app.session_maker() as session:
        from storage.models import Need, NeedNote, OutboxMessage, Question

        assert (await session.get(Need, need.id)).status == "received"
        assert (await session.get(Question, question.id)).status == "open"
        from sqlmodel import select

        assert (await session.exec(select(NeedNote))).all() == []
        assert (await session.exec(select(OutboxMessage))).all() == []


async def test_staff_reach_every_page_and_export(console: Console) -> None:
    need, question = await console.add_need(), await console.add_question()
    await console.sign_in_as("staff")
    for path in PAGES:
        r = await console.client.get(path.format(id=need.id, qid=question.id))
        assert r.status_code == 200, path
        assert "Trần Văn Cán" in r.text  # who is signed in
    for path in DATA:
        assert (await console.client.get(path)).status_code == 200, path
    csrf = await console.csrf()
    for path, form in POSTS:
        r = await console.client.post(path.format(id=need.id, qid=question.id), data={**form, "csrf": csrf})
        assert r.status_code == 303, path


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
