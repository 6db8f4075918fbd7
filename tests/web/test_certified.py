"""Certified products of a competition in the console: recorded on the sign-ups page for an accepted
participant only (a polite refusal otherwise), checked (name, level, a day not in the future, no duplicate),
removed, audited, CSRF-protected; counted in the report figures per level (page and workbook), per commune,
and kept when the participant erases their data (/forget)."""

from __future__ import annotations

import io
import re
from datetime import date, datetime

import openpyxl
from sqlmodel import col, select

from bot.services import accounts
from storage.models import Announcement, AuditEntry, CertifiedProduct, Facility, Signup, User
from tests.web.conftest import LONG_XUYEN, Console

CONTEST = "Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh 2026"


async def _contest(console: Console, signers: tuple[str, ...] = ("owner",)) -> tuple[Announcement, list[Signup]]:
    ann = await console.add_fair(kind="competition", title=CONTEST, signers=signers)
    async with console.app.session_maker() as session:
        rows = list((await session.exec(select(Signup).where(Signup.announcement_id == ann.id)
                                        .order_by(col(Signup.id)))).all())
    return ann, rows


async def _csrf(console: Console, ann_id: int) -> str:
    page = await console.client.get(f"/announcements/{ann_id}/signups")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


async def _stored(console: Console) -> list[CertifiedProduct]:
    async with console.app.session_maker() as session:
        return list((await session.exec(select(CertifiedProduct).order_by(col(CertifiedProduct.id)))).all())


async def _accept(console: Console, ann_id: int, signup_id: int, token: str) -> None:
    r = await console.client.post(f"/announcements/{ann_id}/signups/{signup_id}/status",
                                  data={"to": "accepted", "csrf": token})
    assert r.status_code == 303 and "error=" not in r.headers["location"]


async def _record(console: Console, ann_id: int, signup_id: int, token: str, **form: str) -> str:
    """Post the form with htmx and return the table shown back."""
    data = {"name": "Nước mắm cá linh Hưng Thịnh", "level": "provincial", "certified_on": "15/2/2026", **form}
    r = await console.client.post(f"/announcements/{ann_id}/signups/{signup_id}/products", data=data,
                                  headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 200 and "<html" not in r.text
    return r.text


async def test_a_product_is_recorded_only_for_an_accepted_participant(console: Console) -> None:
    ann, (signup,) = await _contest(console)
    await console.sign_in_as("staff")
    page = (await console.client.get(f"/announcements/{ann.id}/signups")).text
    assert "<th>Sản phẩm được công nhận</th>" in page and "Sau khi được chọn" in page
    assert f'action="/announcements/{ann.id}/signups/{signup.id}/products"' not in page  # no form yet
    token = await _csrf(console, ann.id)
    refused = await _record(console, ann.id, signup.id, token)
    assert ("Chỉ ghi nhận sản phẩm được công nhận cho người tham gia đã được trung tâm chấp nhận: hãy đổi trạng "
            "thái của họ sang “Được chọn” trước.") in refused
    assert await _stored(console) == []

    await _accept(console, ann.id, signup.id, token)
    page = (await console.client.get(f"/announcements/{ann.id}/signups")).text
    assert f'action="/announcements/{ann.id}/signups/{signup.id}/products"' in page
    assert 'name="certified_on" value="02/03/2026"' in page  # today, as day/month/year
    assert ('<option value="provincial">cấp tỉnh</option><option value="regional">cấp khu vực</option>'
            '<option value="national">cấp quốc gia</option>') in page
    table = await _record(console, ann.id, signup.id, token, level="regional", name="  Mắm cá linh  ")
    (product,) = await _stored(console)
    assert (product.signup_id, product.name, product.level, product.certified_on, product.commune_code,
            product.recorded_by_user_id) == (signup.id, "Mắm cá linh", "regional", date(2026, 2, 15), LONG_XUYEN,
                                             console.people["staff"].id)
    row = re.sub(r"\s+", " ", table.split(f'id="product-{product.id}"', 1)[1].split("</div>", 1)[0])
    assert "<b>Mắm cá linh</b> · " in row and "cấp khu vực" in row and "15/02/2026" in row
    assert "Ghi nhận bởi Trần Văn Cán" in row
    async with console.app.session_maker() as session:
        (entry,) = (await session.exec(select(AuditEntry).where(AuditEntry.action == "product_certify"))).all()
    assert (entry.actor_user_id, entry.target_kind, entry.target_id) == (console.people["staff"].id, "announcement",
                                                                        ann.id)
    assert entry.detail == {"signup": signup.id, "product": product.id, "name": "Mắm cá linh", "level": "regional",
                            "on": "2026-02-15"}
    log = re.sub(r"\s+", " ", (await console.client.get("/log")).text)
    assert "Ghi nhận sản phẩm được công nhận" in log and "“Mắm cá linh” · cấp khu vực · 15/02/2026" in log


async def test_what_is_typed_is_checked_and_refused_politely(console: Console) -> None:
    ann, (signup,) = await _contest(console)
    await console.sign_in_as("staff")
    token = await _csrf(console, ann.id)
    await _accept(console, ann.id, signup.id, token)
    await _record(console, ann.id, signup.id, token, name="Mắm cá linh", level="regional")
    cases = {
        "Mắm cá linh đã được ghi nhận ở cấp này cho người tham gia này.": {"name": "mam ca LINH", "level": "regional"},
        "Vui lòng chọn cấp công nhận sản phẩm.": {"level": "district"},
        "Ngày công nhận sản phẩm không thể ở tương lai.": {"certified_on": "3/3/2026"},
        "Vui lòng ghi ngày theo ngày/tháng/năm, ví dụ 31/3/2026.": {"certified_on": "31/2/2026"},
        "Vui lòng nhập nội dung": {"name": "   "},
    }
    for message, form in cases.items():
        shown = await _record(console, ann.id, signup.id, token, **form)
        assert message in shown.replace("“", "").replace("”", ""), form
    # The same product at another level is another certification.
    await _record(console, ann.id, signup.id, token, name="Mắm cá linh", level="provincial", certified_on="2026-01-10")
    assert [(p.name, p.level) for p in await _stored(console)] == [("Mắm cá linh", "regional"),
                                                                   ("Mắm cá linh", "provincial")]
    # A fair certifies nothing; a sign-up of another announcement is not found here.
    fair = await console.add_fair()
    async with console.app.session_maker() as session:
        fair_signup = (await session.exec(select(Signup).where(Signup.announcement_id == fair.id))).one()
    r = await console.client.post(f"/announcements/{fair.id}/signups/{fair_signup.id}/products",
                                  data={"name": "Nước mắm", "level": "provincial", "certified_on": "1/2/2026",
                                        "csrf": token})
    assert r.status_code == 303 and "error=" in r.headers["location"]
    assert "Chỉ ghi nhận sản phẩm được công nhận cho cuộc bình chọn sản phẩm." in (
        await console.client.get(r.headers["location"])).text
    assert len(await _stored(console)) == 2
    # Without the CSRF token: refused, nothing written.
    forged = await console.client.post(f"/announcements/{ann.id}/signups/{signup.id}/products",
                                       data={"name": "Nước mắm", "level": "national", "certified_on": "1/2/2026"})
    assert forged.status_code == 403 and len(await _stored(console)) == 2


async def test_a_product_recorded_by_mistake_is_removed_and_audited(console: Console) -> None:
    ann, (signup,) = await _contest(console)
    await console.sign_in_as("staff")
    token = await _csrf(console, ann.id)
    await _accept(console, ann.id, signup.id, token)
    await _record(console, ann.id, signup.id, token)
    (product,) = await _stored(console)
    path = f"/announcements/{ann.id}/signups/{signup.id}/products/{product.id}/remove"
    r = await console.client.post(path, data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == f"/announcements/{ann.id}/signups"
    assert await _stored(console) == []
    page = (await console.client.get(r.headers["location"])).text
    assert f'id="product-{product.id}"' not in page
    again = await console.client.post(path, data={"csrf": token})
    assert "Sản phẩm này không còn được ghi nhận. Không có gì thay đổi." in (
        await console.client.get(again.headers["location"])).text
    async with console.app.session_maker() as session:
        entries = (await session.exec(select(AuditEntry).where(col(AuditEntry.action).like("product_%"))
                                      .order_by(col(AuditEntry.id)))).all()
    assert [(e.action, e.detail["name"], e.detail["level"]) for e in entries] == [
        ("product_certify", "Nước mắm cá linh Hưng Thịnh", "provincial"),
        ("product_remove", "Nước mắm cá linh Hưng Thịnh", "provincial")]


async def _cells(html: str, anchor: str) -> list[str]:
    section = html.split('id="competitions"', 1)[1].split("</section>", 1)[0]
    row = re.search(r"<t[dh]>" + re.escape(anchor) + r"</t[dh]>(.*?)</tr>", section, re.S)
    assert row, anchor
    return re.findall(r'<t[dh] class="num">([^<]*)</t[dh]>', row.group(1))


async def test_the_report_counts_products_by_level_and_forget_leaves_them(console: Console) -> None:
    ann, (own, ctv) = await _contest(console, signers=("owner", "collaborator"))
    await console.sign_in_as("staff")
    token = await _csrf(console, ann.id)
    for signup in (own, ctv):
        await _accept(console, ann.id, signup.id, token)
    await _record(console, ann.id, own.id, token, name="Nước mắm cá linh", level="provincial")
    await _record(console, ann.id, own.id, token, name="Nước mắm cá linh", level="regional")
    await _record(console, ann.id, own.id, token, name="Mắm thái", level="national")
    await _record(console, ann.id, ctv.id, token, name="Khô cá tra phồng", level="provincial")

    page = (await console.client.get("/reports?period=2026")).text
    # participants, dossiers, provincial, regional, national, products certified
    assert await _cells(page, CONTEST) == ["2", "0", "2", "1", "1", "4"]
    assert await _cells(page, "Tổng: 1 cuộc bình chọn") == ["2", "0", "2", "1", "1", "4"]
    assert "một sản phẩm được công nhận cấp khu vực được tính là cấp khu vực" in page
    assert "<td>Mắm thái</td><td>cấp quốc gia</td>" in page
    alone = (await console.client.get(f"/reports?period=2026&commune={LONG_XUYEN}")).text
    assert await _cells(alone, CONTEST) == ["2", "0", "2", "1", "1", "4"]  # both of Long Xuyên
    assert "Không có cuộc bình chọn sản phẩm nào trong kỳ này." in (
        await console.client.get("/reports?period=2025")).text

    wb = openpyxl.load_workbook(io.BytesIO((await console.client.get("/reports/export.xlsx?period=2026")).content))
    contests = list(wb["Bình chọn sản phẩm"].iter_rows(values_only=True))
    assert contests[0] == ("Cuộc bình chọn", "Từ ngày", "Người tham gia", "Hồ sơ đã nộp", "Công nhận: cấp tỉnh",
                           "Công nhận: cấp khu vực", "Công nhận: cấp quốc gia", "Sản phẩm được công nhận")
    assert contests[1][0] == CONTEST and isinstance(contests[1][1], datetime) and contests[1][2:] == (2, 0, 2, 1, 1, 4)
    assert contests[2] == ("Tổng: 1 cuộc bình chọn", None, 2, 0, 2, 1, 1, 4)
    assert wb["Bình chọn sản phẩm"]["C2"].data_type == "n"
    products = list(wb["Sản phẩm được công nhận"].iter_rows(values_only=True))
    assert products[0] == ("Sản phẩm", "Cấp", "Ngày công nhận", "Tên cơ sở", "Xã/phường", "Cuộc bình chọn")
    assert products[1][:2] == ("Nước mắm cá linh", "cấp tỉnh") and products[1][2] == datetime(2026, 2, 15)
    assert products[1][3] == "Cơ sở nước mắm Hưng Thịnh" and products[1][4] == "Phường Long Xuyên"
    assert len(products) == 5

    # The owner erases their data: the sign-up stays, unlinked, and so do their products and the counts.
    async with console.app.session_maker() as session:
        await accounts.forget(session, user=await session.get(User, console.people["owner"].id))
        await session.commit()
    async with console.app.session_maker() as session:
        kept = (await session.exec(select(CertifiedProduct).where(CertifiedProduct.signup_id == own.id))).all()
        assert [p.name for p in kept] == ["Nước mắm cá linh", "Nước mắm cá linh", "Mắm thái"]
        assert (await session.get(Signup, own.id)).user_id is None  # type: ignore[union-attr]
        facility = (await session.exec(select(Facility).where(Facility.name == "Cơ sở nước mắm Hưng Thịnh"))).one()
        assert facility.owner_user_id is None
    after = (await console.client.get("/reports?period=2026")).text
    assert await _cells(after, CONTEST) == ["2", "0", "2", "1", "1", "4"]
    alone = (await console.client.get(f"/reports?period=2026&commune={LONG_XUYEN}")).text
    # The erased person's commune is no longer known for their sign-up; their products keep the recorded one.
    assert await _cells(alone, CONTEST) == ["1", "0", "2", "1", "1", "4"]
    table = (await console.client.get(f"/announcements/{ann.id}/signups")).text
    assert table.count('class="product"') == 4


async def test_the_sandbox_demo_has_certified_products_in_the_report(console: Console) -> None:
    from bot.seed import seed

    async with console.app.session_maker() as session:
        await seed(session, clock=console.clock, communes=console.app.communes, tz=console.app.tz)
        await session.commit()
    await console.sign_in_as("staff")
    page = (await console.client.get("/reports")).text
    assert await _cells(page, "Bình chọn sản phẩm CNNT tiêu biểu cấp tỉnh đợt 1 năm 2026") == [
        "3", "3", "1", "1", "1", "3"]
    async with console.app.session_maker() as session:
        contest = (await session.exec(select(Announcement).where(Announcement.status == "sent",
                                                                 Announcement.kind == "competition"))).one()
    signups = (await console.client.get(f"/announcements/{contest.id}/signups")).text
    assert "Khô cá tra phồng Bảy Lợi" in signups and "cấp quốc gia" in signups
