"""A database restart seen from the console: the first page to meet a dead connection is served once more on
a new one; a form sent then is not sent again, and the person is told, politely, to check whether it was saved.
On PostgreSQL the pool's connections are terminated, as a restart does; the rules of the middleware
(bot.web.app.AgainOnLostConnection) are also checked with a route that meets a lost connection, on SQLite."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app as create_context
from bot.clock import FakeClock
from bot.web.app import create_app
from storage.db import create_engine
from storage.models import NeedNote
from tests.conftest import make_settings
from tests.web.conftest import Console, _people


@pytest.fixture
async def pg_console(pg_engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[Console]:
    """The console of tests/web/conftest.py, on PostgreSQL only."""
    app = create_context(make_settings(admin_ids=""), pg_engine, clock=clock)
    people = await _people(app, clock)
    transport = httpx.ASGITransport(app=create_app(app), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as client:
        yield Console(app=app, client=client, clock=clock, people=people)


async def restart(engine: AsyncEngine) -> None:
    """Every connection the pool keeps is terminated from outside it, as a server restart would; then this
    waits until each has read the end of its connection, as it has long before anyone's next click after a
    real restart (right after `pg_terminate_backend` one may have read the server's goodbye but not the end yet:
    asyncpg then says another operation is in progress, which SQLAlchemy does not take for a lost connection)."""
    async with AsyncExitStack() as held:  # each idle pooled connection, checked out at once
        kept = [await held.enter_async_context(engine.connect())
                for _ in range(engine.pool.checkedin())]  # type: ignore[attr-defined]
        pids = [(await conn.execute(text("SELECT pg_backend_pid()"))).scalar() for conn in kept]
        drivers = [(await conn.get_raw_connection()).driver_connection for conn in kept]
    assert pids
    admin = create_engine(engine.url.render_as_string(hide_password=False))  # from outside the console's pool
    try:
        async with admin.connect() as conn:
            for pid in pids:
                assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar()
            async with asyncio.timeout(10):
                while not all(driver.is_closed() for driver in drivers):  # type: ignore[union-attr]
                    await conn.execute(text("SELECT 1"))  # a round trip, meanwhile the pool's sockets are read
    finally:
        await admin.dispose()


@pytest.mark.postgres
async def test_a_database_restart_costs_no_console_page(pg_engine: AsyncEngine, pg_console: Console,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    need = await pg_console.add_need()
    await pg_console.sign_in_as("staff")
    assert (await pg_console.client.get("/needs")).status_code == 200
    await restart(pg_engine)
    page = await pg_console.client.get("/needs")
    assert page.status_code == 200 and need.ref in page.text and "Hưng Thịnh" in page.text
    assert "serving GET /needs again on a new one" in caplog.text


@pytest.mark.postgres
async def test_a_form_sent_during_a_database_restart_is_not_sent_again(pg_engine: AsyncEngine,
                                                                       pg_console: Console) -> None:
    need = await pg_console.add_need()
    await pg_console.sign_in_as("staff")
    csrf = await pg_console.csrf()
    await restart(pg_engine)
    r = await pg_console.client.post(f"/needs/{need.id}/notes", data={"text": "Gọi lại thứ Hai", "csrf": csrf})
    assert r.status_code == 503 and "text/html" in r.headers["content-type"]
    assert "Kết nối tới cơ sở dữ liệu bị gián đoạn" in r.text and "chưa được lưu" in r.text  # in Vietnamese
    assert r.headers["x-frame-options"] == "DENY"  # the console's own headers, as on every page
    async with pg_console.app.session_maker() as session:
        assert (await session.exec(select(NeedNote))).all() == []  # not done twice, nor half
    again = await pg_console.client.post(f"/needs/{need.id}/notes", data={"text": "Gọi lại thứ Hai", "csrf": csrf})
    assert again.status_code == 303  # the person sends it again: the console works as before
    async with pg_console.app.session_maker() as session:
        assert [n.text for n in (await session.exec(select(NeedNote))).all()] == ["Gọi lại thứ Hai"]


def lost() -> DBAPIError:
    return DBAPIError("SELECT 1", {}, Exception("connection is closed"), connection_invalidated=True)


@pytest.fixture
async def flaky(sqlite_engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """The console with three routes of its own: /flaky meets a lost connection the first time (after reading
    the request's body), /late once its response has started, /always every time; `calls` lists them."""
    web = create_app(create_context(make_settings(admin_ids=""), sqlite_engine, clock=clock))
    calls: list[str] = []

    async def flaky_route(request: Request) -> PlainTextResponse:
        calls.append(f"{request.method} {(await request.body()).decode()}")
        if len(calls) == 1:
            raise lost()
        return PlainTextResponse("trang bình thường")

    async def late_route() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            calls.append("late")
            yield b"a,b\n"
            raise lost()
        return StreamingResponse(chunks(), media_type="text/csv")

    async def always_route() -> None:
        calls.append("always")
        raise lost()

    web.add_api_route("/flaky", flaky_route, methods=["GET", "HEAD", "POST"])
    web.add_api_route("/late", late_route, methods=["GET"])
    web.add_api_route("/always", always_route, methods=["GET"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="https://console.test") as client:
        yield client, calls


async def test_a_page_is_served_again_only_once_and_only_before_its_response_started(
        flaky: tuple[httpx.AsyncClient, list[str]], caplog: pytest.LogCaptureFixture) -> None:
    client, calls = flaky
    caplog.set_level(logging.WARNING, logger="bot.web.app")
    r = await client.request("GET", "/flaky", content=b"")
    assert (r.status_code, r.text, calls) == (200, "trang bình thường", ["GET ", "GET "])
    assert "serving GET /flaky again on a new one" in caplog.text
    calls.clear()
    r = await client.get("/always")  # lost again on the new connection (the server is still down): told so
    assert r.status_code == 503 and calls == ["always", "always"]
    assert "tải lại trang sau giây lát" in r.text and "chưa được lưu" not in r.text
    calls.clear()
    with pytest.raises(DBAPIError):  # part of the response had gone: it cannot be taken back nor sent twice
        await client.get("/late")
    assert calls == ["late"]


async def test_a_form_meeting_a_lost_connection_is_not_sent_again(flaky: tuple[httpx.AsyncClient, list[str]]) -> None:
    client, calls = flaky
    client.cookies.set("kc_lang", "en")
    r = await client.post("/flaky", data={"text": "Gọi lại"})
    assert r.status_code == 503 and calls == ["POST text=G%E1%BB%8Di+l%E1%BA%A1i"]
    assert "your change may not have been saved. Please open the page again to check" in r.text
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


async def test_any_other_failure_gets_the_consoles_page_not_bare_text(sqlite_engine: AsyncEngine,
                                                                       clock: FakeClock) -> None:
    """Not a lost connection: our own bug. Still a page in the reader's language, with the console's headers,
    whose message htmx shows in its error box (base.html); the error itself goes on to the server's log."""
    web = create_app(create_context(make_settings(admin_ids=""), sqlite_engine, clock=clock))

    async def broken() -> None:
        raise RuntimeError("a bug of ours")

    web.add_api_route("/broken", broken, methods=["GET"])
    transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as client:
        r = await client.get("/broken")
    assert r.status_code == 500 and "text/html" in r.headers["content-type"]
    assert '<p class="alert">Đã có lỗi xảy ra.</p>' in r.text and "a bug of ours" not in r.text
    assert r.headers["x-frame-options"] == "DENY"
