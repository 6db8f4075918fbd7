"""Per-request plumbing of the console: the database session, the reader's language, who is signed in,
and the CSRF check. Pages send a stranger to the sign-in page; data and htmx requests get 401."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, HTTPException, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import SUPPORTED_LOCALES
from bot.context import AppContext
from bot.domain import Role
from bot.services import staff_auth
from bot.services.needs import Actor

SESSION_COOKIE = "kc_session"
LANG_COOKIE = "kc_lang"
PRE_CSRF_COOKIE = "kc_csrf"  # double-submit token of the sign-in forms (before there is a session)


class SignInNeeded(Exception):
    """A page asked for by someone not signed in as staff: redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def ctx(request: Request) -> AppContext:
    return request.app.state.ctx


async def db(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the handler returns without an error — before the
    response leaves (`scope="function"`): a browser following the sign-in redirect must find its session."""
    async with ctx(request).session_maker() as session:
        yield session
        await session.commit()


def locale_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE)
    return lang if lang in SUPPORTED_LOCALES else ctx(request).settings.default_locale


def gettext_for(request: Request) -> Callable[[str], str]:
    app, locale = ctx(request), locale_of(request)
    return lambda msgid: app.i18n.gettext(msgid, locale=locale)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass
class Staff:
    """The signed-in staff member of this request."""

    signed: staff_auth.StaffSession
    session: AsyncSession

    @property
    def user(self) -> Any:
        return self.signed.user

    @property
    def csrf(self) -> str:
        return self.signed.session.csrf_token

    @property
    def actor(self) -> Actor:
        return Actor(user=self.signed.user, role=Role.STAFF)


async def _staff(request: Request, session: AsyncSession) -> Staff | None:
    app = ctx(request)
    signed = await staff_auth.current_staff(session, clock=app.clock, token=request.cookies.get(SESSION_COOKIE),
                                            admin_ids=app.settings.admin_ids, staff=app.settings.staff_identities())
    if signed is None:
        await session.commit()  # a revoked member's session is ended for good
        return None
    return Staff(signed=signed, session=session)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def staff_page(request: Request, session: Annotated[AsyncSession, Depends(db, scope="function")]) -> Staff:
    staff = await _staff(request, session)
    if staff is None:
        if _is_htmx(request):
            raise HTTPException(401, headers={"HX-Redirect": "/login"})
        raise SignInNeeded(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return staff


async def staff_data(request: Request, session: Annotated[AsyncSession, Depends(db, scope="function")]) -> Staff:
    staff = await _staff(request, session)
    if staff is None:
        raise HTTPException(401)
    return staff


async def _submitted_token(request: Request) -> str:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    form = await request.form()
    value = form.get("csrf")
    return value if isinstance(value, str) else ""


async def staff_post(request: Request, staff: Annotated[Staff, Depends(staff_data)]) -> Staff:
    """A state-changing request: staff, and the session's CSRF token in the form or the X-CSRF-Token header."""
    if not hmac.compare_digest(await _submitted_token(request), staff.csrf):
        raise HTTPException(403)
    return staff


async def anonymous_post(request: Request) -> None:
    """The sign-in forms: the token of the kc_csrf cookie must come back in the form (double submit)."""
    cookie = request.cookies.get(PRE_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(await _submitted_token(request), cookie):
        raise HTTPException(403)


def new_pre_csrf() -> str:
    return secrets.token_urlsafe(24)


def sign_in_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="")


def safe_next(value: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


Db = Annotated[AsyncSession, Depends(db, scope="function")]
StaffPage = Annotated[Staff, Depends(staff_page)]
StaffData = Annotated[Staff, Depends(staff_data)]
StaffPost = Annotated[Staff, Depends(staff_post)]
FormText = Annotated[str, Form()]
