"""The needs table (accent-insensitive search, filters, sort, paging, htmx), its exports, a need's page
(status change notifying through the outbox, reopen, notes, audit), the dashboard and the language switch."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal

import openpyxl
from sqlmodel import select

from bot.domain import ERASED
from storage.models import AuditEntry, Facility, Need, NeedEvent, NeedNote, OutboxMessage
from tests.web.conftest import LONG_XUYEN, Console, later

REF = re.compile(r">(NC-2026-\d{4})<")


async def _three(console: Console) -> list[Need]:
    return [
        await console.add_need(),
        await console.add_need(facility="Xưởng mộc Tân Phát", owner="Trần Bình", phone="+84987654321",
                               category="training", sector="handicraft", cost=None, registrant=None,
                               filed_by="collaborator", commune=30985),
        await console.add_need(facility="Lò bánh tráng Mỹ Hòa", owner="Võ Mai", phone="+842963852741",
                               category="machinery", status="declined", cost="2000"),
    ]


async def _refs(console: Console, query: str) -> list[str]:
    r = await console.client.get("/needs?" + query)
    assert r.status_code == 200
    return REF.findall(r.text)


async def test_search_ignores_accents_and_case(console: Console) -> None:
    a, b, c = await _three(console)
    await console.sign_in_as("staff")
    assert await _refs(console, "q=nuoc+mam") == [a.ref]
    assert await _refs(console, "q=N%C6%AF%E1%BB%9AC%20M%E1%BA%AEM") == [a.ref]  # "NƯỚC MẮM"
    assert await _refs(console, "q=tran+binh") == [b.ref]  # the owner
    assert await _refs(console, "q=0987+654+321") == [b.ref]  # the phone as people write it
    assert await _refs(console, "q=84912345678") == [a.ref]
    assert await _refs(console, f"q={c.ref.lower()}") == [c.ref]  # the code
    assert await _refs(console, "q=khong+co+dau") == []


async def test_search_words_in_any_order_with_the_filters_and_paging(console: Console) -> None:
    a, b, c = await _three(console)
    await console.sign_in_as("staff")
    assert await _refs(console, "q=mam+nuoc+hung") == [a.ref]  # every word, anywhere
    assert await _refs(console, "q=nuoc+mam+binh") == []  # one word missing: not found
    assert await _refs(console, "q=my+hoa") == [c.ref]
    assert await _refs(console, "q=my+hoa&status=received") == []  # the filters still apply
    assert await _refs(console, "q=100%25") == []  # LIKE's wildcards are plain characters
    assert await _refs(console, "q=NC-2026&sort=ref&dir=asc") == [a.ref, b.ref, c.ref]


async def test_a_facility_renamed_in_the_console_is_found_by_its_new_name_only(console: Console) -> None:
    need = await console.add_need(facility="Cơ sở Hưng Thịnh", owner="Lan", phone="+84912345678")
    await console.sign_in_as("staff")
    assert await _refs(console, "q=hung+thinh") == [need.ref]
    form = {"name": "Lò bánh pía Tân Huê Viên", "owner_name": "Lan", "phone": "0912 345 678",
            "commune": str(LONG_XUYEN), "sector": "food", "products": "", "csrf": await console.csrf()}
    r = await console.client.post(f"/facilities/{need.facility_id}", data=form)
    assert r.status_code == 303
    assert await _refs(console, "q=banh+pia+tan+hue") == [need.ref]
    assert await _refs(console, "q=hung+thinh") == []
    async with console.app.session_maker() as session:
        facility = await session.get(Facility, need.facility_id)
        assert facility is not None and facility.search_folded == "lo banh pia tan hue vien lan 84912345678 0912345678"


async def test_filters_sorting_and_defaults(console: Console) -> None:
    a, b, c = await _three(console)
    await console.sign_in_as("staff")
    assert await _refs(console, "") == [c.ref, b.ref, a.ref]  # newest first
    assert await _refs(console, "sort=ref&dir=asc") == [a.ref, b.ref, c.ref]
    assert await _refs(console, "sort=cost&dir=desc&status=") == [c.ref, a.ref, b.ref]  # no amount: last
    assert await _refs(console, "sort=cost&dir=asc") == [a.ref, c.ref, b.ref]
    assert await _refs(console, "status=declined") == [c.ref]
    assert await _refs(console, "category=machinery&dir=asc") == [a.ref, c.ref]
    assert await _refs(console, "by=ctv") == [b.ref]
    assert await _refs(console, "by=self") == [c.ref, a.ref]
    assert await _refs(console, "sector=handicraft") == [b.ref]
    assert await _refs(console, "commune=30985") == [b.ref]
    assert await _refs(console, "status=bogus&sort=nonsense&page=x") == [c.ref, b.ref, a.ref]  # ignored


async def test_date_range_is_in_local_days(console: Console) -> None:
    first = await console.add_need()  # 2 March 2026, 09:00 local
    later(console.clock, days=2)
    second = await console.add_need()
    await console.sign_in_as("staff")
    assert await _refs(console, "from=2026-03-02&to=2026-03-02") == [first.ref]
    assert await _refs(console, "from=2026-03-03") == [second.ref]
    assert await _refs(console, "to=not-a-date") == [second.ref, first.ref]


async def test_paging_and_the_htmx_partial(console: Console) -> None:
    for n in range(30):
        await console.add_need(facility=f"Cơ sở số {n}")
    await console.sign_in_as("staff")
    full = await console.client.get("/needs?page=2")
    assert len(REF.findall(full.text)) == 5 and "<html" in full.text and "Trang 2/2" in full.text
    partial = await console.client.get("/needs?page=1", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and len(REF.findall(partial.text)) == 25
    assert "Phường Long Xuyên" in partial.text
    assert "30 nhu cầu" in partial.text and 'hx-get="/needs?page=2"' in partial.text


async def test_xlsx_export_is_exactly_the_filtered_rows(console: Console) -> None:
    a, _b, c = await _three(console)
    await console.sign_in_as("staff")
    r = await console.client.get("/needs/export.xlsx?category=machinery&sort=ref&dir=asc")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="nhu-cau-')
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:5] == ("Mã nhu cầu", "Ngày tiếp nhận", "Tên cơ sở", "Chủ cơ sở", "Điện thoại")
    assert [row[0] for row in rows[1:]] == [a.ref, c.ref]
    first = rows[1]
    assert first[1] == datetime(2026, 3, 2) and ws["B2"].number_format == "DD/MM/YYYY"  # a date
    assert first[4] == "0912 345 678" and ws["E2"].number_format == "@"  # a phone stays text
    assert first[10] == 150.5 and rows[2][10] == 2000  # amounts are numbers
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["C"].width == 30
    async with console.app.session_maker() as session:
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "export"))).one()
    assert entry.detail["rows"] == 2 and entry.detail["format"] == "xlsx"
    assert entry.detail["filters"] == {"category": "machinery"}


async def test_csv_export_for_excel(console: Console) -> None:
    await _three(console)
    await console.sign_in_as("staff")
    r = await console.client.get("/needs/export.csv?q=nuoc+mam")
    assert r.content.startswith(b"\xef\xbb\xbfsep=,\r\n")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig").split("\r\n", 1)[1])))
    assert rows[0][0] == "Mã nhu cầu" and len(rows) == 2
    assert rows[1][1] == "02/03/2026" and rows[1][4] == "0912 345 678" and rows[1][10] == "150.50"


async def test_export_every_column_of_odd_needs(console: Console) -> None:
    """A facility with no owner, a need filed by a collaborator, no amounts, a description erased on request,
    a need whose facility is gone: each column as it is shown, in XLSX and CSV."""
    a = await console.add_need(facility="Xưởng mộc Tân Phát", owner="x", phone="+84987654321", sector="handicraft",
                               category="training", status="declined", cost=None, filed_by="collaborator",
                               commune=30985)
    b = await console.add_need()
    async with console.app.session_maker() as session:
        first, second = await session.get(Need, a.id), await session.get(Need, b.id)
        assert first is not None and second is not None
        first.description, first.decline_reason = ERASED, "Chưa đủ hồ sơ"
        facility = await session.get(Facility, first.facility_id)
        assert facility is not None
        facility.owner_name = None
        second.facility_id, second.machine, second.own_contribution_million = None, "Máy sấy", Decimal("0")
        second.desired_month = date(2026, 9, 1)
        await session.commit()
    await console.sign_in_as("staff")
    r = await console.client.get("/needs/export.xlsx?sort=ref&dir=asc")
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))
    assert rows[1:] == [
        (a.ref, datetime(2026, 3, 2, 0, 0), "Xưởng mộc Tân Phát", None, "0987 654 321", "Xã An Biên",
         "Thủ công mỹ nghệ", "Đào tạo, nâng cao năng lực quản lý", "(đã xoá theo yêu cầu của người dùng)", None,
         None, None, None, "Không được hỗ trợ", "Chưa đủ hồ sơ", "có"),
        (b.ref, datetime(2026, 3, 2, 0, 0), None, None, None, "Phường Long Xuyên", None,
         "Máy móc thiết bị tiên tiến", "Máy sấy lạnh", "Máy sấy", 150.5, 0, datetime(2026, 9, 1), "Đã tiếp nhận",
         None, None),
    ]
    r = await console.client.get("/needs/export.csv?sort=ref&dir=asc")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig").split("\r\n", 1)[1])))
    assert rows[1:] == [
        [a.ref, "02/03/2026", "Xưởng mộc Tân Phát", "", "0987 654 321", "Xã An Biên", "Thủ công mỹ nghệ",
         "Đào tạo, nâng cao năng lực quản lý", "(đã xoá theo yêu cầu của người dùng)", "", "", "", "",
         "Không được hỗ trợ", "Chưa đủ hồ sơ", "có"],
        [b.ref, "02/03/2026", "", "", "", "Phường Long Xuyên", "", "Máy móc thiết bị tiên tiến", "Máy sấy lạnh",
         "Máy sấy", "150.50", "0.00", "09/2026", "Đã tiếp nhận", "", ""],
    ]


async def test_a_formula_typed_by_someone_is_never_run_by_the_spreadsheet(console: Console) -> None:
    await console.add_need(facility="=HYPERLINK(\"http://x\")")
    await console.sign_in_as("staff")
    ws = openpyxl.load_workbook(io.BytesIO((await console.client.get("/needs/export.xlsx")).content)).active
    assert ws["C2"].value == "'=HYPERLINK(\"http://x\")" and ws["C2"].data_type == "s"


async def _post(console: Console, path: str, **form: str):
    return await console.client.post(path, data={**form, "csrf": await console.csrf()})


async def test_status_change_notifies_the_registrant_through_the_outbox(console: Console) -> None:
    need = await console.add_need(filed_by="collaborator")
    await console.sign_in_as("staff")
    r = await _post(console, f"/needs/{need.id}/status", to="surveyed", reason="Đã khảo sát ngày 2/3")
    assert r.status_code == 303 and r.headers["location"] == f"/needs/{need.id}"
    async with console.app.session_maker() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        event = (await session.exec(select(NeedEvent).where(NeedEvent.need_id == need.id))).one()
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "status"))).one()
    assert {row.user_id for row in rows} == {console.people["owner"].id, console.people["collaborator"].id}
    assert all(row.kind == "need_status" and need.ref in row.text and "Đã khảo sát thực tế" in row.text
               for row in rows)
    assert (event.to_status, event.actor_user_id, event.note) == ("surveyed", console.people["staff"].id,
                                                                  "Đã khảo sát ngày 2/3")
    assert entry.detail == {"from": "received", "to": "surveyed", "reason": "Đã khảo sát ngày 2/3"}
    page = await console.client.get(f"/needs/{need.id}")
    assert "Đã khảo sát ngày 2/3" in page.text and "Trần Văn Cán" in page.text
    assert "Đã tiếp nhận → Đã khảo sát thực tế" in page.text  # the audit entry, in words
    assert "Phường Long Xuyên" in page.text


async def test_declining_needs_a_reason_and_says_so(console: Console) -> None:
    need = await console.add_need()
    await console.sign_in_as("staff")
    r = await _post(console, f"/needs/{need.id}/status", to="declined", reason=" ")
    page = await console.client.get(r.headers["location"])
    assert "Cần ghi lý do" in page.text
    r = await _post(console, f"/needs/{need.id}/status", to="completed")  # not the next step
    assert "error=" in r.headers["location"]
    async with console.app.session_maker() as session:
        assert (await session.get(Need, need.id)).status == "received"
        assert (await session.exec(select(OutboxMessage))).all() == []


async def test_reopen_then_decline_again_notifies_each_time(console: Console) -> None:
    need = await console.add_need()
    await console.sign_in_as("staff")
    await _post(console, f"/needs/{need.id}/status", to="declined", reason="Thiếu hồ sơ")
    page = await console.client.get(f"/needs/{need.id}")
    assert "/reopen" in page.text
    await _post(console, f"/needs/{need.id}/reopen", reason="Đã bổ sung hồ sơ")
    await _post(console, f"/needs/{need.id}/status", to="declined", reason="Vẫn thiếu")
    async with console.app.session_maker() as session:
        stored = await session.get(Need, need.id)
        rows = (await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        actions = [e.action for e in (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()]
    assert (stored.status, stored.decline_reason) == ("declined", "Vẫn thiếu")
    assert len(rows) == 3 and "Thiếu hồ sơ" in rows[0].text and "Đã tiếp nhận" in rows[1].text
    assert "Vẫn thiếu" in rows[2].text
    assert actions == ["sign_in", "status", "reopen", "status"]


async def test_only_a_declined_need_reopens(console: Console) -> None:
    need = await console.add_need()
    await console.sign_in_as("staff")
    r = await _post(console, f"/needs/{need.id}/reopen", reason="thử")
    assert "error=" in r.headers["location"]


async def test_internal_notes_are_kept_shown_and_audited(console: Console) -> None:
    need = await console.add_need()
    await console.sign_in_as("staff")
    await _post(console, f"/needs/{need.id}/notes", text="Gọi lại <b>thứ Hai</b>")
    empty = await _post(console, f"/needs/{need.id}/notes", text="   ")
    assert "error=" in empty.headers["location"]
    page = await console.client.get(f"/needs/{need.id}")
    assert "Gọi lại &lt;b&gt;thứ Hai&lt;/b&gt;" in page.text  # escaped
    async with console.app.session_maker() as session:
        notes = (await session.exec(select(NeedNote))).all()
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "note"))).all()
        assert (await session.exec(select(OutboxMessage))).all() == []  # notes are internal
    assert [n.text for n in notes] == ["Gọi lại <b>thứ Hai</b>"] and len(entries) == 1
    log = await console.client.get("/log")
    assert "Thêm ghi chú" in log.text and f"/needs/{need.id}" in log.text


async def test_unknown_need_is_a_polite_404(console: Console) -> None:
    await console.sign_in_as("staff")
    r = await console.client.get("/needs/9999")
    assert r.status_code == 404 and "Không có nhu cầu này." in r.text


async def test_dashboard_counts_the_half_year(console: Console) -> None:
    await _three(console)
    await console.sign_in_as("staff")
    r = await console.client.get("/")
    assert "01/01/2026 – 30/06/2026: 3 nhu cầu mới, đề nghị hỗ trợ 2.150,5 triệu đồng." in r.text
    assert 'max="2" value="2"' in r.text  # machinery: the longest bar
    other = await console.client.get("/?from=2026-07-01&to=2026-12-31")
    assert "0 nhu cầu mới" in other.text


async def test_language_switch_is_remembered(console: Console) -> None:
    await console.sign_in_as("staff")
    r = await console.client.get("/lang/en?next=/needs")
    assert r.headers["location"] == "/needs"
    page = await console.client.get("/needs")
    assert "Export XLSX" in page.text and '<html lang="en">' in page.text
    await console.client.get("/lang/vi")
    assert "Xuất XLSX" in (await console.client.get("/needs")).text


def test_half_year() -> None:
    from bot.services.console import half_year

    assert half_year(date(2026, 6, 30)) == (date(2026, 1, 1), date(2026, 6, 30))
    assert half_year(date(2026, 7, 1)) == (date(2026, 7, 1), date(2026, 12, 31))
    assert Decimal("1") == 1


async def test_a_page_past_the_end_shows_the_last_page(console: Console) -> None:
    for n in range(27):
        await console.add_need(facility=f"Cơ sở số {n}")
    await console.sign_in_as("staff")
    for query in ("page=9", "page=9&q=co+so"):  # paged by the database, and after a text search
        r = await console.client.get("/needs?" + query)
        assert len(REF.findall(r.text)) == 2 and "Trang 2/2" in r.text, query


async def test_dashboard_shows_this_months_messages_against_zalos_quota(console: Console) -> None:
    from bot.services import usage

    async with console.app.session_maker() as s:
        await usage.record(s, channel="zalo", moment=console.clock.now(), messages=2_950)
        await usage.record(s, channel="telegram", moment=console.clock.now(), messages=12)
        await s.commit()
    await console.sign_in_as("staff")
    page = (await console.client.get("/")).text
    usage_box = page[page.index('id="usage"'):]
    assert "Tin nhắn đã gửi trong tháng" in usage_box
    assert re.search(r"<td>Telegram</td><td class=\"num\">12</td><td class=\"num\">—</td>", usage_box)
    # 50 left of 3,000: under a tenth, shown in bold.
    assert re.search(r"<td>Zalo</td><td class=\"num\">2950</td><td class=\"num\">3000</td>\s*"
                     r"<td class=\"num\"><strong>50</strong></td>", usage_box)
