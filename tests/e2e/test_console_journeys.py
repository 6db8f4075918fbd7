"""The staff console's journeys in headless Chromium (Debian's package) against the whole sandbox — its
Telegram and Zalo servers, the bot as a separate process sending the outbox, the console beside it — on the
seeded demo data. What people receive is read in the sandbox's web chat, as a sandbox user reads it:

* a staff member asks for a one-time code on the sign-in page, reads it in their chat (Telegram; on Zalo,
  staff by ZALO_ADMIN_IDS) and lands on the dashboard;
* staff decline two needs in the console: the registrants read the new status and the reason in their chats
  (one on Telegram, one on Zalo);
* staff import a 1,000-row workbook with bad rows: the dry run's counts, then exactly the rows it promised.

No sleeps: every wait is on a condition (Playwright's expect) with a generous deadline."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Settings
from bot.seed import FACILITIES, OWNER_1, STAFF, ZALO_CTV, ZALO_OWNER, Persona
from bot.services.communes import CommuneDirectory
from storage.db import create_engine
from storage.models import Facility, Need, User
from tests.e2e.sandbox_harness import SandboxRun
from tests.e2e.test_browser import CHROMIUM, FLAGS

pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed "
                                "(.ci/run installs it)")

DELIVERY_MS = 30_000  # through the outbox, the bot process and the sandbox to the web chat, on a loaded machine
PAGE_MS = 30_000  # a page that checks 1,000 rows


@pytest.fixture
async def sandbox_run(tmp_path: Path, migrated_template: Path,
                      monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SandboxRun]:
    """A sandbox as `python -m bot sandbox` starts it (not started yet: a test may set the environment
    first); no setting comes from the machine running the tests."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    run = SandboxRun(tmp_path, migrated_template)
    yield run
    await run.stop()
    log = run.log.read_text(errors="replace") if run.log.exists() else ""
    assert "Traceback" not in log, log[-3000:]
    assert run.proc is None or run.proc.returncode == 0, log[-3000:]  # SIGTERM: a clean stop


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def chat_of(browser: Any, sandbox: SandboxRun, persona: Persona) -> Any:
    """The persona's chat in the sandbox's web chat: what reached them so far, then what arrives."""
    from playwright.async_api import expect

    page = await browser.new_page()
    where = f"zalo={persona.zalo_id}" if persona.channel == "zalo" else f"user={persona.id}"
    await page.goto(f"{sandbox.chat_url}/#{where}")
    await expect(page.get_by_test_id("channel")).to_have_text("Zalo" if persona.channel == "zalo" else "Telegram",
                                                              ignore_case=True)
    return page


def bot_says(chat: Any, text: str) -> Any:
    return chat.get_by_test_id("bot-message").filter(has_text=text)


async def sign_in_with_code(console: Any, chat: Any, sandbox: SandboxRun, login: str) -> str:
    """Ask for a code on the sign-in page, read it in the chat, type it: the dashboard. Returns the message."""
    from playwright.async_api import expect

    await console.goto(sandbox.console_url + "/")
    await expect(console.locator("h1")).to_have_text("Đăng nhập")
    await console.get_by_label("Chưa có mật khẩu").fill(login)
    await console.get_by_role("button", name="Gửi mã cho tôi").click()
    await expect(console.get_by_role("status")).to_contain_text("mã 6 số")
    message = bot_says(chat, "Mã đăng nhập trang quản lý")
    await expect(message).to_have_count(1, timeout=DELIVERY_MS)
    text = await message.inner_text()
    found = re.search(r"\b(\d{6})\b", text)
    assert found is not None, text
    await console.get_by_label("Mã nhận được trong tin nhắn").fill(found.group(1))
    await console.get_by_role("button", name="Đăng nhập").click()
    await expect(console).to_have_url(sandbox.console_url + "/")
    await expect(console.locator("h1")).to_have_text("Tổng quan")
    return text


@pytest.mark.parametrize("channel", ["telegram", "zalo"])
async def test_a_staff_member_signs_in_with_a_code_from_their_sandbox_chat(
        sandbox_run: SandboxRun, browser: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, channel: str) -> None:
    if channel == "zalo":
        # A staff member on Zalo only: her Zalo account is staff by the settings (in the table she is still
        # the Tịnh Biên collaborator the demo data made her).
        monkeypatch.setenv("ZALO_ADMIN_IDS", ZALO_CTV.zalo_id or "")
    staff, login = (STAFF, "Hà") if channel == "telegram" else (ZALO_CTV, "Sa Ly")
    await sandbox_run.start()
    chat = await chat_of(browser, sandbox_run, staff)
    console = await browser.new_page()
    text = await sign_in_with_code(console, chat, sandbox_run, login)
    assert "10 phút" in text and "<b>" not in text
    await console.screenshot(path=str(tmp_path / f"dashboard-{channel}.png"), full_page=True)


async def seeded_need(sandbox: SandboxRun, persona: Persona, statuses: tuple[str, ...]) -> Need:
    """A need of the demo data that `persona` registered, in one of `statuses`."""
    engine = create_engine(f"sqlite+aiosqlite:///{sandbox.database}")
    try:
        async with AsyncSession(engine) as session:
            need = (await session.exec(
                select(Need).join(User, col(User.id) == col(Need.registrant_user_id))
                .where(User.channel == persona.channel, User.external_id == persona.external_id,
                       col(Need.status).in_(statuses)).order_by(col(Need.id)))).first()
    finally:
        await engine.dispose()
    assert need is not None and need.ref
    return need


async def decline(console: Any, sandbox: SandboxRun, need: Need, reason: str) -> None:
    from playwright.async_api import expect

    await console.goto(f"{sandbox.console_url}/needs?q={need.ref}")
    await console.get_by_role("link", name=need.ref).click()
    await console.get_by_label("Trạng thái mới").select_option("declined")
    await console.get_by_label("Lý do").fill(reason)
    await console.get_by_role("button", name="Đổi và báo cho người gửi").click()
    await expect(console.locator("h1 .status")).to_have_text("Không được hỗ trợ")


async def test_a_status_change_in_the_console_reaches_the_registrants_chat(
        sandbox_run: SandboxRun, browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    await sandbox_run.start()
    on_telegram = await seeded_need(sandbox_run, OWNER_1, ("received", "surveyed", "approved"))
    on_zalo = await seeded_need(sandbox_run, ZALO_OWNER, ("received", "surveyed", "approved"))
    console = await browser.new_page()
    await sign_in_with_code(console, await chat_of(browser, sandbox_run, STAFF), sandbox_run, "Hà")
    cases = [(on_telegram, OWNER_1, "Cơ sở đã nhận hỗ trợ máy này năm 2025."),
             (on_zalo, ZALO_OWNER, "Chi phí vượt mức hỗ trợ tối đa của đề án.")]
    for need, owner, reason in cases:
        chat = await chat_of(browser, sandbox_run, owner)
        await decline(console, sandbox_run, need, reason)
        told = bot_says(chat, need.ref or "")
        await expect(told).to_have_count(1, timeout=DELIVERY_MS)
        await expect(told).to_contain_text(f"Nhu cầu {need.ref}")
        await expect(told).to_contain_text("đã chuyển sang: Không được hỗ trợ.")
        await expect(told).to_contain_text(f"Lý do: {reason}")
        assert "<b>" not in await told.inner_text()
        await chat.screenshot(path=str(tmp_path / f"told-{owner.channel}.png"), full_page=True)


# --- a 1,000-row workbook ---

FOOD, CRAFT = "Chế biến thực phẩm", "Thủ công mỹ nghệ"  # the sectors' names in Vietnamese, as the console shows
PRODUCTS = [("bánh tráng", FOOD), ("chiếu cói", CRAFT), ("máy bơm", "Cơ khí"), ("rượu nếp", FOOD),
            ("giỏ lục bình", CRAFT), ("khô cá lóc", FOOD), ("gạch ống", "Vật liệu xây dựng"), ("khăn rằn", "Dệt may"),
            ("đường thốt nốt", FOOD), ("bàn ghế gỗ", CRAFT)]
GIVEN = ["Hai", "Ba", "Tư", "Năm", "Sáu", "Bảy", "Tám", "Chín", "Mười", "Út", "Lan", "Hoa", "Cúc", "Đào", "Mai",
         "Trúc", "Sen", "Huệ", "Phúc", "Lộc", "Thọ", "Tài", "Đức", "Nhân", "Nghĩa"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Chau",
          "Néang", "Quách", "Lâm", "Tô", "Trịnh", "Phan", "Mai", "Lưu", "Đinh", "Tạ", "Kha", "Thạch", "Danh",
          "Sơn", "Kiên", "Cao", "Hà", "Vương", "Tăng", "Khưu", "Diệp", "Lục", "Mạc", "Ông", "Từ", "Văn"]
HEADER = ["Tên cơ sở", "Chủ cơ sở", "Số điện thoại", "Xã/phường", "Ngành nghề", "Sản phẩm"]
EMPTY_NAMES = (100, 200)
UNKNOWN_COMMUNES = {300: "Xã Không Có Thật", 301: "Thị trấn Mộng Mơ", 302: "Phường Hoàn Kiếm"}
BAD_PHONES = {400: "12345", 401: "0912 345", 402: "không có số"}
UNACCENTED_COMMUNES = {500: "long xuyen", 501: "chau doc"}  # recognised: accepted with a fix
INTERNATIONAL_PHONES = (600, 601)  # "+84 903 …": written as usual, a fix
DUPLICATE = 700  # the demo data's first facility again, with its phone


def facility_rows(communes: CommuneDirectory) -> tuple[list[list[str]], list[str]]:
    """(the 1,000 rows, the names the import must write when possible duplicates are left out). Rows of one
    commune differ in their product and their owner's given name: none is close to another."""
    units = communes.all()
    rows: list[list[str]] = []
    for i in range(1000):
        commune, k = units[i % len(units)], i // len(units)
        product, sector = PRODUCTS[k]
        given, family = GIVEN[i % len(GIVEN)], FAMILY[i % len(FAMILY)]
        phone = f"0903{i:06d}"
        rows.append([f"Cơ sở {product} {family} {given}", f"{family} Văn {given}", phone, commune.name, sector,
                     product])
    for i in EMPTY_NAMES:
        rows[i][0] = ""
    for i, commune_name in UNKNOWN_COMMUNES.items():
        rows[i][3] = commune_name
    for i, phone in BAD_PHONES.items():
        rows[i][2] = phone
    for i, commune_name in UNACCENTED_COMMUNES.items():
        rows[i][3] = commune_name
    for i in INTERNATIONAL_PHONES:
        rows[i][2] = f"+84 903 {i // 1000:03d} {i % 1000:03d}"
    name, owner, _sector, _products, commune_q = FACILITIES[0]
    rows[DUPLICATE] = [name, owner, "0912 345 678", communes.search(commune_q)[0].name, FOOD, "nước mắm"]
    left_out = {*EMPTY_NAMES, *UNKNOWN_COMMUNES, *BAD_PHONES, DUPLICATE}
    return rows, [row[0] for i, row in enumerate(rows) if i not in left_out]


def write_workbook(path: Path, rows: list[list[str]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


async def facility_names(database: Path) -> Counter[str]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with AsyncSession(engine) as session:
            return Counter((await session.exec(select(Facility.name))).all())
    finally:
        await engine.dispose()


async def test_a_thousand_row_workbook_with_bad_rows_is_checked_then_imported(
        sandbox_run: SandboxRun, browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    rows, written = facility_rows(CommuneDirectory(91))
    workbook = write_workbook(tmp_path / "co-so-cnnt-2026.xlsx", rows)
    await sandbox_run.start()
    before = await facility_names(sandbox_run.database)
    console = await browser.new_page()
    await sign_in_with_code(console, await chat_of(browser, sandbox_run, STAFF), sandbox_run, "Hà")

    await console.goto(sandbox_run.console_url + "/facilities/import")
    await console.get_by_label("Tệp").set_input_files(workbook)
    await console.get_by_role("button", name="Tải lên và chọn cột").click()
    await expect(console.locator("main")).to_contain_text("1000 dòng", timeout=PAGE_MS)
    await console.get_by_role("button", name="Kiểm tra tệp").click()
    counts = {"accepted": 988, "fixed": 4, "refused": 8, "duplicates": 1}
    for kind, n in counts.items():
        await expect(console.locator(f"#count-{kind}")).to_have_text(str(n), timeout=PAGE_MS)
    await expect(console.locator("#refused tbody tr")).to_have_count(8)
    for refused in ("Xã Không Có Thật", "12345"):
        await expect(console.locator("#refused")).to_contain_text(refused)
    await expect(console.locator("#fixed tbody tr")).to_have_count(4)
    await expect(console.locator("#duplicates")).to_contain_text(FACILITIES[0][0])
    await console.screenshot(path=str(tmp_path / "import-report.png"), full_page=True)

    await console.get_by_role("button", name="Nhập 991 dòng", exact=True).click()
    await expect(console.get_by_role("status")).to_contain_text("Đã nhập 991 cơ sở", timeout=PAGE_MS)
    after = await facility_names(sandbox_run.database)
    assert after - before == Counter(written) and len(written) == 991
    assert after[FACILITIES[0][0]] == 1  # the possible duplicate was left out
