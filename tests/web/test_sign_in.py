"""Sign-in by password and by a one-time code sent through the outbox; the rate limit; cookies; the CLI."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from bot.services import staff_auth
from bot.services.staff_auth import CliError
from storage.models import AuditEntry, OutboxMessage, StaffCredential
from tests.web.conftest import PASSWORD, Console, later


async def _login(console: Console, login: str, password: str, next_url: str = "/"):
    token = await console.pre_csrf()
    return await console.client.post("/login", data={"login": login, "password": password, "csrf": token,
                                                     "next": next_url})


async def test_password_sign_in_opens_a_session_with_safe_cookie(console: Console) -> None:
    r = await _login(console, "canbo", PASSWORD, next_url="/needs?status=received")
    assert r.status_code == 303 and r.headers["location"] == "/needs?status=received"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("kc_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert "Max-Age=43200" in cookie
    assert (await console.client.get("/needs")).status_code == 200
    async with console.app.session_maker() as session:
        entries = (await session.exec(select(AuditEntry))).all()
    assert [(e.action, e.actor_user_id) for e in entries] == [("sign_in", console.people["staff"].id)]


async def test_the_login_is_typed_without_case_or_accents(console: Console) -> None:
    r = await _login(console, "  @CanBo ", PASSWORD)
    assert r.status_code == 303


async def test_secure_cookies_behind_https(console: Console) -> None:
    console.app.settings = console.app.settings.model_copy(update={"web_secure_cookies": True})
    r = await _login(console, "canbo", PASSWORD)
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("kc_session="))
    assert "Secure" in cookie


@pytest.mark.parametrize("login,password", [("canbo", "sai-mat-khau-roi"), ("khongco", PASSWORD), ("", "")])
async def test_wrong_password_or_login_is_refused_alike(console: Console, login: str, password: str) -> None:
    r = await _login(console, login, password)
    assert r.status_code == 401
    assert "Tên đăng nhập, mật khẩu hoặc mã không đúng." in r.text
    assert "kc_session" not in console.client.cookies


async def test_a_collaborator_cannot_sign_in_even_with_a_password_row(console: Console) -> None:
    async with console.app.session_maker() as session:
        session.add(StaffCredential(user_id=console.people["collaborator"].id, login="ctv",
                                    password_hash=staff_auth._hasher.hash(PASSWORD), updated_at=console.clock.now()))
        await session.commit()
    assert (await _login(console, "ctv", PASSWORD)).status_code == 401


async def test_rate_limit_per_account(console: Console) -> None:
    for _ in range(staff_auth.MAX_ACCOUNT_FAILURES):
        assert (await _login(console, "canbo", "sai-mat-khau-roi")).status_code == 401
    r = await _login(console, "canbo", PASSWORD)  # even the right password waits now
    assert r.status_code == 429
    assert "quá nhiều lần" in r.text
    later(console.clock, minutes=16)
    assert (await _login(console, "canbo", PASSWORD)).status_code == 303


async def test_rate_limit_per_address(console: Console) -> None:
    for n in range(staff_auth.MAX_IP_FAILURES):
        assert (await _login(console, f"nguoi-{n}", "x")).status_code == 401
    assert (await _login(console, "canbo", PASSWORD)).status_code == 429


async def _ask_code(console: Console, login: str = "canbo"):
    return await console.client.post("/login/code", data={"login": login, "csrf": await console.pre_csrf()})


async def _code_sent(console: Console) -> tuple[OutboxMessage, str]:
    async with console.app.session_maker() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "console_code"))).all()
    assert len(rows) == 1
    return rows[0], re.search(r"\b(\d{6})\b", rows[0].text).group(1)  # type: ignore[union-attr]


async def _verify(console: Console, code: str, login: str = "canbo"):
    return await console.client.post("/login/verify", data={"login": login, "code": code, "next": "/needs",
                                                            "csrf": await console.pre_csrf()})


async def test_code_sign_in_through_the_outbox_single_use(console: Console) -> None:
    r = await _ask_code(console)
    assert r.status_code == 200 and 'name="code"' in r.text
    row, code = await _code_sent(console)
    staff = console.people["staff"]
    assert (row.channel, row.chat_id, row.user_id) == ("telegram", staff.external_id, staff.id)
    assert "Mã đăng nhập trang quản lý của anh/chị" in row.text
    assert "parse_mode" not in row.payload and "reply" in row.payload
    r = await _verify(console, code)
    assert r.status_code == 303 and r.headers["location"] == "/needs"
    console.client.cookies.clear()
    assert (await _verify(console, code)).status_code == 401  # single use


async def test_code_expires_after_ten_minutes(console: Console) -> None:
    await _ask_code(console)
    _, code = await _code_sent(console)
    later(console.clock, minutes=10, seconds=1)
    assert (await _verify(console, code)).status_code == 401


async def test_a_wrong_code_is_refused_and_counted(console: Console) -> None:
    await _ask_code(console)
    _, code = await _code_sent(console)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(staff_auth.MAX_ACCOUNT_FAILURES - 1):
        assert (await _verify(console, wrong)).status_code == 401
    assert (await _verify(console, code)).status_code == 429  # the code request counted as one attempt


async def test_no_code_for_someone_not_staff_and_the_page_says_the_same(console: Console) -> None:
    staff_page = await _ask_code(console, "khongco")
    assert staff_page.status_code == 200 and "mã 6 số" in staff_page.text
    async with console.app.session_maker() as session:
        assert (await session.exec(select(OutboxMessage))).all() == []


async def test_cli_sets_a_password_and_ends_open_sessions(console: Console) -> None:
    await console.sign_in_as("staff")
    async with console.app.session_maker() as session:
        _user, login = await staff_auth.set_password(session, clock=console.clock, who="@canbo",
                                                    password="mot-mat-khau-moi", login="can.bo", admin_ids=frozenset(),
                                                    grant=False)
        await session.commit()
    assert login == "can bo"
    assert (await console.client.get("/needs")).status_code == 303
    assert (await _login(console, "Can.Bo", "mot-mat-khau-moi")).status_code == 303


async def test_cli_refuses_short_passwords_and_non_staff_unless_added(console: Console) -> None:
    async with console.app.session_maker() as session:
        with pytest.raises(CliError, match="at least"):
            await staff_auth.set_password(session, clock=console.clock, who="canbo", password="ngan",
                                          login=None, admin_ids=frozenset(), grant=False)
        with pytest.raises(CliError, match="not staff"):
            await staff_auth.set_password(session, clock=console.clock, who="Nguyễn Thị Lan", password=PASSWORD,
                                          login=None, admin_ids=frozenset(), grant=False)
        with pytest.raises(CliError, match="nobody"):
            await staff_auth.set_password(session, clock=console.clock, who="ai đó", password=PASSWORD,
                                          login=None, admin_ids=frozenset(), grant=True)
        user, login = await staff_auth.set_password(session, clock=console.clock, who="6001", password=PASSWORD,
                                                    login=None, admin_ids=frozenset(), grant=True)
        await session.commit()
    assert user.role == "staff" and login == "nguyen thi lan"
    assert (await _login(console, "nguyễn thị lan", PASSWORD)).status_code == 303


async def test_cli_passwd_for_staff_by_zalo_admin_ids(console: Console) -> None:
    """`staff passwd` takes someone who is staff only because their Zalo account is in ZALO_ADMIN_IDS (their row
    keeps its own role) as staff, as the console does; without the setting they are refused."""
    ctv = console.people["collaborator"]  # on Zalo (z-77)
    async with console.app.session_maker() as session:
        with pytest.raises(CliError, match="not staff"):
            await staff_auth.set_password(session, clock=console.clock, who=str(ctv.id), password=PASSWORD,
                                          login="ctv.zalo", admin_ids=frozenset(), grant=False)
        user, login = await staff_auth.set_password(session, clock=console.clock, who=str(ctv.id),
                                                    password=PASSWORD, login="ctv.zalo", admin_ids=frozenset(),
                                                    grant=False, staff=frozenset({("zalo", "z-77")}))
        await session.commit()
    assert login == "ctv zalo" and user.role == "collaborator"  # the role is not changed


@pytest.mark.parametrize("login", ["Trần Văn Cán", "tran van can", "5001"])
async def test_a_code_by_full_name_or_chat_id_for_staff_without_a_password(console: Console, login: str) -> None:
    async with console.app.session_maker() as session:
        await session.delete(await session.get(StaffCredential, console.people["staff"].id))
        await session.commit()
    await _ask_code(console, login)
    row, code = await _code_sent(console)
    assert row.user_id == console.people["staff"].id
    assert (await _verify(console, code, login=login)).status_code == 303


async def test_admin_ids_are_staff_for_the_console_too(console: Console) -> None:
    console.app.settings = console.app.settings.model_copy(update={"admin_ids": frozenset({6001})})
    await _ask_code(console, "6001")  # the owner's Telegram id is in ADMIN_IDS
    row, code = await _code_sent(console)
    assert row.user_id == console.people["owner"].id
    assert (await _verify(console, code, login="6001")).status_code == 303
    assert (await console.client.get("/needs")).status_code == 200


async def test_old_attempts_are_cleared(console: Console) -> None:
    from storage.models import LoginAttempt

    await _login(console, "canbo", "sai-mat-khau-roi")
    later(console.clock, minutes=16)
    await _login(console, "canbo", PASSWORD)
    async with console.app.session_maker() as session:
        rows = (await session.exec(select(LoginAttempt))).all()
    assert sorted((r.key, r.ok) for r in rows) == [("account:canbo", True), ("ip:203.0.113.7", True)]


async def test_a_staff_member_on_zalo_by_zalo_admin_ids_gets_the_code_in_zalo(console: Console) -> None:
    """ZALO_ADMIN_IDS makes a Zalo account staff (the row keeps its own role): the code goes to that Zalo chat,
    the code signs them in, and removing the id from the settings ends the session."""
    ctv = console.people["collaborator"]  # on Zalo (z-77); the table says collaborator
    console.app.settings = console.app.settings.model_copy(update={"zalo_admin_ids": frozenset({"z-77"})})
    await _ask_code(console, "Phạm Cộng Tác")
    row, code = await _code_sent(console)
    assert (row.channel, row.chat_id, row.user_id) == ("zalo", "z-77", ctv.id)
    assert (await _verify(console, code, login="pham cong tac")).status_code == 303
    assert (await console.client.get("/needs")).status_code == 200
    console.app.settings = console.app.settings.model_copy(update={"zalo_admin_ids": frozenset()})
    assert (await console.client.get("/needs")).status_code == 303  # to the sign-in page


async def test_an_admin_who_last_wrote_from_zalo_gets_the_code_there_and_signs_in(console: Console) -> None:
    """A Telegram id in ADMIN_IDS, linked to a Zalo account the person last wrote from (NOTIFY_IDENTITY=last):
    still staff for the console, found by that Telegram id, and the code reaches the Zalo chat."""
    from storage.models import Identity, User

    owner = console.people["owner"]  # Telegram 6001, role user
    async with console.app.session_maker() as session:
        session.add(Identity(user_id=owner.id, channel="zalo", external_id="a1b2c3", created_at=console.clock.now()))
        user = await session.get(User, owner.id)
        user.channel, user.external_id = "zalo", "a1b2c3"  # what accounts.seen does when they write from Zalo
        session.add(user)
        await session.commit()
    console.app.settings = console.app.settings.model_copy(update={"admin_ids": frozenset({6001})})
    await _ask_code(console, "6001")
    row, code = await _code_sent(console)
    assert (row.channel, row.chat_id, row.user_id) == ("zalo", "a1b2c3", owner.id)
    assert (await _verify(console, code, login="6001")).status_code == 303
    assert (await console.client.get("/needs")).status_code == 200


def _next_field(page: str) -> set[str]:
    return set(re.findall(r'name="next" value="([^"]*)"', page))


async def test_the_page_asked_for_is_kept_through_a_code_and_a_wrong_password(console: Console) -> None:
    """Sent to the sign-in page from /needs?status=received, the person lands there after a code sign-in, and
    after a wrong password then the right one: every form carries the page on."""
    wanted = "/needs?status=received"
    page = await console.client.get("/login", params={"next": wanted})
    assert _next_field(page.text) == {wanted}  # the password form and the code request form
    asked = await console.client.post("/login/code", data={"login": "canbo", "next": wanted,
                                                            "csrf": await console.pre_csrf()})
    assert _next_field(asked.text) == {wanted}
    _row, code = await _code_sent(console)
    signed = await console.client.post("/login/verify", data={"login": "canbo", "code": code, "next": wanted,
                                                               "csrf": await console.pre_csrf()})
    assert signed.status_code == 303 and signed.headers["location"] == wanted
    console.client.cookies.clear()
    wrong = await _login(console, "canbo", "sai-mat-khau-roi", next_url=wanted)
    assert wrong.status_code == 401 and _next_field(wrong.text) == {wanted}
    assert (await _login(console, "canbo", PASSWORD, next_url=wanted)).headers["location"] == wanted
