"""Staff console sign-in: argon2 passwords, one-time codes sent through the outbox, rate limits, sessions,
and the audit log of staff actions.

Tokens (session, code) are stored as SHA-256 digests only: a copy of the database signs no one in.
Every request re-reads the session and the person's role: a revoked staff member's sessions die at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.conversation.replies import Reply
from bot.domain import Role
from bot.i18n_marker import N_
from bot.services import outbox
from bot.services.accounts import Address, Translator, effective_role, settings_staff
from bot.services.validation import fold
from storage import console_repos, repos
from storage.models import AuditEntry, LoginAttempt, LoginCode, StaffCredential, User, WebSession

CODE_TTL = timedelta(minutes=10)
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_ACCOUNT_FAILURES = 5  # per account and window
MAX_IP_FAILURES = 20  # per address and window
MIN_PASSWORD = 10

_hasher = PasswordHasher()
# Verified when the login is unknown, so an unknown login takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password-" + secrets.token_hex(8))


class SignInRefused(Exception):
    """Wrong login, password or code (deliberately not saying which)."""


class RateLimited(Exception):
    """Too many failed attempts for this account or this address."""


class CliError(Exception):
    pass


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login_name(text: str) -> str:
    """What a staff member types to sign in, compared without case or accents ('Trần Thu' → 'tran thu')."""
    return fold(text.strip().lstrip("@")[:120])[:64]


@dataclass(frozen=True)
class StaffSession:
    user: User
    session: WebSession


# --- rate limit ---


async def check_rate(session: AsyncSession, *, clock: Clock, login: str, ip: str) -> None:
    since = clock.now() - ATTEMPT_WINDOW
    if await console_repos.failed_attempts(session, key=f"account:{login}", since=since) >= MAX_ACCOUNT_FAILURES:
        raise RateLimited()
    if await console_repos.failed_attempts(session, key=f"ip:{ip}", since=since) >= MAX_IP_FAILURES:
        raise RateLimited()


async def record_attempt(session: AsyncSession, *, clock: Clock, login: str, ip: str, ok: bool) -> None:
    """Two rows (the account's and the address's); rows older than the window are no longer needed."""
    now = clock.now()
    await console_repos.delete_attempts_before(session, before=now - ATTEMPT_WINDOW)
    session.add(LoginAttempt(key=f"account:{login}"[:96], ok=ok, created_at=now))
    session.add(LoginAttempt(key=f"ip:{ip}"[:96], ok=ok, created_at=now))


# --- who is signing in ---


async def is_staff(session: AsyncSession, *, user: User, admin_ids: Collection[int],
                   staff: Collection[Address] = ()) -> bool:
    """Staff now: by their role, or because one of their identities — on any channel, not only the one they are
    notified at — is staff by the settings (ADMIN_IDS, ZALO_ADMIN_IDS: `staff`)."""
    if effective_role(user, admin_ids, staff=staff) is Role.STAFF:
        return True
    listed = settings_staff(admin_ids, staff)
    return any((i.channel, i.external_id) in listed for i in await repos.identities_of(session, user_id=user.id or 0))


async def find_staff(session: AsyncSession, *, login: str, admin_ids: Collection[int],
                     staff: Collection[Address] = ()) -> User | None:
    """The staff member with this login name (set by `staff add`), else the one whose @username, full name
    (both without case or accents) or chat id (on any of their channels) it is; None when nobody or several
    people match. Staff by the settings are found whichever channel they last wrote from."""
    cred = await console_repos.credential_by_login(session, login=login)
    if cred is not None:
        user = await repos.get_user_by_id(session, user_id=cred.user_id)
        ok = user is not None and await is_staff(session, user=user, admin_ids=admin_ids, staff=staff)
        return user if ok else None
    if not login:
        return None
    found = []
    for user in await repos.staff_users(session, settings_staff=sorted(settings_staff(admin_ids, staff))):
        names = (fold(user.username or ""), fold(user.full_name or ""))
        chat_ids = [i.external_id for i in await repos.identities_of(session, user_id=user.id or 0)]
        if login in names or login in chat_ids:
            found.append(user)
    return found[0] if len(found) == 1 else None


async def sign_in_password(session: AsyncSession, *, clock: Clock, login: str, password: str, ip: str,
                           admin_ids: Collection[int], staff: Collection[Address] = ()) -> User:
    login = login_name(login)
    await check_rate(session, clock=clock, login=login, ip=ip)
    user = await find_staff(session, login=login, admin_ids=admin_ids, staff=staff)
    cred = await console_repos.credential_of(session, user_id=user.id) if user and user.id else None
    try:
        _hasher.verify(cred.password_hash if cred else _DUMMY_HASH, password)
        ok = cred is not None
    except (VerificationError, InvalidHashError):
        ok = False
    await record_attempt(session, clock=clock, login=login, ip=ip, ok=ok)
    if not ok or user is None:
        raise SignInRefused()
    return user


async def send_code(session: AsyncSession, *, clock: Clock, login: str, ip: str, admin_ids: Collection[int],
                    translate: Translator, staff: Collection[Address] = ()) -> None:
    """Queue a 6-digit code to the staff member's chat. Counted as an attempt (a flood of codes is refused);
    an unknown login is not revealed: the page says the same either way."""
    login = login_name(login)
    await check_rate(session, clock=clock, login=login, ip=ip)
    user = await find_staff(session, login=login, admin_ids=admin_ids, staff=staff)
    await record_attempt(session, clock=clock, login=login, ip=ip, ok=False)
    if user is None or user.id is None:
        return
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = clock.now()
    session.add(LoginCode(user_id=user.id, code_hash=digest(f"{user.id}:{code}"), created_at=now,
                          expires_at=now + CODE_TTL))
    text = translate(N_("Your sign-in code for the staff console: {code}\nIt is valid for 10 minutes. "
                        "If you did not ask for it, ignore this message."), user.locale).format(code=code)
    await outbox.enqueue(session, clock=clock, user=user, kind="console_code", reply=Reply.of(text))


async def sign_in_code(session: AsyncSession, *, clock: Clock, login: str, code: str, ip: str,
                       admin_ids: Collection[int], staff: Collection[Address] = ()) -> User:
    login = login_name(login)
    await check_rate(session, clock=clock, login=login, ip=ip)
    user = await find_staff(session, login=login, admin_ids=admin_ids, staff=staff)
    matched = None
    if user is not None and user.id is not None:
        wanted = digest(f"{user.id}:{code.strip()}")
        for row in await console_repos.open_codes(session, user_id=user.id, now=clock.now()):
            if hmac.compare_digest(row.code_hash, wanted):
                matched = row
                break
    ok = matched is not None and await console_repos.use_code(session, code_id=matched.id or 0, now=clock.now())
    await record_attempt(session, clock=clock, login=login, ip=ip, ok=ok)
    if not ok or user is None:
        raise SignInRefused()
    return user


# --- sessions ---


async def open_session(session: AsyncSession, *, clock: Clock, user: User, hours: float) -> str:
    """A new session for a signed-in staff member; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(WebSession(token_hash=digest(token), user_id=user.id or 0, csrf_token=secrets.token_urlsafe(24),
                           created_at=now, expires_at=now + timedelta(hours=hours)))
    await audit(session, clock=clock, actor=user, action="sign_in")
    return token


async def current_staff(session: AsyncSession, *, clock: Clock, token: str | None,
                        admin_ids: Collection[int], staff: Collection[Address] = ()) -> StaffSession | None:
    """The live session of a current staff member, or None (no cookie, unknown, ended, expired, revoked)."""
    if not token:
        return None
    row = await console_repos.get_web_session(session, token_hash=digest(token))
    now = clock.now()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    user = await repos.get_user_by_id(session, user_id=row.user_id)
    if user is None or not await is_staff(session, user=user, admin_ids=admin_ids, staff=staff):
        row.ended_at = now  # revoked: this session dies now
        session.add(row)
        return None
    return StaffSession(user=user, session=row)


async def end_session(session: AsyncSession, *, clock: Clock, staff: StaffSession) -> None:
    staff.session.ended_at = clock.now()
    session.add(staff.session)
    await audit(session, clock=clock, actor=staff.user, action="sign_out")


# --- audit ---


async def audit(session: AsyncSession, *, clock: Clock, actor: User, action: str, target_kind: str | None = None,
                target_id: int | None = None, detail: Mapping[str, Any] | None = None) -> None:
    session.add(AuditEntry(actor_user_id=actor.id, action=action, target_kind=target_kind, target_id=target_id,
                           detail=dict(detail or {}), created_at=clock.now()))


# --- command line: staff add / staff passwd ---


async def set_password(session: AsyncSession, *, clock: Clock, who: str, password: str, login: str | None,
                       admin_ids: Collection[int], grant: bool, staff: Collection[Address] = ()) -> tuple[User, str]:
    """Give the person named `who` (users.id, chat id, @username or full name) a console password; `grant`
    makes them staff first (`staff add`), otherwise they must be staff already (`staff passwd`): by their role,
    or by the settings (ADMIN_IDS, ZALO_ADMIN_IDS: `staff`) on any of their channels."""
    matches = list(await console_repos.users_matching(session, text=who.strip()))
    if not matches:
        raise CliError(f"nobody called {who!r} has written to the bot yet")
    if len(matches) > 1:
        raise CliError(f"{who!r} names {len(matches)} people; use the number: "
                       + ", ".join(f"{u.id} ({u.full_name or u.username or u.external_id})" for u in matches))
    user = matches[0]
    if not await is_staff(session, user=user, admin_ids=admin_ids, staff=staff):
        if not grant:
            raise CliError(f"{who!r} is not staff; use `staff add`")
        user.role = Role.STAFF
        user.updated_at = clock.now()
        session.add(user)
    if len(password) < MIN_PASSWORD:
        raise CliError(f"the password must have at least {MIN_PASSWORD} characters")
    cred = await console_repos.credential_of(session, user_id=user.id or 0)
    name = login_name(login or (cred.login if cred else None) or user.username or user.full_name
                      or user.external_id)
    other = await console_repos.credential_by_login(session, login=name)
    if other is not None and other.user_id != user.id:
        raise CliError(f"the login {name!r} is taken; choose another with --login")
    if cred is None:
        cred = StaffCredential(user_id=user.id or 0, login=name, password_hash="", updated_at=clock.now())
    cred.login, cred.password_hash, cred.updated_at = name, _hasher.hash(password), clock.now()
    session.add(cred)
    await console_repos.end_sessions_of(session, user_id=user.id or 0, now=clock.now())
    return user, name
