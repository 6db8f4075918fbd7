"""The facilities directory (accent-insensitive search, filters, paging), a facility's page and its edit (audited),
possible duplicates and merging, and the import of a spreadsheet: columns guessed from the header, a dry run
that writes nothing and says what it accepts, fixes and refuses, the confirmation that writes, CSV (BOM,
semicolons) and XLSX files, and two thousand rows at once."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
from sqlalchemy import event, func
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.web.uploads import UploadStore
from storage.models import AuditEntry, Conversation, Facility, Need, Signup
from tests.web.conftest import LONG_XUYEN, Console

CHAU_DOC = 30316  # Phường Châu Đốc
AN_PHU = 30337  # Xã An Phú
NAME = re.compile(r'<a href="/facilities/(\d+)">([^<#][^<]*)</a>')  # a facility's link (not a duplicate's "#12 …")


async def add_facility(console: Console, *, name: str, owner: str | None = None, phone: str | None = None,
                       commune: int = LONG_XUYEN, sector: str = "food", products: str | None = None,
                       owner_user: str | None = None) -> Facility:
    now = console.clock.now()
    async with console.app.session_maker() as session:
        facility = Facility(name=name, owner_name=owner, phone=phone, commune_code=commune, sector=sector,
                            products=products, created_at=now, updated_at=now,
                            owner_user_id=console.people[owner_user].id if owner_user else None)
        session.add(facility)
        await session.commit()
        await session.refresh(facility)
    return facility


async def _names(console: Console, query: str = "") -> list[str]:
    r = await console.client.get("/facilities?" + query)
    assert r.status_code == 200, r.text
    return [name for _id, name in NAME.findall(r.text)]


async def _facilities(console: Console) -> list[Facility]:
    async with console.app.session_maker() as session:
        return list((await session.exec(select(Facility).order_by(col(Facility.id)))).all())


async def _audit(console: Console, action: str) -> list[AuditEntry]:
    async with console.app.session_maker() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


# --- the directory ---


async def test_directory_lists_every_facility_and_searches_without_accents(console: Console) -> None:
    await add_facility(console, name="Cơ sở nước mắm Hưng Thịnh", owner="Nguyễn Thị Lan", phone="+84912345678")
    await add_facility(console, name="Xưởng mộc Tân Phát", owner="Trần Bình", phone="+84987654321",
                       commune=CHAU_DOC, sector="handicraft")
    await add_facility(console, name="Lò bánh tráng Mỹ Hòa", owner="Võ Mai")
    await console.sign_in_as("staff")
    # Facilities not on any chat are listed too, by name (accents ignored).
    assert await _names(console) == ["Cơ sở nước mắm Hưng Thịnh", "Lò bánh tráng Mỹ Hòa", "Xưởng mộc Tân Phát"]
    assert await _names(console, "q=nuoc+mam") == ["Cơ sở nước mắm Hưng Thịnh"]
    assert await _names(console, "q=N%C6%AF%E1%BB%9AC%20M%E1%BA%AEM") == ["Cơ sở nước mắm Hưng Thịnh"]  # NƯỚC MẮM
    assert await _names(console, "q=tran+binh") == ["Xưởng mộc Tân Phát"]  # the owner
    assert await _names(console, "q=0987+654+321") == ["Xưởng mộc Tân Phát"]  # the phone as people write it
    assert await _names(console, "q=khong+co") == []
    assert await _names(console, f"commune={CHAU_DOC}") == ["Xưởng mộc Tân Phát"]
    assert await _names(console, "sector=food") == ["Cơ sở nước mắm Hưng Thịnh", "Lò bánh tráng Mỹ Hòa"]
    assert await _names(console, "sector=bogus&commune=x&page=abc") == await _names(console)  # ignored
    page = await console.client.get("/facilities")
    assert "3 cơ sở" in page.text and "Phường Châu Đốc" in page.text and "0987 654 321" in page.text


async def test_directory_pages_and_answers_htmx_with_the_table_only(console: Console) -> None:
    for n in range(30):
        await add_facility(console, name=f"Cơ sở {n:02d} {'abcdefghijklmnopqrstuvwxyz'[n % 26] * 6}",
                           commune=[LONG_XUYEN, CHAU_DOC, AN_PHU][n % 3])
    await console.sign_in_as("staff")
    full = await console.client.get("/facilities?page=2")
    assert len(NAME.findall(full.text)) == 5 and "<html" in full.text and "Trang 2/2" in full.text
    partial = await console.client.get("/facilities?page=1", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and len(NAME.findall(partial.text)) == 25
    assert "30 cơ sở" in partial.text and 'hx-get="/facilities?page=2"' in partial.text


# --- a facility's page and its edit ---


async def test_a_facility_page_shows_its_needs_and_its_owners_sign_ups(console: Console) -> None:
    need = await console.add_need(facility="Cơ sở nước mắm Hưng Thịnh")
    async with console.app.session_maker() as session:
        facility = await session.get(Facility, need.facility_id)
        facility.owner_user_id = console.people["owner"].id
        session.add(facility)
        from storage.models import Announcement

        now = console.clock.now()
        ann = Announcement(kind="fair", title="Hội chợ Xúc tiến thương mại 2026", body="…", created_at=now,
                           updated_at=now)
        session.add(ann)
        await session.flush()
        session.add(Signup(announcement_id=ann.id, user_id=console.people["owner"].id, status="signed_up",
                           created_at=now, updated_at=now))
        await session.commit()
    await console.sign_in_as("staff")
    page = await console.client.get(f"/facilities/{need.facility_id}")
    assert page.status_code == 200
    assert f'href="/needs/{need.id}"' in page.text and need.ref in page.text
    assert "Hội chợ Xúc tiến thương mại 2026" in page.text and "Đã đăng ký" in page.text
    assert "Nguyễn Thị Lan (Telegram)" in page.text  # on the chat
    assert (await console.client.get("/facilities/99999")).status_code == 404


async def test_edit_saves_checks_and_is_audited(console: Console) -> None:
    facility = await add_facility(console, name="Cơ sở Hưng Thịnh", owner="Lan", phone="+84912345678")
    await console.sign_in_as("staff")
    csrf = await console.csrf()
    form = {"name": "Cơ sở nước mắm Hưng Thịnh", "owner_name": "Nguyễn Thị Lan", "phone": "0987.654.321",
            "commune": str(CHAU_DOC), "sector": "food", "products": "Nước mắm cá cơm"}
    assert (await console.client.post(f"/facilities/{facility.id}", data=form)).status_code == 403  # no CSRF
    r = await console.client.post(f"/facilities/{facility.id}", data={**form, "csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/facilities/{facility.id}?done=saved"
    [saved] = await _facilities(console)
    assert (saved.name, saved.owner_name, saved.phone, saved.commune_code, saved.products) == (
        "Cơ sở nước mắm Hưng Thịnh", "Nguyễn Thị Lan", "+84987654321", CHAU_DOC, "Nước mắm cá cơm")
    [entry] = await _audit(console, "facility_edit")
    assert entry.target_kind == "facility" and entry.target_id == facility.id
    assert entry.actor_user_id == console.people["staff"].id
    assert entry.detail["changes"]["phone"] == ["+84912345678", "+84987654321"]
    assert entry.detail["changes"]["commune_code"] == [LONG_XUYEN, CHAU_DOC]
    page = await console.client.get(f"/facilities/{facility.id}?done=saved")
    assert "Đã lưu các thay đổi." in page.text and "Sửa thông tin cơ sở" in page.text
    assert "0912 345 678 → 0987 654 321" in page.text and "Phường Long Xuyên → Phường Châu Đốc" in page.text

    bad = await console.client.post(f"/facilities/{facility.id}", data={
        **form, "csrf": csrf, "name": "Tên mới", "phone": "12345", "commune": "1"})
    assert bad.status_code == 400
    assert "Vui lòng sửa các ô được đánh dấu" in bad.text and 'value="Tên mới"' in bad.text  # what was typed
    assert "Vui lòng chọn một xã/phường của tỉnh." in bad.text
    assert (await _facilities(console))[0].name == "Cơ sở nước mắm Hưng Thịnh"  # nothing saved
    assert len(await _audit(console, "facility_edit")) == 1


# --- duplicates and merging ---


async def test_duplicates_are_flagged_on_the_directory_and_the_page(console: Console) -> None:
    a = await add_facility(console, name="Cơ sở nước mắm Hưng Thịnh", phone="+84912345678")
    b = await add_facility(console, name="Nuoc mam Hung Thinh", commune=LONG_XUYEN)  # same name, folded
    c = await add_facility(console, name="HKD Hưng Thịnh 2", phone="+84912345678", commune=AN_PHU)  # same phone
    await add_facility(console, name="Nước mắm Hưng Thịnh", commune=CHAU_DOC)  # another commune: not one
    await add_facility(console, name="Xưởng mộc Tân Phát")
    await console.sign_in_as("staff")
    assert sorted(await _names(console, "dup=1")) == sorted([a.name, b.name, c.name])
    page = await console.client.get(f"/facilities/{a.id}")
    assert "Có thể trùng" in page.text
    for other in (b, c):
        assert f"/facilities/{a.id}/merge?other={other.id}" in page.text
    assert "tên gần giống, cùng xã" in page.text and "cùng số điện thoại" in page.text
    listing = await console.client.get("/facilities?q=tan+phat", headers={"HX-Request": "true"})
    assert "Xưởng mộc Tân Phát" in listing.text and "có thể trùng" not in listing.text
    listing = await console.client.get("/facilities?q=hung+thinh+2", headers={"HX-Request": "true"})
    assert '<span class="tag warn">có thể trùng</span>' in listing.text and f"#{a.id} {a.name}" in listing.text


async def test_merge_asks_first_then_moves_needs_and_the_chat_account(console: Console) -> None:
    need_a = await console.add_need(facility="Cơ sở nước mắm Hưng Thịnh", phone="+84912345678", registrant=None)
    need_b = await console.add_need(facility="Nước mắm Hưng Thịnh", phone="+84912345678", owner="",
                                    registrant="owner")
    keep_id, remove_id = need_a.facility_id, need_b.facility_id
    now = console.clock.now()
    async with console.app.session_maker() as session:
        removed = await session.get(Facility, remove_id)
        removed.owner_user_id, removed.owner_name, removed.products = console.people["owner"].id, None, "Nước mắm"
        session.add(removed)
        kept = await session.get(Facility, keep_id)
        kept.products = None
        session.add(kept)
        # A collaborator's open form names the record that goes away.
        session.add(Conversation(user_id=console.people["collaborator"].id, form="need_proxy", step="category",
                                 data={"facility": str(remove_id), "facility__label": "Nước mắm Hưng Thịnh"},
                                 updated_at=now))
        await session.commit()
    await console.sign_in_as("staff")
    confirm = await console.client.get(f"/facilities/{keep_id}/merge?other={remove_id}")
    assert confirm.status_code == 200
    # The record on the chat is kept unless staff choose: here, the other one.
    assert f"Gộp: giữ #{remove_id}, xóa #{keep_id}" in confirm.text
    confirm = await console.client.get(f"/facilities/{keep_id}/merge?other={remove_id}&keep={keep_id}")
    assert f"Gộp: giữ #{keep_id}, xóa #{remove_id}" in confirm.text
    assert "Tài khoản chat của" in confirm.text and "Nước mắm" in confirm.text  # the products fill the blank
    assert len(await _facilities(console)) == 2  # nothing happened yet

    csrf = await console.csrf()
    r = await console.client.post(f"/facilities/{keep_id}/merge",
                                  data={"other": str(remove_id), "keep": str(keep_id), "csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"/facilities/{keep_id}?done=merged"
    [kept] = await _facilities(console)
    assert kept.id == keep_id and kept.owner_user_id == console.people["owner"].id and kept.products == "Nước mắm"
    async with console.app.session_maker() as session:
        needs = (await session.exec(select(Need).order_by(col(Need.id)))).all()
        conversation = await session.get(Conversation, console.people["collaborator"].id)
    assert [(n.id, n.facility_id) for n in needs] == [(need_a.id, keep_id), (need_b.id, keep_id)]
    assert all(n.registrant_user_id == console.people["owner"].id for n in needs)  # the owner is told now
    assert conversation.data == {"facility": str(keep_id), "facility__label": "Cơ sở nước mắm Hưng Thịnh"}
    [entry] = await _audit(console, "merge")
    assert entry.target_id == keep_id and entry.detail["removed"]["id"] == remove_id
    assert entry.detail["needs"] == 1 and entry.detail["owner_moved"] is True
    page = await console.client.get(f"/facilities/{keep_id}?done=merged")
    assert "Đã gộp hai cơ sở thành cơ sở này." in page.text and page.text.count('href="/needs/') == 2
    assert f"#{remove_id} “Nước mắm Hưng Thịnh” đã gộp vào cơ sở này" in page.text
    assert (await console.client.get(f"/facilities/{remove_id}")).status_code == 404


async def test_two_facilities_each_on_the_chat_are_not_merged(console: Console) -> None:
    a = await add_facility(console, name="Nước mắm Hưng Thịnh", owner_user="owner")
    b = await add_facility(console, name="Nuoc mam Hung Thinh", owner_user="collaborator")
    await console.sign_in_as("staff")
    confirm = await console.client.get(f"/facilities/{a.id}/merge?other={b.id}")
    assert "không thể gộp" in confirm.text and 'action="/facilities/' not in confirm.text.split("Gộp hai cơ sở")[-1]
    r = await console.client.post(f"/facilities/{a.id}/merge",
                                  data={"other": str(b.id), "keep": str(a.id), "csrf": await console.csrf()})
    assert r.status_code == 303 and "error=" in r.headers["location"]
    assert len(await _facilities(console)) == 2 and await _audit(console, "merge") == []
    for other in ("", str(a.id), "abc", "99999"):
        r = await console.client.get(f"/facilities/{a.id}/merge?other={other}")
        assert r.status_code == 303 and r.headers["location"].startswith(f"/facilities/{a.id}?error=")


# --- import ---


async def _upload(console: Console, name: str, data: bytes) -> str:
    r = await console.client.post("/facilities/import", data={"csrf": await console.csrf()},
                                  files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


def _selected(html: str) -> dict[str, str]:
    """The column chosen in each select of the mapping form, by its header text."""
    out = {}
    for field, body in re.findall(r'<select name="map_(\w+)">(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="\d+" selected>([^<]*)</option>', body)
        out[field] = chosen.group(1) if chosen else ""
    return out


async def _report(console: Console, token: str, mapping: dict[str, int] | None = None) -> str:
    if mapping is not None:
        r = await console.client.post(f"/facilities/import/{token}/check", data={
            "csrf": await console.csrf(), **{f"map_{k}": str(v) for k, v in mapping.items()}})
        assert r.status_code == 303, r.text
    r = await console.client.get(f"/facilities/import/{token}/report")
    assert r.status_code == 200, r.text
    return r.text


def _counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'<b id="count-(\w+)">(\d+)</b>', html)}


async def _confirm(console: Console, token: str, duplicates: str = "skip") -> str:
    r = await console.client.post(f"/facilities/import/{token}/confirm",
                                  data={"csrf": await console.csrf(), "duplicates": duplicates})
    assert r.status_code == 200, r.text
    return r.text


HEADER = "STT,Tên cơ sở,Chủ cơ sở,Số điện thoại,Xã/phường,Ngành nghề,Sản phẩm chính,Địa chỉ"
ROWS = [
    # accepted as it is
    '1,Lò bánh tráng Mỹ Hòa,Võ Thị Mai,0912 000 111,Phường Long Xuyên,Chế biến thực phẩm,Bánh tráng,"Tổ 5"',
    '2,Xưởng mộc Tân Phát,Trần Bình,0987.000.222,Châu Đốc,Thủ công mỹ nghệ,,',
    # fixed: the phone, the commune without accents, a commune misspelt, a sector from its words
    '3,Cơ sở đan lát Hòa An,Lê Văn Tư,84913000333,phuong chau doc,Thủ công mỹ nghệ,Giỏ lục bình,',
    '4,Cơ khí Thành Công,Phạm Hùng,0914000444,Long Xuyen,Cơ khí,Máy sấy,',
    '5,Nhà may Kim Thoa,Ngô Thoa,,Xã An Phus,Dệt may thổ cẩm,Khăn rằn,',
    # refused: no name, a phone that is not one, a commune not of the province, two reasons
    '6,,Không Tên,0915000555,Phường Long Xuyên,Cơ khí,,',
    '7,Cơ sở gạch Tám Lộc,Tám,12345,Phường Long Xuyên,Vật liệu xây dựng,,',
    '8,Cơ sở chiếu Định Yên,Út,0916000666,Xã Định Yên,Thủ công mỹ nghệ,,',
    '9,,Ai,999,Hà Nội,Khác,,',
    # a facility already in the directory (same phone), and a row repeating an earlier one (its sector empty)
    '10,Nước mắm Hưng Thịnh,Lan,0912 345 678,Phường Long Xuyên,Chế biến thực phẩm,Nước mắm,',
    '11,Lo banh trang My Hoa,Mai,,Phường Long Xuyên,,,',
]


async def test_import_dry_run_reports_and_writes_nothing_then_the_confirmation_writes(console: Console) -> None:
    existing = await add_facility(console, name="Cơ sở nước mắm Hưng Thịnh", phone="+84912345678")
    await console.sign_in_as("staff")
    token = await _upload(console, "danh-sach.csv", ("\n".join([HEADER, *ROWS]) + "\n").encode())
    columns = await console.client.get(f"/facilities/import/{token}")
    assert columns.status_code == 200 and "11 dòng" in columns.text
    assert _selected(columns.text) == {"name": "Tên cơ sở", "owner_name": "Chủ cơ sở", "phone": "Số điện thoại",
                                       "commune": "Xã/phường", "sector": "Ngành nghề", "products": "Sản phẩm chính"}
    html = await _report(console, token, {"name": 1, "owner_name": 2, "phone": 3, "commune": 4, "sector": 5,
                                          "products": 6})
    assert _counts(html) == {"accepted": 3, "fixed": 4, "refused": 4, "duplicates": 2}
    # What was fixed, and how.
    assert "“84913000333” → 0913 000 333" in html
    assert "“phuong chau doc” → Phường Châu Đốc" in html
    assert "“Long Xuyen” → Phường Long Xuyên" in html
    assert "“Xã An Phus” → Xã An Phú" in html and "đọc theo tên gần nhất" in html
    assert "“Dệt may thổ cẩm” → Dệt may" in html
    # Why rows were refused.
    assert "Tên cơ sở: chưa có tên" in html
    assert "“12345”: Có vẻ đây không phải số điện thoại" in html
    assert "“Xã Định Yên” không phải xã/phường của tỉnh (đơn vị năm 2025)" in html
    # Duplicates: of the directory's facility, and of row 2 of the file.
    assert f'<a href="/facilities/{existing.id}">#{existing.id} Cơ sở nước mắm Hưng Thịnh</a>' in html
    assert "dòng 2 · Lò bánh tráng Mỹ Hòa" in html
    assert "Nhập 5 dòng" in html and "Nhập 7 dòng, kể cả các dòng có thể trùng" in html
    assert len(await _facilities(console)) == 1 and await _audit(console, "import") == []  # nothing written

    done = await _confirm(console, token)
    assert "Đã nhập 5 cơ sở" in done
    names = {f.name: f for f in await _facilities(console)}
    assert set(names) == {"Cơ sở nước mắm Hưng Thịnh", "Lò bánh tráng Mỹ Hòa", "Xưởng mộc Tân Phát",
                          "Cơ sở đan lát Hòa An", "Cơ khí Thành Công", "Nhà may Kim Thoa"}
    hoa_an = names["Cơ sở đan lát Hòa An"]
    assert (hoa_an.phone, hoa_an.commune_code, hoa_an.sector, hoa_an.products, hoa_an.owner_user_id) == (
        "+84913000333", CHAU_DOC, "handicraft", "Giỏ lục bình", None)
    assert names["Nhà may Kim Thoa"].phone is None and names["Nhà may Kim Thoa"].sector == "textile"
    assert names["Cơ khí Thành Công"].created_by_user_id == console.people["staff"].id
    [entry] = await _audit(console, "import")
    assert entry.detail["rows"] == 5 and entry.detail["refused"] == 4 and entry.detail["skipped_duplicates"] == 2
    assert entry.detail["file"] == "danh-sach.csv"
    # The upload is gone once imported: a second confirmation writes nothing.
    again = await console.client.post(f"/facilities/import/{token}/confirm", data={"csrf": await console.csrf()})
    assert again.status_code == 303 and again.headers["location"] == "/facilities/import?expired=1"
    assert len(await _facilities(console)) == 6


async def test_import_of_duplicates_when_staff_want_them(console: Console) -> None:
    await add_facility(console, name="Cơ sở nước mắm Hưng Thịnh", phone="+84912345678")
    await console.sign_in_as("staff")
    token = await _upload(console, "a.csv", ("\n".join([HEADER, ROWS[0], ROWS[9]]) + "\n").encode())
    await _report(console, token, {"name": 1, "phone": 3, "commune": 4})
    assert "Đã nhập 2 cơ sở" in await _confirm(console, token, duplicates="include")
    assert len(await _facilities(console)) == 3


async def test_csv_with_a_bom_and_semicolons(console: Console) -> None:
    await console.sign_in_as("staff")
    text = ("Tên cơ sở;Chủ cơ sở;Điện thoại;Xã/Phường;Ngành nghề\r\n"
            "Cơ sở nước mắm Hưng Thịnh;Nguyễn Thị Lan;0912345678;Phường Long Xuyên;Chế biến thực phẩm\r\n"
            "\"Xưởng mộc; Tân Phát\";Trần Bình;0987 654 321;Xã An Phú;Thủ công mỹ nghệ\r\n")
    token = await _upload(console, "co-so.csv", text.encode("utf-8-sig"))
    columns = await console.client.get(f"/facilities/import/{token}")
    assert _selected(columns.text) == {"name": "Tên cơ sở", "owner_name": "Chủ cơ sở", "phone": "Điện thoại",
                                       "commune": "Xã/Phường", "sector": "Ngành nghề", "products": ""}
    html = await _report(console, token, {"name": 0, "owner_name": 1, "phone": 2, "commune": 3, "sector": 4})
    assert _counts(html) == {"accepted": 2, "fixed": 0, "refused": 0, "duplicates": 0}
    await _confirm(console, token)
    assert [(f.name, f.phone, f.commune_code) for f in await _facilities(console)] == [
        ("Cơ sở nước mắm Hưng Thịnh", "+84912345678", LONG_XUYEN), ("Xưởng mộc; Tân Phát", "+84987654321", AN_PHU)]


async def test_xlsx_workbook(console: Console) -> None:
    await console.sign_in_as("staff")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Danh sách cơ sở CNNT năm 2026"])  # a title above the header: not the header, not a facility
    ws.append([])
    ws.append(["Facility name", "Owner", "Phone", "Commune", "Sector"])
    ws.append(["Cơ sở nước mắm Hưng Thịnh", "Nguyễn Thị Lan", 912345678, "Phường Long Xuyên", "food"])
    ws.append(["Xưởng mộc\nTân Phát", None, "0987654321", "Châu Đốc", "Handicrafts"])
    ws.append([None, None, None, None, None])  # empty rows are skipped
    buffer = io.BytesIO()
    wb.save(buffer)
    token = await _upload(console, "co-so.xlsx", buffer.getvalue())
    columns = await console.client.get(f"/facilities/import/{token}")
    assert _selected(columns.text) == {"name": "Facility name", "owner_name": "Owner", "phone": "Phone",
                                       "commune": "Commune", "sector": "Sector", "products": ""}
    html = await _report(console, token, {"name": 0, "owner_name": 1, "phone": 2, "commune": 3, "sector": 4})
    assert _counts(html) == {"accepted": 0, "fixed": 2, "refused": 0, "duplicates": 0}
    assert "<td>4</td><td>Cơ sở nước mắm Hưng Thịnh</td>" in html  # rows numbered as the spreadsheet does
    assert "“912345678” → 0912 345 678" in html  # a phone stored as a number lost its 0
    assert "thay dấu xuống dòng trong ô bằng dấu cách" in html
    await _confirm(console, token)
    assert [(f.name, f.owner_name, f.phone, f.sector) for f in await _facilities(console)] == [
        ("Cơ sở nước mắm Hưng Thịnh", "Nguyễn Thị Lan", "+84912345678", "food"),
        ("Xưởng mộc Tân Phát", None, "+84987654321", "handicraft")]


async def test_files_that_cannot_be_read_are_refused_politely(console: Console) -> None:
    await console.sign_in_as("staff")
    csrf = await console.csrf()
    no_name = await console.client.post("/facilities/import", data={"csrf": csrf},
                                        files={"file": ("a.csv", "Tỉnh,Xã\nAn Giang,Long Xuyên\n".encode())})
    token = no_name.headers["location"].rsplit("/", 1)[1]
    r = await console.client.post(f"/facilities/import/{token}/check", data={"csrf": csrf, "map_commune": "1"})
    assert r.status_code == 400 and "Vui lòng chọn cột chứa tên cơ sở" in r.text
    r = await console.client.post(f"/facilities/import/{token}/check", data={
        "csrf": csrf, "map_name": "0", "map_commune": "0"})
    assert r.status_code == 400 and "Mỗi cột chỉ dùng cho một thông tin." in r.text
    cases = [("a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Tệp Excel cũ (.xls)"),
             ("a.csv", "Tên,Xã\nBánh Hòa,Long Xuyên\n".encode("cp1252"), "UTF-8"),
             ("a.csv", b"", "Tệp này trống"),
             ("a.csv", "Tên cơ sở,Xã\n".encode(), "không có cơ sở nào"),
             ("a.xlsx", b"PK\x03\x04 not really a zip", "Không đọc được tệp này")]
    for name, data, message in cases:
        r = await console.client.post("/facilities/import", data={"csrf": csrf},
                                      files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 400 and message in r.text, name


async def test_an_upload_belongs_to_the_session_that_made_it(console: Console) -> None:
    await console.sign_in_as("staff")
    token = await _upload(console, "a.csv", ("\n".join([HEADER, ROWS[0]]) + "\n").encode())
    assert (await console.client.get(f"/facilities/import/{token}")).status_code == 200
    await console.sign_in_as("staff")  # another browser of the same person
    for path in (f"/facilities/import/{token}", f"/facilities/import/{token}/report", "/facilities/import/x"):
        r = await console.client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/facilities/import?expired=1", path
    r = await console.client.post(f"/facilities/import/{token}/confirm", data={"csrf": await console.csrf()})
    assert r.headers["location"] == "/facilities/import?expired=1"
    assert await _facilities(console) == []
    assert "Tệp tải lên đã hết hạn" in (await console.client.get("/facilities/import?expired=1")).text


async def test_two_thousand_rows_in_a_few_queries(console: Console) -> None:
    await add_facility(console, name="Cơ sở có sẵn", phone="+84912000000")
    communes = [c.name for c in console.app.communes.all()]
    words = ["Hưng", "Thịnh", "Phát", "Tân", "Mỹ", "Hòa", "An", "Lộc", "Phú", "Quý", "Đức", "Tài"]
    lines = ["Tên cơ sở,Chủ cơ sở,Số điện thoại,Xã/phường,Ngành nghề"]
    for n in range(2000):
        name = f"Cơ sở {words[n % 12]} {words[n // 12 % 12]} {words[n // 144 % 12]} số {n}"
        lines.append(f"{name},Chủ {n},0912{n:06d},{communes[n % len(communes)]},Cơ khí")
    lines.append("Cơ sở lỗi,,không có,Phường Long Xuyên,Cơ khí")
    await console.sign_in_as("staff")
    token = await _upload(console, "lon.csv", ("\n".join(lines) + "\n").encode())
    html = await _report(console, token, {"name": 0, "owner_name": 1, "phone": 2, "commune": 3, "sector": 4})
    counts = _counts(html)
    assert counts["refused"] == 1 and counts["duplicates"] == 1  # 0912000000 is already in the directory
    assert counts["accepted"] + counts["fixed"] == 2000

    statements: list[Any] = []
    engine = console.app.session_maker.kw["bind"].sync_engine

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        done = await _confirm(console, token)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert "Đã nhập 1999 cơ sở" in done
    assert len(statements) < 25, statements  # batches, not a query per row
    async with console.app.session_maker() as session:
        assert (await session.exec(select(func.count()).select_from(Facility))).one() == 2000


def test_an_upload_is_imported_once_and_expires(tmp_path: Any, clock: FakeClock) -> None:
    store = UploadStore(tmp_path / "uploads", clock)
    upload = store.save(owner="session-a", file_name="a.csv", table={"header": ["Tên"], "rows": [[2, ["A"]]]},
                        mapping={"name": 0})
    assert store.load(upload.token, owner="session-b") is None  # another session
    assert store.load("../../etc/passwd", owner="session-a") is None
    assert store.claim(upload.token, owner="session-a") is not None
    assert store.claim(upload.token, owner="session-a") is None  # a double click: claimed already
    store.release(upload.token)  # the import failed: it can be confirmed again
    assert store.claim(upload.token, owner="session-a").mapping == {"name": 0}
    store.discard(upload.token)
    assert store.load(upload.token, owner="session-a") is None and list((tmp_path / "uploads").iterdir()) == []
    old = store.save(owner="session-a", file_name="b.csv", table={"header": [], "rows": []}, mapping={})
    clock.advance(seconds=6 * 3600 + 1)
    assert store.load(old.token, owner="session-a") is None  # expired
    store.save(owner="session-a", file_name="c.csv", table={"header": [], "rows": []}, mapping={})
    assert len(list((tmp_path / "uploads").iterdir())) == 1  # the next upload swept the old one away
