"""The staff console in headless Chromium (Debian's package, as the web chat's test): sign in with a
password, search without accents (htmx), change a need's status (the registrant's notice is queued in the
outbox), export XLSX and read it back, switch to English."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app as create_context
from bot.clock import FakeClock
from bot.web.app import create_app
from storage.models import OutboxMessage
from tests.conftest import make_settings
from tests.e2e.test_browser import CHROMIUM, FLAGS
from tests.web.conftest import PASSWORD, Console, _people

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed "
                                "(.ci/run installs it)")


@pytest.fixture
async def served(sqlite_engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[tuple[Console, str]]:
    """The console served by uvicorn in this event loop (the browser is the separate process)."""
    import uvicorn

    app = create_context(make_settings(admin_ids=""), sqlite_engine, clock=clock)
    people = await _people(app, clock)
    # A socket already listening: the browser's first request waits in its backlog until uvicorn serves it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(app), log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient() as client:
        yield Console(app=app, client=client, clock=clock, people=people), f"http://127.0.0.1:{port}"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task
    sock.close()


async def test_staff_sign_in_search_change_status_and_export(served: tuple[Console, str], tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    console, base = served
    need = await console.add_need()
    await console.add_need(facility="Xưởng mộc Tân Phát", owner="Trần Bình", phone="+84987654321")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(accept_downloads=True)
        try:
            await page.goto(base + "/needs")
            await expect(page.locator("h1")).to_have_text("Đăng nhập")
            await page.get_by_label("Tên đăng nhập", exact=True).fill("canbo")
            await page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
            await page.get_by_role("button", name="Đăng nhập").click()
            await expect(page).to_have_url(base + "/needs")
            rows = page.locator("#needs-table tbody tr")
            await expect(rows).to_have_count(2)
            await page.get_by_label("Tìm kiếm").fill("nuoc mam")  # htmx: the table alone is replaced
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("Cơ sở nước mắm Hưng Thịnh")
            assert "q=nuoc%20mam" in page.url  # the address follows (htmx pushes it)
            async with page.expect_download() as info:
                await page.get_by_role("link", name="Xuất XLSX").click()
            download = await info.value
            assert download.suggested_filename.endswith(".xlsx")
            await download.save_as(tmp_path / download.suggested_filename)
            sheet = openpyxl.load_workbook(tmp_path / download.suggested_filename).active
            assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [need.ref]
            await page.screenshot(path=str(tmp_path / "console-needs.png"), full_page=True)

            await page.get_by_role("link", name=need.ref).click()
            await page.get_by_label("Trạng thái mới").select_option("surveyed")
            await page.get_by_label("Lý do").fill("Đã đến khảo sát")
            await page.get_by_role("button", name="Đổi và báo cho người gửi").click()
            await expect(page.locator("h1 .status")).to_have_text("Đã khảo sát thực tế")
            await expect(page.locator(".timeline")).to_contain_text("Đã đến khảo sát")
            await page.screenshot(path=str(tmp_path / "console-need.png"), full_page=True)
            async with console.app.session_maker() as session:
                sent = (await session.exec(select(OutboxMessage))).all()
            assert [(m.kind, m.user_id) for m in sent] == [("need_status", console.people["owner"].id)]

            await page.get_by_role("link", name="English").click()
            await expect(page.locator("h1 .status")).to_have_text("Surveyed on site")
            await page.get_by_role("link", name="Dashboard").click()
            await expect(page.locator(".lead")).to_contain_text("2 new needs")
            await page.screenshot(path=str(tmp_path / "console-dashboard.png"), full_page=True)
        finally:
            await browser.close()
