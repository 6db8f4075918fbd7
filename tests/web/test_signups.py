"""An announcement's sign-ups in the console: each answer under its question, participant status changed with
htmx (the person is told through the outbox, the change is audited), capacity and the waiting list, filters,
and the exports read back (XLSX with openpyxl, CSV as Excel opens it)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

from openpyxl import load_workbook
from sqlmodel import col, select

from storage.models import Announcement, AuditEntry, OutboxMessage, Signup
from tests.conftest import telegram_view
from tests.web.conftest import Console


async def _csrf(console: Console, ann_id: int) -> str:
    page = await console.client.get(f"/announcements/{ann_id}/signups")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


async def _signups(console: Console, ann_id: int) -> list[Signup]:
    async with console.app.session_maker() as session:
        return list((await session.exec(select(Signup).where(Signup.announcement_id == ann_id)
                                        .order_by(col(Signup.id)))).all())


async def test_the_table_shows_each_answer_under_its_question_and_the_waiting_list(console: Console) -> None:
    ann = await console.add_fair(capacity=1, signers=("owner", "collaborator"),
                                 answers=(("Nước mắm cá linh", "2"), ("Mắm thái", "1")))
    await console.sign_in_as("staff")
    page = await console.client.get(f"/announcements/{ann.id}/signups")
    assert page.status_code == 200
    text = page.text
    assert f'<a href="/announcements/{ann.id}">‹ Hội chợ CNNT Vĩnh Long 2026</a>' in text
    headers = re.findall(r"<th>([^<]*)</th>", text)
    assert headers[headers.index("Sản phẩm trưng bày?") + 1] == "Cần mấy gian hàng?"
    owner_row = text[text.index('id="signup-'):text.rindex('id="signup-')]
    assert "Nguyễn Thị Lan" in owner_row and "0912 345 678" in owner_row and "Cơ sở nước mắm Hưng Thịnh" in owner_row
    assert '<td class="pre">Nước mắm cá linh</td><td class="pre">2</td>' in owner_row
    assert "Danh sách chờ" not in owner_row
    ctv_row = text[text.rindex('id="signup-'):]
    assert "Phạm Cộng Tác" in ctv_row and '<td class="pre">Mắm thái</td>' in ctv_row
    assert "Danh sách chờ: số 1" in ctv_row
    assert "Đã có 1/1 suất; 1 người trong danh sách chờ." in text
    assert "Danh sách chờ (1)" in text and "Đã đăng ký (2)" in text
    waiting = await console.client.get(f"/announcements/{ann.id}/signups?status=waiting",
                                       headers={"HX-Request": "true"})
    assert "Phạm Cộng Tác" in waiting.text and "Nguyễn Thị Lan" not in waiting.text
    assert "<html" not in waiting.text  # the table only
    missing = await console.client.get("/announcements/999/signups")
    assert missing.status_code == 404 and "Không có thông báo này." in missing.text


async def test_a_status_change_with_htmx_notifies_the_person_and_is_audited(console: Console) -> None:
    ann = await console.add_fair(signers=("owner",))
    (signup,) = await _signups(console, ann.id)
    await console.sign_in_as("staff")
    token = await _csrf(console, ann.id)
    r = await console.client.post(f"/announcements/{ann.id}/signups/{signup.id}/status",
                                  data={"to": "dossier", "reason": "Đủ giấy tờ"},
                                  headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 200 and "<html" not in r.text
    assert '<span class="status s-dossier">Đã nhận hồ sơ</span>' in r.text and "Đủ giấy tờ" in r.text
    async with console.app.session_maker() as session:
        stored = await session.get(Signup, signup.id)
        (row,) = (await session.exec(select(OutboxMessage))).all()
        (entry,) = (await session.exec(select(AuditEntry).where(AuditEntry.action == "signup_status"))).all()
    assert (stored.participant_status, stored.participant_reason, stored.participant_changed_by_user_id) == (
        "dossier", "Đủ giấy tờ", console.people["staff"].id)
    assert (row.user_id, row.chat_id, row.kind, row.status) == (console.people["owner"].id, "6001", "signup_status",
                                                                "pending")
    assert "Trạng thái đăng ký tham gia “Hội chợ CNNT Vĩnh Long 2026” của anh/chị: Đã nhận hồ sơ." in telegram_view(row)
    assert (entry.actor_user_id, entry.target_kind, entry.target_id, entry.detail["to"]) == (
        console.people["staff"].id, "announcement", ann.id, "dossier")
    # A step no longer possible (the page was stale) is refused politely; nothing changes.
    again = await console.client.post(f"/announcements/{ann.id}/signups/{signup.id}/status",
                                      data={"to": "dossier", "csrf": token})
    assert again.status_code == 303 and "error=" in again.headers["location"]
    assert "đã chuyển sang bước khác" in (await console.client.get(again.headers["location"])).text
    log = await console.client.get("/log")
    assert "Đổi trạng thái người đăng ký" in log.text and "Đã đăng ký → Đã nhận hồ sơ" in log.text


async def test_more_places_move_the_first_waiting_up_and_tell_them(console: Console) -> None:
    ann = await console.add_fair(capacity=1, signers=("owner", "collaborator", "revoked"))
    await console.sign_in_as("staff")
    token = await _csrf(console, ann.id)
    bad = await console.client.post(f"/announcements/{ann.id}/signups/capacity", data={"capacity": "0", "csrf": token})
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    r = await console.client.post(f"/announcements/{ann.id}/signups/capacity", data={"capacity": "2", "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"/announcements/{ann.id}/signups"
    async with console.app.session_maker() as session:
        assert (await session.get(Announcement, ann.id)).capacity == 2
        (row,) = (await session.exec(select(OutboxMessage))).all()
        (entry,) = (await session.exec(select(AuditEntry).where(AuditEntry.action == "capacity"))).all()
    assert (row.user_id, row.channel, row.kind) == (console.people["collaborator"].id, "zalo", "signup_place")
    assert entry.detail == {"from": 1, "to": 2}
    page = await console.client.get(f"/announcements/{ann.id}/signups")
    assert "Đã có 2/2 suất; 1 người trong danh sách chờ." in page.text


async def test_the_exports_read_back(console: Console) -> None:
    ann = await console.add_fair(capacity=1, signers=("owner", "collaborator"),
                                 answers=(("=HYPERLINK(\"http://x\")", "2"), ("Mắm thái", "1")))
    await console.sign_in_as("staff")
    r = await console.client.get(f"/announcements/{ann.id}/signups/export.xlsx")
    assert r.status_code == 200 and "spreadsheet" in r.headers["content-type"]
    assert 'filename="dang-ky_hoi-cho-cnnt-vinh-long-2026_2026-03-02.xlsx"' in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("STT", "Ngày đăng ký", "Họ tên", "Điện thoại", "Tên cơ sở", "Xã/phường", "Trạng thái tham gia",
                       "Thứ tự chờ", "Lý do", "Sản phẩm trưng bày?", "Cần mấy gian hàng?")
    first = rows[1]
    assert first[0] == 1 and isinstance(first[1], datetime) and first[1].date() == date(2026, 3, 2)
    assert first[3] == "0912 345 678" and ws["D2"].number_format == "@" and ws["B2"].number_format == "DD/MM/YYYY"
    assert first[6] == "Đã đăng ký" and first[7] is None
    assert first[9] == "'=HYPERLINK(\"http://x\")" and first[10] == "2"
    assert rows[2][7] == 1 and rows[2][9] == "Mắm thái"  # the collaborator waits, number 1
    assert ws.freeze_panes == "A2" and ws.column_dimensions["E"].width == 30
    assert ws["A1"].font.bold

    waiting = await console.client.get(f"/announcements/{ann.id}/signups/export.csv?status=waiting")
    assert waiting.content.startswith(b"\xef\xbb\xbfsep=,")
    lines = list(csv.reader(io.StringIO(waiting.content.decode("utf-8-sig"))))
    assert lines[1][0] == "STT" and len(lines) == 3 and lines[2][2] == "Phạm Cộng Tác" and lines[2][7] == "1"
    everyone = await console.client.get(f"/announcements/{ann.id}/signups/export.csv")
    cells = list(csv.reader(io.StringIO(everyone.content.decode("utf-8-sig"))))[2]
    assert cells[1] == "02/03/2026" and cells[9] == "'=HYPERLINK(\"http://x\")"
    async with console.app.session_maker() as session:
        exports = (await session.exec(select(AuditEntry).where(AuditEntry.action == "export")
                                      .order_by(col(AuditEntry.id)))).all()
    assert [(e.target_kind, e.detail["format"], e.detail["rows"], e.detail["filter"]) for e in exports] == [
        ("announcement", "xlsx", 2, ""), ("announcement", "csv", 1, "waiting"), ("announcement", "csv", 2, "")]
