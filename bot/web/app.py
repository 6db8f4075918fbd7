"""The staff web console: FastAPI + Jinja2 templates + htmx (vendored), on the bot's AppContext.

`create_app(app_context)` builds the ASGI app; `python -m bot web` serves it with uvicorn. Nothing is
fetched from the internet at run time: htmx and the stylesheet are served from `bot/web/static`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import SUPPORTED_LOCALES
from bot.context import AppContext
from bot.domain import (
    CATEGORY_LABELS,
    CERTIFICATION_LEVEL_LABELS,
    FUNDING_SOURCE_LABELS,
    PARTICIPANT_STATUS_LABELS,
    PROJECT_NEED_STATUSES,
    PROJECT_STATUS_LABELS,
    QUESTION_STATUS_LABELS,
    SECTOR_LABELS,
    STATUS_LABELS,
    shown,
)
from bot.i18n_marker import N_
from bot.services.facilities import FIELD_LABELS
from bot.services.projects import FIELD_LABELS as PROJECT_FIELD_LABELS
from bot.services.validation import format_million, format_phone
from bot.web import security
from storage.db import connection_lost

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo"}
ACTION_LABELS = {
    "sign_in": N_("Signed in"),
    "sign_out": N_("Signed out"),
    "status": N_("Changed the status"),
    "reopen": N_("Reopened"),
    "note": N_("Added a note"),
    "export": N_("Exported"),
    "facility_edit": N_("Edited a facility"),
    "merge": N_("Merged two facilities"),
    "import": N_("Imported facilities"),
    "answer": N_("Answered a question"),
    "close": N_("Closed a question"),
    "ann_create": N_("Created an announcement"),
    "ann_edit": N_("Edited an announcement"),
    "ann_photo": N_("Changed the photo"),
    "ann_audience": N_("Changed the audience"),
    "audience_save": N_("Saved an audience"),
    "audience_delete": N_("Deleted a saved audience"),
    "ann_test": N_("Sent a test copy"),
    "ann_copy": N_("Copied an announcement"),
    "ann_send": N_("Started sending"),
    "ann_schedule": N_("Scheduled"),
    "ann_cancel": N_("Cancelled an announcement"),
    "ann_stop": N_("Stopped sending"),
    "signup_status": N_("Changed a participant's status"),
    "capacity": N_("Set the number of places"),
    "product_certify": N_("Recorded a certified product"),
    "product_remove": N_("Removed a certified product"),
    "invite": N_("Created an invitation"),
    "invite_cancel": N_("Cancelled an invitation"),
    "revoke": N_("Revoked access"),
    "project_create": N_("Created a project"),
    "project_edit": N_("Edited a project"),
    "project_add": N_("Added a need to a project"),
    "project_remove": N_("Took a need out of a project"),
    "project_amounts": N_("Changed a need's amounts in a project"),
    "project_need_dropped": N_("A need of a project stopped counting"),
    "project_need_back": N_("A need of a project counts again"),
    "report_export": N_("Exported the report figures"),
}


def create_app(app_context: AppContext, *, webhooks: Mapping[str, Any] | None = None) -> FastAPI:
    """The console's ASGI app; `webhooks` (channel → receiver, bot/web/webhook_routes.py) are the channels
    whose updates this process takes at /webhook/<channel>."""
    from bot.web import (
        announcements_routes,
        auth_routes,
        dashboard_routes,
        facilities_routes,
        media_routes,
        needs_routes,
        ops_routes,
        people_routes,
        projects_routes,
        questions_routes,
        reports_routes,
        signups_routes,
        webhook_routes,
    )
    from bot.web.uploads import UploadStore

    app = FastAPI(title="Khuyến công — staff console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = app_context
    app.state.webhooks = dict(webhooks or {})
    app.state.templates = _environment()
    app.state.uploads = UploadStore(app_context.settings.media_folder() / "console-uploads", app_context.clock)
    # The webhooks first: Starlette tries the routes in order, and a busy bot's updates are most requests.
    app.include_router(webhook_routes.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(auth_routes.router)
    app.include_router(dashboard_routes.router)
    app.include_router(needs_routes.router)
    app.include_router(facilities_routes.router)
    app.include_router(media_routes.router)
    app.include_router(ops_routes.router)
    if app_context.settings.metrics_enabled:
        app.include_router(ops_routes.metrics_router)
    app.include_router(questions_routes.router)
    app.include_router(announcements_routes.router)
    app.include_router(signups_routes.router)
    app.include_router(people_routes.router)
    app.include_router(projects_routes.router)
    app.include_router(reports_routes.router)
    app.add_exception_handler(security.SignInNeeded, _to_sign_in)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _server_error)  # a page (and its message in htmx's error box), not bare text

    app.add_middleware(AgainOnLostConnection)  # inside SecurityHeaders: its error page gets them too
    app.add_middleware(SecurityHeaders)
    return app


_SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", b"default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:"),
)


class _HttpMiddleware:
    """A plain ASGI middleware for HTTP requests (others pass through): Starlette's `BaseHTTPMiddleware`
    (`@app.middleware("http")`) runs each request through extra tasks and memory streams, a measurable share of a
    webhook update's CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def _missing_headers(present: set[bytes], *, static: bool) -> list[tuple[bytes, bytes]]:
    """The security headers a response lacks (`present`: its header names, lower case), and no caching but for
    /static."""
    missing = [(k, v) for k, v in _SECURITY_HEADERS if k not in present]
    if not static and b"cache-control" not in present:
        missing.append((b"cache-control", b"no-store"))
    return missing


class SecurityHeaders(_HttpMiddleware):
    """The console's security headers on every response (unless a route set its own), and no caching but for
    /static."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = scope["path"].startswith("/static")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _missing_headers({name.lower() for name, _ in headers}, static=static)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_SAFE_METHODS = frozenset({"GET", "HEAD"})


class AgainOnLostConnection(_HttpMiddleware):
    """A request that met a dead database connection (the server restarted: SQLAlchemy has recycled the pool,
    `storage.db.connection_lost`) before any of its response was sent: a GET or HEAD, which changes nothing,
    is served once more on a new connection; any other method is not (its first attempt may have committed
    part of its work) and gets a page saying the change may not have been saved. A GET's request messages (no
    body) are kept to be read again, other methods' are not."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False
        safe = scope["method"] in _SAFE_METHODS
        received: list[Message] = []
        replayed = iter(received)

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def recording() -> Message:
            message = await receive()
            received.append(message)
            return message

        async def replaying() -> Message:
            message = next(replayed, None)
            return message if message is not None else await receive()

        for again in (False, True):
            try:  # each attempt on a copy of the scope: the first one's routing leaves nothing to the second
                await self.app(dict(scope), replaying if again else recording if safe else receive, sending)
                return
            except Exception as exc:
                if started or not connection_lost(exc):
                    raise
            if again or not safe:  # not done (again): the person is told
                log.warning("the database connection was lost: %s %s is not %s", scope["method"], scope["path"],
                            "served" if safe else "done again, its sender is told")
                await _connection_lost_page(scope, receive, send, changed=not safe)
                return
            log.warning("the database connection was lost: serving %s %s again on a new one", scope["method"],
                        scope["path"])


async def _connection_lost_page(scope: Scope, receive: Receive, send: Send, *, changed: bool) -> None:
    request = Request(scope, receive)
    _ = security.gettext_for(request)
    if changed:
        text = _("The connection to the database was interrupted (it may have just restarted): your change may "
                 "not have been saved. Please open the page again to check, and try again if needed.")
    else:
        text = _("The connection to the database was interrupted (it may have just restarted). Please reload "
                 "the page in a moment.")
    await render(request, "error.html", {"message": text}, status=503)(scope, receive, send)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["million"] = lambda v: format_million(Decimal(v)) if v is not None else ""
    env.filters["phone"] = format_phone
    env.globals.update(CATEGORY_LABELS=CATEGORY_LABELS, SECTOR_LABELS=SECTOR_LABELS, STATUS_LABELS=STATUS_LABELS,
                       LANGUAGE_NAMES=LANGUAGE_NAMES, LOCALES=SUPPORTED_LOCALES, ACTION_LABELS=ACTION_LABELS,
                       FIELD_LABELS=FIELD_LABELS, QUESTION_STATUS_LABELS=QUESTION_STATUS_LABELS,
                       CHANNEL_NAMES=CHANNEL_NAMES, PARTICIPANT_STATUS_LABELS=PARTICIPANT_STATUS_LABELS,
                       FUNDING_SOURCE_LABELS=FUNDING_SOURCE_LABELS,
                       PROJECT_STATUS_LABELS=PROJECT_STATUS_LABELS, PROJECT_FIELD_LABELS=PROJECT_FIELD_LABELS,
                       CERTIFICATION_LEVEL_LABELS=CERTIFICATION_LEVEL_LABELS,
                       PROJECT_NEED_STATUSES=PROJECT_NEED_STATUSES)
    return env


def render(request: Request, template: str, context: Mapping[str, Any], *, status: int = 200,
           staff: security.Staff | None = None) -> HTMLResponse:
    """A template in the reader's language: `_` translates, dates show in local time."""
    app = security.ctx(request)
    locale = security.locale_of(request)
    tz = app.tz

    def local(value: datetime | date | None, with_time: bool = True) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(tz)
            return value.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")
        return value.strftime("%d/%m/%Y")

    env: Environment = request.app.state.templates
    gettext = security.gettext_for(request)
    html = env.get_template(template).render(
        _=gettext, lang=locale, request=request, staff=staff, csrf=staff.csrf if staff else "", local=local,
        commune=app.communes.name, shown=lambda text: shown(text, gettext), **context)
    return HTMLResponse(html, status_code=status)


async def _to_sign_in(request: Request, exc: security.SignInNeeded) -> Response:
    return RedirectResponse(security.sign_in_url(exc.next_url), status_code=303)


async def _not_found(request: Request, exc: RequestValidationError) -> Response:
    """A malformed address (/needs/abc) is a page that does not exist, not a JSON error."""
    return await _http_error(request, StarletteHTTPException(404))


async def _server_error(request: Request, exc: Exception) -> Response:
    """A failure of ours: logged with its traceback by Starlette (which raises it on), answered with a page. Its
    answer leaves from outside every middleware (Starlette's ServerErrorMiddleware): the headers are set here."""
    page = render(request, "error.html", {"message": security.gettext_for(request)("Something went wrong.")},
                  status=500)
    for name, value in _missing_headers({name.encode() for name in page.headers}, static=False):
        page.headers[name.decode()] = value.decode()
    return page


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    _ = security.gettext_for(request)
    messages = {401: _("Please sign in again."), 403: _("This request was refused (it may have expired): "
                                                          "reload the page and try again."),
                404: _("This page does not exist.")}
    text = messages.get(exc.status_code, _("Something went wrong."))
    response = render(request, "error.html", {"message": text}, status=exc.status_code)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response
