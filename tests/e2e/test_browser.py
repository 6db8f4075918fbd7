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

            await say("/start", "Tên cơ sở của anh/chị là gì?")
            await say("Cơ sở trà lài Núi Sam", "Họ và tên chủ cơ sở")
            await say("Lâm Thị Ngọc", "Số điện thoại của anh/chị")
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


async def test_the_web_chat_is_a_text_only_zalo_phone_too(server, tmp_path, bot_db) -> None:
    """A Zalo persona on a phone-size screen: numbered menus and no buttons, Enter sends and Shift+Enter
    breaks the line, every bubble has a time, the label stays on one line; a reload replays no toast."""
    from playwright.async_api import async_playwright, expect

    from bot.sandbox.run import ZALO_TOKEN, personas
    from bot.sandbox.zalo import ZaloSandbox

    zalo = ZaloSandbox(bot_token=ZALO_TOKEN)
    await zalo.start()
    server.zalo, server.personas = zalo, personas()
    process = BotProcess(server, tmp_path, ZALO_BOT_TOKEN=ZALO_TOKEN, ZALO_API_BASE=zalo.base_url)
    await process.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page(viewport={"width": 360, "height": 740})
            try:
                await page.goto(server.base_url + "/")
                await page.get_by_test_id("persona-new-zalo").click()
                await expect(page.locator("body")).to_have_class("zalo")
                await expect(page.get_by_test_id("channel")).to_have_text("Zalo")
                box = page.get_by_test_id("composer-input")
                await box.fill("chào")
                await box.press("Enter")
                reply = page.get_by_test_id("bot-message").last
                await expect(reply).to_contain_text("Tên cơ sở", timeout=30_000)
                assert await page.locator(".inline-btn:visible, .reply-btn:visible").count() == 0
                assert await box.get_attribute("maxlength") == "2000"

                await box.fill("Cơ sở bánh pía")
                await box.press("Shift+Enter")
                await box.type("Tân Huê")
                assert await box.input_value() == "Cơ sở bánh pía\nTân Huê"  # a new line, nothing sent
                await box.press("Enter")
                await expect(page.locator(".msg.user").last).to_contain_text("Tân Huê")
                await expect(page.get_by_test_id("bot-message")).to_have_count(2, timeout=30_000)
                times = await page.locator(".msg time").all_inner_texts()
                assert len(times) == 4 and all(len(t) == 5 and t[2] == ":" for t in times), times

                # A Telegram persona with a long label, on the same small screen: one line, shortened.
                await page.get_by_test_id("switch").click()
                await page.get_by_test_id("persona-1011").click()  # the Zalo owner's long label
                who = page.get_by_test_id("who")
                height, line = await who.evaluate(
                    "el => [el.getBoundingClientRect().height, parseFloat(getComputedStyle(el).lineHeight)]")
                assert height < 1.5 * line

                # A toast shows once, live; a reload does not show it again.
                await page.get_by_test_id("switch").click()
                await page.get_by_test_id("persona-new").click()
                user_id = int(page.url.rpartition("user=")[2])
                server.user(user_id)
                server.chats[user_id].events.append({"seq": server._next_seq(), "kind": "toast", "text": "Đã lưu."})
                await server._notify(user_id)
                await expect(page.get_by_test_id("toast")).to_have_text("Đã lưu.", timeout=10_000)
                await page.reload()
                await expect(page.get_by_test_id("composer-input")).to_be_visible()
                await page.wait_for_function("() => document.querySelectorAll('#messages .msg').length === 0")
                assert await page.get_by_test_id("toast").is_hidden()
            finally:
                await browser.close()
    finally:
        await process.stop()
        await zalo.stop()
