"""The console's announcements in headless Chromium: the preview follows what is typed (htmx), the audience's
count follows the ticks, a test copy, send, and the progress fragment refreshing by itself to the end."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.services import announcements as ann_svc
from storage.models import Announcement, OutboxMessage
from tests.e2e.test_browser import CHROMIUM, FLAGS
from tests.e2e.test_console_browser import served
from tests.web.conftest import PASSWORD, Console

pytestmark = pytest.mark.skipif(
    not shutil.which("chromium"), reason="Debian's chromium is not installed (.ci/run installs it)"
)
__all__ = ["served"]


async def _finish(console: Console) -> None:
    """What the senders and the scheduler's tick do: every row sent, then the broadcast closed."""
    async with console.app.session_maker() as session:
        await session.exec(
            update(OutboxMessage)  # type: ignore[call-overload]
            .where(col(OutboxMessage.kind) == "announcement")
            .values(status="sent", sent_at=console.clock.now())
        )
        for ann in await ann_svc.running(session):
            await ann_svc.finish_if_done(session, clock=console.clock, tz=console.app.tz, ann=ann)
        await session.commit()


@contextlib.asynccontextmanager
async def composing(base: str) -> AsyncIterator[Any]:
    """Headless Chromium signed in as staff, on the page that composes an announcement; closed at the end."""
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(base + "/announcements/new")
            await page.get_by_label("Tên đăng nhập", exact=True).fill("canbo")
            await page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
            await page.get_by_role("button", name="Đăng nhập").click()
            await expect(page).to_have_url(base + "/announcements/new")
            yield page
        finally:
            await browser.close()


async def test_compose_preview_count_test_copy_send_and_watch_progress(
    served: tuple[Console, str], tmp_path: Path
) -> None:
    from playwright.async_api import expect

    console, base = served
    async with composing(base) as page:
        await page.get_by_label("Tiêu đề").fill("Lớp tập huấn thương mại điện tử")
        await page.locator("textarea[name=body]").fill("Học viên được hỗ trợ <b>học phí</b>.")
        phone = page.locator("#phone .phone")
        await expect(phone).to_contain_text("Lớp tập huấn thương mại điện tử")  # the preview followed
        await expect(phone).to_contain_text("Học viên được hỗ trợ học phí.")
        await page.get_by_role("button", name="Lưu bản nháp").click()
        await expect(page.locator("h1")).to_contain_text("Lớp tập huấn thương mại điện tử")

        counts = page.locator("#counts")
        await expect(counts).to_contain_text("4 người")
        await page.get_by_label("Cộng tác viên", exact=True).check()
        await expect(counts).to_contain_text("1 người")  # counted again at the tick
        await expect(counts).to_contain_text("Zalo: 1")
        await page.get_by_role("button", name="Lưu người nhận").click()
        await page.screenshot(path=str(tmp_path / "console-announcement.png"), full_page=True)

        await page.get_by_role("button", name="📨 Gửi thử cho tôi").click()
        await expect(page.locator(".info")).to_be_visible()
        await page.get_by_role("button", name="🚀 Gửi ngay").click()
        await expect(page.get_by_role("button", name="⏹ Dừng gửi")).to_be_visible()
        progress = page.locator("#progress")
        await expect(progress).to_contain_text("0 / 1")
        await _finish(console)
        await expect(progress).to_contain_text("1 / 1", timeout=10_000)  # polled, no reload
        await expect(progress.locator(".status")).to_have_text("Đã gửi")
        # The page reloaded itself once the status changed: its heading and actions follow.
        await expect(page.locator("h1 .status")).to_have_text("Đã gửi")
        await expect(page.get_by_role("button", name="⏹ Dừng gửi")).to_have_count(0)
        await page.screenshot(path=str(tmp_path / "console-announcement-sent.png"), full_page=True)
    async with console.app.session_maker() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        (ann,) = (await session.exec(select(Announcement))).all()
    assert [(r.kind, r.chat_id) for r in rows] == [("announcement_test", "5001"), ("announcement", "z-77")]
    assert ann.status == "sent"


async def test_an_htmx_request_that_fails_says_so_until_one_succeeds(served: tuple[Console, str]) -> None:
    """The preview follows what is typed through htmx POSTs; one refused (a token gone stale: the session was
    signed in again elsewhere) shows the refusal above the page instead of nothing, and the next one that goes
    through takes it away."""
    from playwright.async_api import expect

    _console, base = served
    async with composing(base) as page:
        box, phone = page.locator("#console-error"), page.locator("#phone .phone")
        await expect(box).to_be_hidden()

        token = await page.evaluate("document.body.getAttribute('hx-headers')")
        await page.evaluate("document.body.setAttribute('hx-headers', '{\"X-CSRF-Token\": \"stale\"}')")
        await page.get_by_label("Tiêu đề").fill("Hội chợ hàng thủ công")
        await expect(box).to_be_visible()
        await expect(box).to_have_text("Yêu cầu bị từ chối (có thể đã hết hạn): hãy tải lại trang rồi thử lại.")
        await expect(phone).not_to_contain_text("Hội chợ hàng thủ công")  # nothing else on the page moved

        await page.evaluate("token => document.body.setAttribute('hx-headers', token)", token)
        await page.get_by_label("Tiêu đề").fill("Hội chợ hàng thủ công 2027")
        await expect(phone).to_contain_text("Hội chợ hàng thủ công 2027")
        await expect(box).to_be_hidden()
