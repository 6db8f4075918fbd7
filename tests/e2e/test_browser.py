"""The web chat in headless Chromium (Debian's package, no browser download): a new user registers."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.harness import BotProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed "
                                "(.ci/run installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def test_a_new_user_registers_in_the_web_chat(server, bot: BotProcess) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page()
        try:
            await page.goto(server.base_url + "/")
            await page.get_by_test_id("persona-new").click()

            async def say(text: str, expect_text: str) -> None:
                await page.get_by_test_id("composer-input").fill(text)
                await page.get_by_test_id("composer-send").click()
                await expect(page.get_by_test_id("bot-message").last).to_contain_text(expect_text, timeout=15_000)

            async def press(label: str, expect_text: str) -> None:
                await page.locator(".inline-btn", has_text=label).last.click()
                await expect(page.get_by_test_id("bot-message").last).to_contain_text(expect_text, timeout=15_000)

            await say("/start", "Tên cơ sở của bạn là gì?")
            await say("Cơ sở trà lài Núi Sam", "Họ và tên chủ cơ sở")
            await say("Lâm Thị Ngọc", "Số điện thoại của bạn")
            share = page.get_by_test_id("reply-btn").first
            await expect(share).to_contain_text("Chia sẻ")
            page.once("dialog", lambda dialog: dialog.accept("0912 345 678"))
            await share.click()
            await expect(page.get_by_test_id("bot-message").last).to_contain_text("xã/phường nào", timeout=15_000)
            await say("vinh te", "ngành nghề")
            await press("Chế biến", "Sản phẩm chính")
            await say("trà lài, trà sen", "đồng ý")
            await press("Tôi đồng ý", "Cơ sở trà lài Núi Sam")
            await press("Xác nhận", "đã được đăng ký")
            bubbles = await page.get_by_test_id("bot-message").all_inner_texts()
            assert any("Phường Vĩnh Tế" in b for b in bubbles)  # the summary, rendered from Telegram HTML
            await page.screenshot(path=str(bot.workdir / "web-chat.png"))
        finally:
            await browser.close()
