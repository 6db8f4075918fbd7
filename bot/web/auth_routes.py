"""Sign-in (password, or a one-time code sent to the staff member's chat), sign-out, language, audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from bot.config import SUPPORTED_LOCALES
from bot.services import staff_auth
from bot.services.staff_auth import RateLimited, SignInRefused
from bot.web import security
from bot.web.app import render
from bot.web.security import Db, FormText, StaffPage, StaffPost, anonymous_post, ctx
from storage import console_repos

router = APIRouter()
LOG_PAGE = 50


def _sign_in_page(request: Request, *, error: str | None = None, info: str | None = None, login: str = "",
                  code_step: bool = False, status: int = 200, next_url: str | None = None) -> Response:
    """The sign-in page; `next_url` (the page asked for, carried by the forms) else the address's ?next=."""
    token = request.cookies.get(security.PRE_CSRF_COOKIE) or security.new_pre_csrf()
    response = render(request, "login.html", {
        "error": error, "info": info, "login": login, "code_step": code_step, "pre_csrf": token,
        "next": security.safe_next(next_url or request.query_params.get("next") or None),
    }, status=status)
    response.set_cookie(security.PRE_CSRF_COOKIE, token, httponly=True, samesite="lax",
                        secure=ctx(request).settings.web_secure_cookies)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _sign_in_page(request)


def _signed_in(request: Request, token: str, next_url: str) -> Response:
    settings = ctx(request).settings
    response = RedirectResponse(security.safe_next(next_url), status_code=303)
    response.set_cookie(security.SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=settings.web_secure_cookies, max_age=int(settings.web_session_hours * 3600))
    return response


def _refused(request: Request, exc: Exception, login: str, code_step: bool = False,
             next_url: str | None = None) -> Response:
    _ = security.gettext_for(request)
    if isinstance(exc, RateLimited):
        return _sign_in_page(request, error=_("Too many attempts. Please wait 15 minutes and try again."),
                             login=login, code_step=code_step, status=429, next_url=next_url)
    return _sign_in_page(request, error=_("The sign-in name, password or code is not right."), login=login,
                         code_step=code_step, status=401, next_url=next_url)


@router.post("/login", dependencies=[Depends(anonymous_post)])
async def login_password(request: Request, session: Db, login: FormText = "", password: FormText = "",
                         next: FormText = "/") -> Response:
    app = ctx(request)
    try:
        user = await staff_auth.sign_in_password(session, clock=app.clock, login=login, password=password,
                                                 ip=security.client_ip(request), admin_ids=app.settings.admin_ids,
                                                 staff=app.settings.staff_identities())
    except (SignInRefused, RateLimited) as exc:
        await session.commit()  # the failed attempt counts
        return _refused(request, exc, login, next_url=next)
    token = await staff_auth.open_session(session, clock=app.clock, user=user, hours=app.settings.web_session_hours)
    return _signed_in(request, token, next)


@router.post("/login/code", dependencies=[Depends(anonymous_post)])
async def login_send_code(request: Request, session: Db, login: FormText = "", next: FormText = "/") -> Response:
    app = ctx(request)
    _ = security.gettext_for(request)
    try:
        await staff_auth.send_code(session, clock=app.clock, login=login, ip=security.client_ip(request),
                                   admin_ids=app.settings.admin_ids, translate=app.translate,
                                   staff=app.settings.staff_identities())
    except RateLimited as exc:
        await session.commit()
        return _refused(request, exc, login, next_url=next)
    await session.commit()
    if app.outbox is not None:
        app.outbox.notify()
    return _sign_in_page(request, login=login, code_step=True, next_url=next,
                         info=_("If this name belongs to a staff member, a 6-digit code was sent to their chat. "
                                "It is valid for 10 minutes."))


@router.post("/login/verify", dependencies=[Depends(anonymous_post)])
async def login_verify(request: Request, session: Db, login: FormText = "", code: FormText = "",
                       next: FormText = "/") -> Response:
    app = ctx(request)
    try:
        user = await staff_auth.sign_in_code(session, clock=app.clock, login=login, code=code,
                                             ip=security.client_ip(request), admin_ids=app.settings.admin_ids,
                                             staff=app.settings.staff_identities())
    except (SignInRefused, RateLimited) as exc:
        await session.commit()
        return _refused(request, exc, login, code_step=True, next_url=next)
    token = await staff_auth.open_session(session, clock=app.clock, user=user, hours=app.settings.web_session_hours)
    return _signed_in(request, token, next)


@router.post("/logout")
async def logout(request: Request, staff: StaffPost) -> Response:
    await staff_auth.end_session(staff.session, clock=ctx(request).clock, staff=staff.signed)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE)
    return response


@router.get("/lang/{code}")
async def language(request: Request, code: str) -> Response:
    response = RedirectResponse(security.safe_next(request.query_params.get("next")), status_code=303)
    if code in SUPPORTED_LOCALES:
        response.set_cookie(security.LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax",
                            secure=ctx(request).settings.web_secure_cookies)
    return response


@router.get("/log")
async def audit_log(request: Request, staff: StaffPage, page: int = 1) -> Response:
    page = max(1, page)
    entries, total = await console_repos.audit_entries(staff.session, offset=(page - 1) * LOG_PAGE, limit=LOG_PAGE)
    people = await console_repos.users_by_ids(staff.session, ids=[e.actor_user_id for e in entries if e.actor_user_id])
    return render(request, "log.html", {"entries": entries, "people": people, "page": page,
                                        "pages": max(1, -(-total // LOG_PAGE))}, staff=staff)
