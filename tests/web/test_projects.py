"""Projects (đề án) in the staff console: create and edit (checked, audited), approved needs added with their
support and own contribution and taken out again, totals, the list's filters, and the need's page naming
its project."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from storage.models import AuditEntry, Project, ProjectNeed
from tests.web.conftest import Console

FORM = {"name": "Hỗ trợ máy móc thiết bị 2026", "decision": "123/QĐ-SCT", "funding_source": "local",
        "year": "2026", "approved_on": "2026-03-15", "status": "approved", "note": ""}


async def _create(console: Console, **changes: str) -> tuple[Any, int]:
    r = await console.client.post("/projects", data={**FORM, **changes, "csrf": await console.csrf()})
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("?done=created")
    return r, int(r.headers["location"].split("/")[2].split("?")[0])


async def _audit(console: Console) -> list[AuditEntry]:
    async with console.app.session_maker() as session:
        return list((await session.exec(select(AuditEntry).where(col(AuditEntry.target_kind) == "project")
                                        .order_by(col(AuditEntry.id)))).all())


async def test_staff_create_a_project_and_see_it_in_the_list(console: Console) -> None:
    await console.sign_in_as("staff")
    _r, pid = await _create(console)
    page = (await console.client.get(f"/projects/{pid}?done=created")).text
    assert "Hỗ trợ máy móc thiết bị 2026" in page and "Khuyến công địa phương" in page
    assert "123/QĐ-SCT · 15/03/2026" in page and "Đã phê duyệt" in page
    assert "Đã tạo đề án. Bây giờ hãy thêm các nhu cầu đã duyệt vào đề án." in page
    async with console.app.session_maker() as session:
        project = await session.get(Project, pid)
        assert (project.funding_source, project.year, project.status) == ("local", 2026, "approved")
        assert project.approved_on.isoformat() == "2026-03-15"
    assert [(e.action, e.detail) for e in await _audit(console)] == [
        ("project_create", {"name": "Hỗ trợ máy móc thiết bị 2026"})]
    listing = (await console.client.get("/projects")).text
    assert f'<a href="/projects/{pid}">Hỗ trợ máy móc thiết bị 2026</a>' in listing


async def test_a_bad_form_is_refused_field_by_field_and_nothing_is_written(console: Console) -> None:
    await console.sign_in_as("staff")
    bad = {**FORM, "name": "  ", "funding_source": "bank", "year": "26", "approved_on": "31/2/2026",
           "csrf": await console.csrf()}
    r = await console.client.post("/projects", data=bad)
    assert r.status_code == 400
    assert r.text.count('class="field-error"') == 4
    assert "Vui lòng chọn nguồn kinh phí." in r.text and 'value="26"' in r.text  # what was typed stays
    async with console.app.session_maker() as session:
        assert (await session.exec(select(Project))).all() == []
    assert await _audit(console) == []


async def test_approved_needs_are_added_with_their_amounts_and_totalled(console: Console) -> None:
    fish = await console.add_need(status="approved", own="40.5")
    cake = await console.add_need(facility="Lò bánh tráng Mỹ Hòa", phone="+84987654321", status="completed")
    fresh = await console.add_need(facility="Xưởng mộc Tân Phát", phone="+84911111111", status="received")
    await console.sign_in_as("staff")
    _r, pid = await _create(console)
    page = (await console.client.get(f"/projects/{pid}")).text
    assert fish.ref in page and cake.ref in page and fresh.ref not in page  # only approved or supported needs
    assert 'name="own" inputmode="decimal" maxlength="20" size="8" value="40.50"' in page  # prefilled
    found = (await console.client.get(f"/projects/{pid}?q=nuoc mam")).text
    assert fish.ref in found and cake.ref not in found

    csrf = await console.csrf()
    for need, support, own in ((fish, "120", "40,5"), (cake, "1.500", "")):
        r = await console.client.post(f"/projects/{pid}/needs",
                                      data={"need": str(need.id), "support": support, "own": own, "csrf": csrf})
        assert r.headers["location"] == f"/projects/{pid}?done=added"
    page = (await console.client.get(f"/projects/{pid}")).text
    assert '<dd id="total-support">1.620</dd>' in page and '<dd id="total-own">40,5</dd>' in page
    assert '<dd id="total-investment">1.660,5</dd>' in page
    assert "Không có nhu cầu đã duyệt nào ngoài các đề án khớp với tìm kiếm." in page  # both taken
    listing = (await console.client.get("/projects")).text
    assert '<td class="num">2</td><td class="num">2</td>\n    <td class="num">1.620</td><td class="num">40,5</td>' \
        in listing
    need_page = (await console.client.get(f"/needs/{fish.id}")).text
    assert (f'<dt>Đề án</dt><dd><a href="/projects/{pid}">Hỗ trợ máy móc thiết bị 2026</a> · Khuyến công địa phương '
            "2026 · hỗ trợ 120, vốn đối ứng 40,5 triệu đồng</dd>") in need_page
    assert "<dt>Đề án</dt>" not in (await console.client.get(f"/needs/{fresh.id}")).text
    async with console.app.session_maker() as session:
        rows = (await session.exec(select(ProjectNeed).order_by(col(ProjectNeed.id)))).all()
        assert [(r.need_id, r.support_million, r.own_contribution_million) for r in rows] == [
            (fish.id, Decimal("120.00"), Decimal("40.50")), (cake.id, Decimal("1500.00"), Decimal("0.00"))]
    assert [e.action for e in await _audit(console)] == ["project_create", "project_add", "project_add"]


async def test_needs_that_cannot_join_are_refused_politely(console: Console) -> None:
    fish = await console.add_need(status="approved")
    fresh = await console.add_need(facility="Xưởng mộc Tân Phát", status="received")
    await console.sign_in_as("staff")
    _r, first = await _create(console)
    _r, second = await _create(console, name="Đề án quốc gia", funding_source="national")
    csrf = await console.csrf()

    async def add(pid: int, need_id: Any, support: str = "100") -> str:
        r = await console.client.post(f"/projects/{pid}/needs",
                                      data={"need": str(need_id), "support": support, "own": "", "csrf": csrf})
        assert r.status_code == 303
        return (await console.client.get(r.headers["location"])).text

    assert f"Chỉ nhu cầu đã được duyệt mới đưa vào đề án được ({fresh.ref} chưa được duyệt)." in await add(
        first, fresh.id)
    assert "Số tiền phải lớn hơn 0." in await add(first, fish.id, "0")
    assert "Không có nhu cầu này." in await add(first, "abc")
    await add(first, fish.id)
    assert f"{fish.ref} đã nằm trong đề án “Hỗ trợ máy móc thiết bị 2026”." in await add(second, fish.id)
    async with console.app.session_maker() as session:
        assert [(r.project_id, r.need_id) for r in (await session.exec(select(ProjectNeed))).all()] == [
            (first, fish.id)]


async def test_a_need_is_taken_out_and_offered_again(console: Console) -> None:
    fish = await console.add_need(status="approved")
    await console.sign_in_as("staff")
    _r, pid = await _create(console)
    csrf = await console.csrf()
    await console.client.post(f"/projects/{pid}/needs", data={"need": str(fish.id), "support": "90", "csrf": csrf})
    r = await console.client.post(f"/projects/{pid}/needs/{fish.id}/remove", data={"csrf": csrf})
    assert r.headers["location"] == f"/projects/{pid}?done=removed"
    page = (await console.client.get(f"/projects/{pid}")).text
    assert "Chưa có nhu cầu nào trong đề án này." in page and '<dd id="total-support">0</dd>' in page
    assert f'name="need" value="{fish.id}"' in page  # back among the candidates
    again = await console.client.post(f"/projects/{pid}/needs/{fish.id}/remove", data={"csrf": csrf})
    assert "Nhu cầu này không nằm trong đề án." in (await console.client.get(again.headers["location"])).text
    assert [e.action for e in await _audit(console)] == ["project_create", "project_add", "project_remove"]


async def test_a_needs_amounts_are_corrected_in_place(console: Console) -> None:
    fish = await console.add_need(status="approved")
    await console.sign_in_as("staff")
    _r, pid = await _create(console)
    csrf = await console.csrf()
    await console.client.post(f"/projects/{pid}/needs", data={"need": str(fish.id), "support": "90", "csrf": csrf})
    r = await console.client.post(f"/projects/{pid}/needs/{fish.id}", data={"support": "95,5", "own": "30",
                                                                            "csrf": csrf})
    assert r.headers["location"] == f"/projects/{pid}?done=amounts"
    page = (await console.client.get(r.headers["location"])).text
    assert "Đã lưu số tiền." in page and '<dd id="total-support">95,5</dd>' in page
    assert '<dd id="total-own">30</dd>' in page
    activity = re.sub(r"\s+", " ", page.split("Hoạt động trên đề án này", 1)[1])
    assert f"{fish.ref}: hỗ trợ 90 → 95,5 · vốn đối ứng 0 → 30" in activity
    same = await console.client.post(f"/projects/{pid}/needs/{fish.id}", data={"support": "95.50", "own": "30",
                                                                               "csrf": csrf})
    assert same.headers["location"] == f"/projects/{pid}?done=unchanged"
    bad = await console.client.post(f"/projects/{pid}/needs/{fish.id}", data={"support": "nhiều", "own": "-1",
                                                                              "csrf": csrf})
    shown = (await console.client.get(bad.headers["location"])).text
    assert "Vui lòng nhập số tiền bằng chữ số, tính theo triệu đồng" in shown
    assert "Số tiền không được âm." in shown
    async with console.app.session_maker() as session:
        member = (await session.exec(select(ProjectNeed))).one()
        assert (member.support_million, member.own_contribution_million) == (Decimal("95.50"), Decimal("30.00"))
    assert [e.action for e in await _audit(console)] == ["project_create", "project_add", "project_amounts"]


async def test_editing_moves_the_status_and_is_audited(console: Console) -> None:
    await console.sign_in_as("staff")
    _r, pid = await _create(console)
    csrf = await console.csrf()
    r = await console.client.post(f"/projects/{pid}", data={**FORM, "status": "disbursed", "csrf": csrf})
    assert r.headers["location"] == f"/projects/{pid}?done=saved"
    same = await console.client.post(f"/projects/{pid}", data={**FORM, "status": "disbursed", "csrf": csrf})
    assert same.headers["location"] == f"/projects/{pid}?done=unchanged"
    bad = await console.client.post(f"/projects/{pid}", data={**FORM, "status": "lost", "csrf": csrf})
    assert bad.status_code == 400 and "Vui lòng chọn trạng thái." in bad.text
    page = (await console.client.get(f"/projects/{pid}")).text
    assert '<span class="status p-disbursed">Đã giải ngân</span>' in page
    activity = re.sub(r"\s+", " ", page.split("Hoạt động trên đề án này", 1)[1])
    assert "Trạng thái: Đã phê duyệt → Đã giải ngân" in activity
    entries = await _audit(console)
    assert [(e.action, e.detail) for e in entries][1:] == [
        ("project_edit", {"changes": {"status": ["approved", "disbursed"]}})]


async def test_the_list_filters_by_year_source_and_status(console: Console) -> None:
    await console.sign_in_as("staff")
    await _create(console, name="Địa phương 2025", year="2025", approved_on="2025-04-01")
    await _create(console, name="Quốc gia 2026", funding_source="national")
    await _create(console, name="Nông thôn mới 2026", funding_source="ntm", status="post_checked")

    def names(html: str) -> list[str]:
        return re.findall(r'<a href="/projects/\d+">([^<]+)</a>', html)

    # Newest decision first; the same day: the one created last first.
    assert names((await console.client.get("/projects")).text) == [
        "Nông thôn mới 2026", "Quốc gia 2026", "Địa phương 2025"]
    assert names((await console.client.get("/projects?year=2025")).text) == ["Địa phương 2025"]
    assert names((await console.client.get("/projects?source=national")).text) == ["Quốc gia 2026"]
    assert names((await console.client.get("/projects?status=post_checked&year=2026")).text) == [
        "Nông thôn mới 2026"]
    assert "Chưa có đề án nào." in (await console.client.get("/projects?source=other")).text
    page = (await console.client.get("/projects?source=bogus&year=x")).text  # unknown filters are ignored
    assert len(names(page)) == 3 and "Chương trình MTQG xây dựng nông thôn mới" in page


async def test_the_sandbox_demo_has_a_project_of_its_machinery_needs(console: Console) -> None:
    from bot.seed import seed

    async with console.app.session_maker() as session:
        await seed(session, clock=console.clock, communes=console.app.communes, tz=console.app.tz)
        await session.commit()
    await console.sign_in_as("staff")
    listing = (await console.client.get("/projects")).text
    assert "Hỗ trợ ứng dụng máy móc thiết bị tiên tiến năm 2026" in listing and "Đang thực hiện" in listing
    async with console.app.session_maker() as session:
        members = (await session.exec(select(ProjectNeed))).all()
        assert len(members) == 2 and all(m.support_million > 0 for m in members)


async def test_a_need_declined_after_joining_stays_listed_but_no_longer_counts(console: Console) -> None:
    """What the centre expects: the decision named the facility, so the need stays in the project's list, marked
    and crossed out with the reason; the project's totals, the list of projects and the report count only the
    needs that still stand; the project's log says why the totals moved; approved again, it counts again."""
    import io

    import openpyxl

    fish = await console.add_need(status="approved")
    cake = await console.add_need(facility="Lò bánh tráng Mỹ Hòa", phone="+84987654321", status="approved")
    await console.sign_in_as("staff")
    _r, pid = await _create(console)
    csrf = await console.csrf()
    for need, support, own in ((fish, "120", "40"), (cake, "300", "100")):
        await console.client.post(f"/projects/{pid}/needs",
                                  data={"need": str(need.id), "support": support, "own": own, "csrf": csrf})
    # Before declining, staff are told what it does to the project.
    warning = "Nếu từ chối, nhu cầu vẫn hiện trong đề án nhưng không còn được tính vào tổng số và báo cáo của đề án."
    before = re.sub(r"\s+", " ", (await console.client.get(f"/needs/{fish.id}")).text)
    assert warning in before and "(hỗ trợ 120 triệu đồng)" in before.split(warning)[0][-200:]
    r = await console.client.post(f"/needs/{fish.id}/status",
                                  data={"to": "declined", "reason": "Cơ sở không đủ vốn đối ứng", "csrf": csrf})
    assert r.status_code == 303
    assert warning not in re.sub(r"\s+", " ", (await console.client.get(f"/needs/{fish.id}")).text)

    page = (await console.client.get(f"/projects/{pid}")).text
    row = re.sub(r"\s+", " ", page.split(f'id="member-{fish.id}"', 1)[1].split("</tr>", 1)[0])
    assert 'class="not-counted"' in page.split(f'id="member-{fish.id}"', 1)[1][:30]
    assert "Không được hỗ trợ — không tính" in row and "Cơ sở không đủ vốn đối ứng" in row and "<s>120</s>" in row
    assert '<dd id="total-facilities">1</dd>' in page and '<dd id="total-support">300</dd>' in page
    assert '<dd id="total-own">100</dd>' in page and "(không tính 1 nhu cầu)" in page
    listing = (await console.client.get("/projects")).text
    assert '<td class="num">1<br><small>+1 không tính</small></td><td class="num">1</td>' in listing
    assert '<td class="num">300</td><td class="num">100</td>' in listing
    need_page = (await console.client.get(f"/needs/{fish.id}")).text
    assert "Không tính vào đề án: nhu cầu này đang ở trạng thái “Không được hỗ trợ”." in need_page
    report = (await console.client.get("/reports?period=2026")).text
    local = report.split("<td>Khuyến công địa phương</td>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', local) == ["1", "1", "1", "300", "100", "400"]
    wb = openpyxl.load_workbook(io.BytesIO((await console.client.get("/reports/export.xlsx?period=2026")).content))
    supported = list(wb["Cơ sở được hỗ trợ"].iter_rows(values_only=True))
    assert [r[5] for r in supported[1:]] == ["Lò bánh tráng Mỹ Hòa"]
    activity = re.sub(r"\s+", " ", page.split("Hoạt động trên đề án này", 1)[1])
    activity = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", activity))
    assert "Một nhu cầu của đề án không còn được tính" in activity
    assert f"{fish.ref} · Không được hỗ trợ Cơ sở không đủ vốn đối ứng" in activity

    # Approved again (reopened, surveyed, approved): it counts again, and the log says so.
    await console.client.post(f"/needs/{fish.id}/reopen", data={"reason": "Cơ sở đã thu xếp được vốn",
                                                                "csrf": csrf})
    assert '<dd id="total-support">300</dd>' in (await console.client.get(f"/projects/{pid}")).text
    for step in ("surveyed", "approved"):
        await console.client.post(f"/needs/{fish.id}/status", data={"to": step, "csrf": csrf})
    page = (await console.client.get(f"/projects/{pid}")).text
    assert 'class="not-counted"' not in page and '<dd id="total-support">420</dd>' in page
    assert [(e.action, e.detail.get("to")) for e in await _audit(console)][3:] == [
        ("project_need_dropped", "declined"), ("project_need_back", "approved")]
