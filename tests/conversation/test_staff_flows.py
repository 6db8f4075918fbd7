"""The staff flows on the pipeline, on both renderers: the inbox (filters, detail, moves, decline, export),
/collaborators with revoke and cancel, invitation codes typed on any channel, /reports — and every list
within each channel's limits with a province's worth of data."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.channels.capabilities import TELEGRAM, TEXT
from bot.channels.telegram_render import TelegramMessage, TelegramRenderer, _visible, unpack_callback
from bot.channels.text import TextRenderer
from bot.channels.zalo.inbound import command_or_text
from bot.clock import FakeClock
from bot.context import AppContext
from bot.conversation.events import Action, ChooseEvent, CommandEvent, Event, TextEvent, Who
from bot.conversation.pipeline import flatten
from bot.conversation.split import utf16_len
from bot.services import accounts
from storage.models import Facility, Invite, Need, ReportSchedule, ReportSubmission, User
from tests.conftest import STAFF_ID, make_settings

STAFF_TG = Who("telegram", str(STAFF_ID), "Hà", "en")
STAFF_ZALO = Who("zalo", "5a1fstaff", "Hà", "en")
OWNER_ZALO = Who("zalo", "0a0bowner", "Lan", "en")
ZALO_TOKEN = "3141592653:secret-part"


def app_for(engine: AsyncEngine, clock: FakeClock, **settings: Any) -> AppContext:
    app = create_app(make_settings(**settings), engine, clock=clock)
    app.bot_username = "khuyencong_test_bot"
    return app


async def add(app: AppContext, *rows: Any) -> None:
    async with app.session_maker() as s:
        for row in rows:
            s.add(row)
        await s.commit()


async def staff_on_zalo(app: AppContext, clock: FakeClock) -> None:
    now = clock.now()
    await add(app, User(channel="zalo", external_id=STAFF_ZALO.external_id, full_name="Trần Thu Hà", role="staff",
                        locale="en", created_at=now, updated_at=now))


async def seed_province(app: AppContext, clock: FakeClock, *, needs: int = 60, invites: int = 30) -> None:
    """A collaborator in every commune (102), needs in many communes, pending invitations, a report schedule."""
    now = clock.now()
    communes = [c.code for c in app.communes.all()]
    people = [User(channel="telegram", external_id=str(50_000 + i), role="collaborator", commune_code=code,
                   full_name=f"Cộng tác viên có một cái tên khá dài số {i}", phone="+84912345678", locale="vi",
                   created_at=now, updated_at=now) for i, code in enumerate(communes)]
    await add(app, *people)
    facilities = [Facility(name=f"Cơ sở sản xuất nước mắm truyền thống gia đình số {i}", commune_code=communes[i % 40],
                           sector="food", created_at=now, updated_at=now) for i in range(needs)]
    await add(app, *facilities)
    await add(app, *(Need(ref=f"NC-2026-{f.id:04d}", facility_id=f.id, commune_code=f.commune_code,
                          category="training", description="Cần tập huấn " * 40, status="received",
                          created_at=now - timedelta(minutes=i), updated_at=now)
                     for i, f in enumerate(facilities)))
    await add(app, *(Invite(token=f"CODE{i:04d}", role="collaborator", commune_code=communes[i], created_at=now,
                            expires_at=now + timedelta(days=7)) for i in range(invites)))
    await add(app, ReportSchedule(title="Báo cáo tháng của cộng tác viên xã phường", frequency="monthly", day=10,
                                  reminder_days=[3, 1], created_at=now))


class Staff:
    """A person driving the pipeline through one renderer, choosing by label like a person would."""

    def __init__(self, app: AppContext, who: Who, renderer: Any) -> None:
        self.app, self.who, self.renderer = app, who, renderer
        self.messages: list[Any] = []

    @property
    def text_channel(self) -> bool:
        return not self.renderer.caps.buttons

    async def act(self, action: Action) -> list[Any]:
        rendered = await self.app.pipeline.handle(Event(self.who, action), self.renderer)
        self.messages = flatten(rendered)
        check_limits(self.messages, self.renderer.caps)
        return self.messages

    async def send(self, text: str) -> list[Any]:
        return await self.act(command_or_text(text))

    async def choose(self, label: str) -> list[Any]:
        """Press the button (Telegram) or type the number (text) of the choice whose label holds `label`."""
        for message in reversed(self.messages):
            if self.text_channel:
                for line in message.text.splitlines():
                    number, dot, rest = line.partition(". ")
                    if dot and number.isdigit() and label in rest:
                        return await self.act(TextEvent(number))
                continue
            for row in (message.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button["text"]:
                        return await self.act(ChooseEvent(*unpack_callback(button["callback_data"])))
        raise AssertionError(f"no choice with {label!r} in {self.text}")

    def has_choice(self, label: str) -> bool:
        if self.text_channel:
            return any(line.split(". ", 1)[-1].find(label) >= 0 and line.split(". ", 1)[0].isdigit()
                       for m in self.messages for line in m.text.splitlines())
        return any(label in b["text"] for m in self.messages
                   for row in (m.reply_markup or {}).get("inline_keyboard", []) for b in row)

    @property
    def text(self) -> str:
        """What the person sees: the texts, and on Telegram the buttons' labels as "[label]" lines."""
        def seen(m: Any) -> str:
            buttons = [b["text"] for row in (getattr(m, "reply_markup", None) or {}).get("inline_keyboard", [])
                       for b in row]
            return "\n".join([m.text, *(f"[{label}]" for label in buttons)])
        return "\n---\n".join(seen(m) for m in self.messages)


def check_limits(messages: list[Any], caps: Any) -> None:
    for message in messages:
        if isinstance(message, TelegramMessage):
            assert utf16_len(_visible(message.text)) <= caps.max_text
            buttons = [b for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row]
            assert len(buttons) <= caps.max_buttons
            assert all(len(b["callback_data"].encode()) <= caps.max_button_data for b in buttons)
        else:
            assert len(message.text) <= caps.max_text


RENDERERS = [pytest.param(TelegramRenderer, id="telegram"), pytest.param(TextRenderer, id="text")]


def staff_who(renderer: Any) -> Who:
    return STAFF_TG if renderer is TelegramRenderer else STAFF_ZALO


async def _needs(app: AppContext) -> list[Need]:
    async with app.session_maker() as s:
        return list((await s.exec(select(Need).order_by(Need.id))).all())


# --- the inbox ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_staff_filter_open_move_and_decline(engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    app = app_for(engine, clock)
    await staff_on_zalo(app, clock)
    await seed_province(app, clock, needs=3, invites=0)
    async with app.session_maker() as s:  # one of them is a machinery need
        need = (await s.exec(select(Need).where(Need.ref == "NC-2026-0002"))).one()
        need.category = "machinery"
        s.add(need)
        await s.commit()
    staff = Staff(app, staff_who(renderer), renderer())

    await staff.send("/inbox")
    assert "3 found" in staff.text and "Kind: all" in staff.text
    await staff.choose("Kind ▾")
    await staff.choose("Advanced machinery")
    assert "1 found" in staff.text and "NC-2026-0002" in staff.text and "NC-2026-0001" not in staff.text
    await staff.choose("NC-2026-0002")
    assert "Kind: Advanced machinery and equipment" in staff.text and "Cơ sở sản xuất" in staff.text
    await staff.choose("Mark surveyed")
    assert "Status changed" in staff.text and "Surveyed on site" in staff.text
    await staff.choose("Decline")
    assert "Why is this need declined" in staff.text
    if staff.text_channel:
        await staff.send("Không thuộc đối tượng hỗ trợ")
    else:
        await staff.act(TextEvent("Không thuộc đối tượng hỗ trợ"))
    assert "has been declined" in staff.text
    need = next(n for n in await _needs(app) if n.ref == "NC-2026-0002")
    assert (need.status, need.decline_reason) == ("declined", "Không thuộc đối tượng hỗ trợ")
    await staff.send("/inbox")
    await staff.choose("Status ▾")
    await staff.choose("Declined")
    assert "1 found" in staff.text and "NC-2026-0002" in staff.text


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_staff_flows_refuse_everyone_else(engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    app = app_for(engine, clock)
    await seed_province(app, clock, needs=1, invites=1)
    person = Staff(app, OWNER_ZALO if renderer is TextRenderer else Who("telegram", "4242", "Lan", "en"), renderer())
    for command in ("/inbox", "/export", "/invite", "/collaborators", "/reports", "/reportschedule"):
        await person.send(command)
        assert person.text == "Sorry, this is only available to staff of the khuyến công centre.", command
    (need,) = await _needs(app)
    for action in (ChooseEvent("ib.m", f"{need.id}|surveyed||||"), ChooseEvent("co.ry", "1"),
                   ChooseEvent("co.xy", "CODE0000"), ChooseEvent("ib.x", "||||")):
        await person.act(action)
        assert "only available to staff" in person.text
    assert (await _needs(app))[0].status == "received"
    async with app.session_maker() as s:
        assert len((await s.exec(select(Invite))).all()) == 1
        assert (await s.exec(select(User).where(User.external_id == "50000"))).one().role == "collaborator"


async def test_a_page_past_the_end_shows_the_last_page(engine: AsyncEngine, clock: FakeClock) -> None:
    app = app_for(engine, clock)
    await seed_province(app, clock, needs=10, invites=0)
    staff = Staff(app, STAFF_TG, TelegramRenderer())
    await staff.act(ChooseEvent("ib.l", "|||7"))  # shown when there were more needs
    assert "Page 2 of 2" in staff.text and "[NC-2026-0010" in staff.text and staff.has_choice("◀ Previous")


async def test_forged_and_stale_choices_are_not_found(engine: AsyncEngine, clock: FakeClock) -> None:
    app = app_for(engine, clock)
    staff = Staff(app, STAFF_TG, TelegramRenderer())
    for action in (ChooseEvent("ib.o", "99999||||"), ChooseEvent("ib.l", "bogus|||"), ChooseEvent("ib.o", "1|x"),
                   ChooseEvent("ib.m", "1|nonsense||||"), ChooseEvent("co.p", "-1"), ChooseEvent("rp.p", "1|0"),
                   ChooseEvent("ib.x", "received|machinery|abc|")):
        (notice,) = await staff.act(action)
        assert (notice.method, notice.text) == ("notice", "This item no longer exists or is not yours. "
                                                          "Nothing was changed.")


# --- exports ----------------------------------------------------------------------------------------------


def read_csv(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig")
    assert text.startswith("sep=,\r\n")
    return list(csv.reader(io.StringIO(text.removeprefix("sep=,\r\n"), newline="")))


async def test_export_on_telegram_follows_the_inbox_filters(engine: AsyncEngine, clock: FakeClock) -> None:
    app = app_for(engine, clock)
    await seed_province(app, clock, needs=5, invites=0)
    async with app.session_maker() as s:
        need = (await s.exec(select(Need).where(Need.ref == "NC-2026-0003"))).one()
        need.status = "approved"
        s.add(need)
        await s.commit()
    staff = Staff(app, STAFF_TG, TelegramRenderer())
    (everything,) = await staff.send("/export")
    assert everything.method == "document" and everything.text == "All needs, for Excel."
    assert everything.file.name == "nhu-cau_tat-ca_2026-03-02.csv"
    assert len(read_csv(everything.file.data)) == 1 + 5

    await staff.send("/inbox")
    await staff.choose("Status ▾")
    await staff.choose("Approved")
    (filtered,) = await staff.choose("Export these")
    assert filtered.method == "document"
    assert filtered.file.name == "nhu-cau_da-duyet-dua-vao-de-an-ke-hoach_2026-03-02.csv"
    _header, *rows = read_csv(filtered.file.data)
    assert [r[0] for r in rows] == ["NC-2026-0003"]


async def test_export_on_a_text_channel_says_where_to_get_the_file(engine: AsyncEngine, clock: FakeClock) -> None:
    app = app_for(engine, clock)
    await staff_on_zalo(app, clock)
    await seed_province(app, clock, needs=2, invites=0)
    staff = Staff(app, STAFF_ZALO, TextRenderer())
    await staff.send("/export")
    assert staff.text == ("Exports are files, and files cannot be sent on this channel. Send /export to the bot on "
                          "Telegram to get the CSV file.")
    await staff.send("/inbox")
    await staff.choose("Export these")
    assert "Send /export to the bot on Telegram" in staff.text
    await staff.send("/reports")
    await staff.choose("Export (CSV)")
    assert "Open /reports on Telegram to get the CSV file." in staff.text


async def test_report_export_names_the_report_and_keeps_phones_as_text(engine: AsyncEngine, clock: FakeClock) -> None:
    app = app_for(engine, clock)
    await seed_province(app, clock, needs=0, invites=0)
    async with app.session_maker() as s:
        person = (await s.exec(select(User).where(User.external_id == "50000"))).one()
        s.add(ReportSubmission(schedule_id=1, period="2026-03", user_id=person.id, commune_code=person.commune_code,
                               facilities_visited=12, needs_collected=3, created_at=clock.now()))
        await s.commit()
    staff = Staff(app, STAFF_TG, TelegramRenderer())
    await staff.send("/reports")
    (sent,) = await staff.choose("Export (CSV)")
    assert sent.file.name == "bao-cao-cong-tac-vien_bao-cao-thang-cua-cong-tac-vien-xa-phuong_2026-03.csv"
    header, *rows = read_csv(sent.file.data)
    assert len(rows) == 102 and header[2] == "Điện thoại"
    (row,) = [r for r in rows if r[1] == "Cộng tác viên có một cái tên khá dài số 0"]
    assert row[2] == "0912 345 678" and row[3:6] == ["có", "12", "3"]


# --- lists within every channel's limits -----------------------------------------------------------------------


async def walk_pages(staff: Staff, command: str, seen: list[str]) -> int:
    """Send `command` and follow Next ▶ to the last page; returns the number of pages."""
    await staff.send(command)
    pages = 1
    seen.append(staff.text)
    while staff.has_choice("Next ▶"):
        await staff.choose("Next ▶")
        seen.append(staff.text)
        pages += 1
        assert pages < 50
    return pages


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_long_lists_are_paged_within_the_channels_limits(engine: AsyncEngine, clock: FakeClock,
                                                               renderer: Any) -> None:
    app = app_for(engine, clock)
    await staff_on_zalo(app, clock)
    await seed_province(app, clock)
    staff = Staff(app, staff_who(renderer), renderer())  # check_limits runs on every message received

    seen: list[str] = []
    assert await walk_pages(staff, "/collaborators", seen) >= 14  # 102 collaborators, staff, 30 invitations
    everything = "\n".join(seen)
    assert everything.count("• Cộng tác viên có một cái tên khá dài số") == 102
    assert everything.count("valid until") == 30
    assert "Collaborators (102)" in everything or "<b>Collaborators</b> (102)" in everything

    seen = []
    assert await walk_pages(staff, "/inbox", seen) == 8  # 60 needs, 8 a page
    assert sum(text.count("NC-2026-") for text in seen) >= 60

    seen = []
    assert await walk_pages(staff, "/reports", seen) == 5  # 102 collaborators, 25 a page
    assert sum(text.count("❌") for text in seen) == 102

    await staff.send("/inbox")
    await staff.choose("Commune ▾")  # 40 communes have needs, 20 a page, in alphabetical order
    assert "page 1 of 2" in staff.text and staff.has_choice("Next ▶")
    await staff.choose("Next ▶")
    assert "page 2 of 2" in staff.text
    assert not staff.has_choice("Next ▶") and staff.has_choice("All communes")
    await staff.choose(staff.text.split("Xã ", 1)[1].split("\n")[0].rstrip("]"))
    assert "Commune: Xã " in staff.text


async def test_collaborators_revoke_and_cancel_by_typing(engine: AsyncEngine, clock: FakeClock) -> None:
    app = app_for(engine, clock)
    await staff_on_zalo(app, clock)
    await seed_province(app, clock, needs=0, invites=2)
    staff = Staff(app, STAFF_ZALO, TextRenderer())
    await staff.send("/collaborators")
    await staff.choose("Revoke Cộng tác viên có một cái tên khá dài số 0")
    assert "Revoke this person's access?" in staff.text
    await staff.choose("Yes, revoke")
    assert "is no longer a collaborator" in staff.text
    await staff.send("/collaborators")
    for _page in range(20):
        if staff.has_choice("Cancel the invitation"):
            break
        await staff.choose("Next ▶")
    await staff.choose("Cancel the invitation")
    await staff.choose("Yes, cancel the invitation")
    assert "The invitation has been cancelled" in staff.text
    async with app.session_maker() as s:
        assert (await s.exec(select(User).where(User.external_id == "50000"))).one().role == "user"
        assert len((await s.exec(select(Invite))).all()) == 1


# --- invitation codes ----------------------------------------------------------------------------------------------


async def _invite_code(staff: Staff) -> str:
    await staff.send("/invite")
    await staff.choose("Collaborator of a commune")
    await staff.send("long xuyen")
    line = next(line for line in staff.text.splitlines() if line.startswith("Invitation code:"))
    return line.removeprefix("Invitation code:").strip().removeprefix("<b><code>").removesuffix("</code></b>")


async def test_an_invitation_shows_a_code_both_links_and_is_claimed_by_typing_it(engine: AsyncEngine,
                                                                                 clock: FakeClock) -> None:
    app = app_for(engine, clock, zalo_bot_token=ZALO_TOKEN)
    await staff_on_zalo(app, clock)
    staff = Staff(app, STAFF_ZALO, TextRenderer())
    code = await _invite_code(staff)
    assert len(code) == 8 and all(ch in accounts.CODE_ALPHABET for ch in code)
    assert f"https://t.me/khuyencong_test_bot?start={code}" in staff.text
    assert "On Zalo, open https://zalo.me/3141592653 and send the code." in staff.text
    assert "secret-part" not in staff.text

    newcomer = Staff(app, Who("zalo", "c0ffee01", "Cộng", "en"), TextRenderer())
    typed = f"{code[:4].lower()}-{code[4:].lower()}"  # any case, with a dash
    await newcomer.act(TextEvent(typed))
    assert "collaborator for Phường Long Xuyên" in newcomer.text
    await newcomer.send("Lê Văn Cộng")
    await newcomer.send("0987 654 321")
    await newcomer.choose("Confirm")
    assert "You are now the collaborator for Phường Long Xuyên" in newcomer.text
    async with app.session_maker() as s:
        user = (await s.exec(select(User).where(User.external_id == "c0ffee01"))).one()
        invite = (await s.exec(select(Invite))).one()
    assert (user.role, user.commune_code) == ("collaborator", 30307)
    assert invite.token == code and invite.used_by_user_id == user.id

    again = Staff(app, STAFF_TG, TelegramRenderer())
    other = Staff(app, Who("telegram", "777", "Ba", "en"), again.renderer)
    await other.act(CommandEvent("start", code.lower()))
    assert "already been used" in other.text


async def test_a_code_on_telegram_without_zalo_and_a_word_that_is_no_code(engine: AsyncEngine,
                                                                          clock: FakeClock) -> None:
    app = app_for(engine, clock)
    staff = Staff(app, STAFF_TG, TelegramRenderer())
    code = await _invite_code(staff)
    assert "zalo.me" not in staff.text
    newcomer = Staff(app, Who("telegram", "888", "Ba", "en"), TelegramRenderer())
    await newcomer.act(CommandEvent("start", f" {code[:3]} {code[3:]} ".lower()))
    assert "collaborator</b> for Phường Long Xuyên" in newcomer.text
    stranger = Staff(app, Who("zalo", "d00d", "Tư", "en"), TextRenderer())
    await stranger.act(TextEvent("ABCD-2345"))  # shaped like a code, none such
    assert "This invitation code or link is not valid" in stranger.text
    await stranger.act(TextEvent("cam xuc"))  # an ordinary word is no code: a newcomer is offered registration
    assert "Would you like to register your facility?" in stranger.text
    await stranger.act(TextEvent(f"start {code}"))  # "start CODE" without the slash, as typed on Zalo
    assert "collaborator for Phường Long Xuyên" in stranger.text


def test_telegram_and_text_capabilities_are_what_the_limits_check() -> None:
    assert (TELEGRAM.max_text, TELEGRAM.max_buttons, TELEGRAM.max_button_data, TEXT.max_text) == (4096, 100, 64, 2000)
