"""The report figures: the 2021–2025 example of the province's report seeded and read back exactly, on the
printable page and in the XLSX workbook (sheets, headers, typed cells, frozen header rows); local-time period
boundaries; presets; a commune; the export audited."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
from sqlmodel import col, select

from storage.models import (
    Announcement,
    AuditEntry,
    CertifiedProduct,
    Facility,
    Need,
    NeedEvent,
    Project,
    ProjectNeed,
    Signup,
    User,
)
from tests.web.conftest import LONG_XUYEN, Console

CHAU_DOC = 30316  # Phường Châu Đốc
EXAMPLE = "/reports?period=2021-2025"


async def _project(console: Console, *, source: str, approved_on: date, needs: list[tuple[str, str, str, int]],
                   name: str) -> None:
    """A project and its needs: (category, support, own contribution, commune), one facility each."""
    now = console.clock.now()
    async with console.app.session_maker() as session:
        project = Project(name=name, decision=f"{len(name)}/QĐ-SCT", funding_source=source, year=approved_on.year,
                          approved_on=approved_on, status="disbursed", created_at=now, updated_at=now)
        session.add(project)
        await session.flush()
        for i, (category, support, own, commune) in enumerate(needs):
            facility = Facility(name=f"{name} cơ sở {i + 1}", owner_name="Nguyễn Văn A", phone=f"+8491234{i:04d}",
                                commune_code=commune, sector="food", created_at=now, updated_at=now)
            session.add(facility)
            await session.flush()
            need = Need(facility_id=facility.id, commune_code=commune, category=category, description="Máy",
                        status="completed", created_at=now, updated_at=now)
            session.add(need)
            await session.flush()
            need.ref = f"NC-2026-{need.id:04d}"
            session.add(ProjectNeed(project_id=project.id, need_id=need.id, support_million=Decimal(support),
                                    own_contribution_million=Decimal(own), added_at=now))
        await session.commit()


def _split(total: int, parts: int) -> list[str]:
    """`total` in `parts` whole amounts (the last takes the remainder)."""
    each = total // parts
    return [str(each)] * (parts - 1) + [str(total - each * (parts - 1))]


async def _people(console: Console, n: int) -> list[User]:
    """Facility owners on the chat: the first five of Châu Đốc, the others of Long Xuyên."""
    now = console.clock.now()
    async with console.app.session_maker() as session:
        users = [User(channel="telegram", external_id=f"9{i:03d}", full_name=f"Chủ {i}", created_at=now,
                      updated_at=now) for i in range(n)]
        session.add_all(users)
        await session.flush()
        for i, user in enumerate(users):
            session.add(Facility(name=f"Cơ sở {i}", commune_code=CHAU_DOC if i < 5 else LONG_XUYEN, sector="food",
                                 owner_user_id=user.id, created_at=now, updated_at=now))
        await session.commit()
        for user in users:
            await session.refresh(user)
    return users


async def _event(console: Console, people: list[User], *, kind: str, title: str, starts: date | None,
                 signed: int, declined: int = 0, completed: int = 0, sent: bool = True,
                 products: tuple[str, ...] = ()) -> None:
    """An announcement and its sign-ups; a competition's certified products (their levels) go to the sign-ups
    in turn, each of its participant's commune (the first five people are of Châu Đốc)."""
    now = console.clock.now()
    async with console.app.session_maker() as session:
        ann = Announcement(kind=kind, title=title, body="…", place="Vĩnh Long", starts_on=starts,
                           ends_on=starts + timedelta(days=4) if starts else None,
                           status="sent" if sent else "draft", started_at=now if sent else None,
                           created_at=now, updated_at=now)
        session.add(ann)
        await session.flush()
        signups = []
        for i, person in enumerate(people[:signed + declined]):
            signup = Signup(announcement_id=ann.id, user_id=person.id, status="signed_up" if i < signed else "declined",
                            completed_at=now if i < completed else None, created_at=now, updated_at=now)
            session.add(signup)
            signups.append(signup)
        await session.flush()
        for j, level in enumerate(products):
            session.add(CertifiedProduct(signup_id=signups[j % signed].id, name=f"Sản phẩm {j + 1}", level=level,
                                         certified_on=starts or date(2026, 1, 1), created_at=now,
                                         commune_code=CHAU_DOC if j % signed < 5 else LONG_XUYEN))
        await session.commit()


async def _seed_example(console: Console) -> None:
    """The 2021–2025 report of An Giang: 5 facilities and 1,400 million (national, 4,600 mobilised), 57 and
    13,058 (local, 27,148 mobilised); 12 fairs with 205 participations; 2 contests with 29 participants."""
    national = [("machinery", s, o, LONG_XUYEN) for s, o in zip(_split(1400, 5), _split(4600, 5), strict=True)]
    await _project(console, source="national", approved_on=date(2023, 5, 10), needs=national, name="Quốc gia 2023")
    local = [("machinery", s, o, CHAU_DOC if i < 7 else LONG_XUYEN)
             for i, (s, o) in enumerate(zip(_split(13058, 57), _split(27148, 57), strict=True))]
    await _project(console, source="local", approved_on=date(2021, 1, 1), needs=local[:30], name="Địa phương 2021")
    await _project(console, source="local", approved_on=date(2025, 12, 31), needs=local[30:], name="Địa phương 2025")
    await _project(console, source="ntm", approved_on=date(2024, 7, 1), name="Nông thôn mới 2024",
                   needs=[("technology", "300", "150.5", LONG_XUYEN)])
    await _project(console, source="national", approved_on=date(2026, 1, 1), name="Quốc gia 2026",
                   needs=[("machinery", "500", "500", LONG_XUYEN)])  # the next plan: not in 2021–2025
    people = await _people(console, 20)
    for i in range(12):  # 11 fairs of 17 and one of 18: 205
        await _event(console, people, kind="fair", title=f"Hội chợ {i + 1}", starts=date(2021 + i % 5, 9, 1),
                     signed=18 if i == 11 else 17, declined=2)
    await _event(console, people, kind="fair", title="Hội chợ nháp", starts=date(2024, 1, 1), signed=0, sent=False)
    await _event(console, people, kind="fair", title="Hội chợ 2026", starts=date(2026, 2, 1), signed=3)
    # 33 products certified: 22 at provincial, 8 at regional and 3 at national level.
    await _event(console, people, kind="competition", title="Bình chọn 2022", starts=date(2022, 6, 1), signed=15,
                 completed=11, products=("provincial",) * 11 + ("regional",) * 4 + ("national",))
    await _event(console, people, kind="competition", title="Bình chọn 2024", starts=date(2024, 8, 1), signed=14,
                 completed=12, products=("provincial",) * 11 + ("regional",) * 4 + ("national",) * 2)
    await _event(console, people, kind="training", title="Tập huấn thương mại điện tử", starts=date(2025, 3, 3),
                 signed=9)


def _cells(html: str, anchor: str, section: str = "") -> list[str]:
    """The number cells of the first table row (of a section, by its id) whose first cell is `anchor`."""
    if section:
        html = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    row = re.search(r"<t[dh]>" + re.escape(anchor) + r"</t[dh]>(.*?)</tr>", html, re.S)
    assert row, anchor
    return re.findall(r'<t[dh] class="num">([^<]*)</t[dh]>', row.group(1))


async def test_the_example_of_the_2021_2025_report_on_the_page(console: Console) -> None:
    await _seed_example(console)
    await console.sign_in_as("staff")
    page = (await console.client.get(EXAMPLE)).text
    assert "Số liệu báo cáo: Giai đoạn 2021–2025" in page
    # projects, facilities, of which machinery, support, mobilised, total investment
    assert _cells(page, "Khuyến công quốc gia") == ["1", "5", "5", "1.400", "4.600", "6.000"]
    assert _cells(page, "Khuyến công địa phương") == ["2", "57", "57", "13.058", "27.148", "40.206"]
    assert _cells(page, "Chương trình MTQG xây dựng nông thôn mới") == ["1", "1", "0", "300", "150,5", "450,5"]
    assert _cells(page, "Nguồn khác") == ["0", "0", "0", "0", "0", "0"]
    assert _cells(page, "Tổng cộng", "sources") == ["4", "63", "62", "14.758", "31.898,5", "46.656,5"]
    # times held, taking part, dossiers handed in
    assert _cells(page, "Hội chợ / triển lãm") == ["12", "205", "0"]
    assert _cells(page, "Bình chọn sản phẩm CNNT tiêu biểu") == ["2", "29", "23"]
    assert _cells(page, "Lớp tập huấn") == ["1", "9", "0"]
    # participants, dossiers handed in, certified at provincial, regional, national level, products certified
    assert _cells(page, "Bình chọn 2022", "competitions") == ["15", "11", "11", "4", "1", "16"]
    assert _cells(page, "Bình chọn 2024", "competitions") == ["14", "12", "11", "4", "2", "17"]
    assert _cells(page, "Tổng: 2 cuộc bình chọn", "competitions") == ["29", "23", "22", "8", "3", "33"]
    assert "Hội chợ nháp" not in page and "Hội chợ 2026" not in page


async def test_the_workbook_has_one_typed_sheet_per_table(console: Console) -> None:
    await _seed_example(console)
    await console.sign_in_as("staff")
    r = await console.client.get("/reports/export.xlsx?period=2021-2025")
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    assert 'filename="bao-cao_2021-01-01_2025-12-31.xlsx"' in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["Kỳ báo cáo", "Nguồn kinh phí", "Cơ sở được hỗ trợ", "Hoạt động",
                             "Hội chợ, bình chọn, tập huấn", "Bình chọn sản phẩm", "Sản phẩm được công nhận",
                             "Nhu cầu tiếp nhận"]
    assert all(ws.freeze_panes == "A2" for ws in wb.worksheets)
    period = [list(row) for row in wb["Kỳ báo cáo"].iter_rows(values_only=True)]
    assert period[:4] == [["Mục", "Giá trị"], ["Kỳ báo cáo", "Giai đoạn 2021–2025"],
                          ["Từ ngày", datetime(2021, 1, 1)], ["Đến ngày", datetime(2025, 12, 31)]]
    sources = wb["Nguồn kinh phí"]
    rows = list(sources.iter_rows(values_only=True))
    assert rows[0] == ("Nguồn kinh phí", "Số đề án", "Cơ sở được hỗ trợ", "Trong đó hỗ trợ máy móc thiết bị",
                       "Kinh phí hỗ trợ (triệu đồng)", "Vốn huy động từ cơ sở (triệu đồng)",
                       "Tổng vốn đầu tư (triệu đồng)")
    assert rows[1] == ("Khuyến công quốc gia", 1, 5, 5, 1400, 4600, 6000)
    assert rows[2] == ("Khuyến công địa phương", 2, 57, 57, 13058, 27148, 40206)
    assert rows[5] == ("Tổng cộng", 4, 63, 62, 14758, 31898.5, 46656.5)
    assert sources["E2"].data_type == "n" and sources.column_dimensions["A"].width == 40
    assert sources["A1"].font.bold

    supported = wb["Cơ sở được hỗ trợ"]
    head = [c.value for c in supported[1]]
    assert head[2] == "Ngày phê duyệt" and head[7] == "Điện thoại"
    assert supported.max_row == 1 + 5 + 57 + 1
    assert supported["C2"].value == datetime(2021, 1, 1) and supported["C2"].number_format == "DD/MM/YYYY"
    assert supported["H2"].value == "0912 340 000" and supported["H2"].data_type == "s"
    assert supported["H2"].number_format == "@" and isinstance(supported["K2"].value, int | float)

    activities = list(wb["Hoạt động"].iter_rows(values_only=True))
    assert activities[1:] == [("Hội chợ / triển lãm", 12, 205, 0), ("Bình chọn sản phẩm CNNT tiêu biểu", 2, 29, 23),
                              ("Lớp tập huấn", 1, 9, 0), ("Lượt khảo sát", 0, 0, None)]
    contests = list(wb["Bình chọn sản phẩm"].iter_rows(values_only=True))
    assert [row[2:] for row in contests[1:]] == [(15, 11, 11, 4, 1, 16), (14, 12, 11, 4, 2, 17),
                                                 (29, 23, 22, 8, 3, 33)]
    assert wb["Sản phẩm được công nhận"].max_row == 1 + 33
    events = wb["Hội chợ, bình chọn, tập huấn"]
    assert events.max_row == 1 + 12 + 2 + 1
    assert isinstance(events["D2"].value, datetime) and events["F2"].data_type == "n"
    async with console.app.session_maker() as session:
        entry = (await session.exec(select(AuditEntry).where(col(AuditEntry.action) == "report_export"))).one()
        assert entry.detail == {"from": "2021-01-01", "to": "2025-12-31", "commune": None}


async def test_one_commune(console: Console) -> None:
    await _seed_example(console)
    await console.sign_in_as("staff")
    page = (await console.client.get(f"{EXAMPLE}&commune={CHAU_DOC}")).text
    assert "Số liệu báo cáo: Giai đoạn 2021–2025 · Phường Châu Đốc" in page
    assert _cells(page, "Khuyến công quốc gia") == ["0", "0", "0", "0", "0", "0"]
    local = _cells(page, "Khuyến công địa phương")
    assert local[:3] == ["1", "7", "7"]  # the seven of Châu Đốc are in the 2021 project
    # Five of the twenty owners are of Châu Đốc: five in each fair, in each contest and in the course.
    assert _cells(page, "Hội chợ / triển lãm") == ["12", "60", "0"]
    assert _cells(page, "Bình chọn sản phẩm CNNT tiêu biểu") == ["2", "10", "10"]
    # Their products: the first five participants' of each contest (and those that came round to them again).
    assert _cells(page, "Bình chọn 2022", "competitions") == ["5", "5", "5", "0", "1", "6"]
    assert _cells(page, "Bình chọn 2024", "competitions") == ["5", "5", "5", "1", "2", "8"]
    assert _cells(page, "Tổng: 2 cuộc bình chọn", "competitions") == ["10", "10", "10", "1", "3", "14"]
    wb = openpyxl.load_workbook(io.BytesIO((await console.client.get(
        f"/reports/export.xlsx?period=2021-2025&commune={CHAU_DOC}")).content))
    assert wb["Kỳ báo cáo"]["B5"].value == "Phường Châu Đốc"
    assert wb["Cơ sở được hỗ trợ"].max_row == 1 + 7


async def _need_at(console: Console, moment: datetime, *, category: str = "machinery", surveyed: bool = False,
                   status: str = "received") -> None:
    async with console.app.session_maker() as session:
        need = Need(commune_code=LONG_XUYEN, category=category, description="…", status=status,
                    created_at=moment, updated_at=moment)
        session.add(need)
        await session.flush()
        if surveyed:
            session.add(NeedEvent(need_id=need.id, from_status="received", to_status="surveyed", created_at=moment))
        await session.commit()


async def test_periods_are_local_days(console: Console) -> None:
    # 23:59 on 31/12/2025 and 00:30 on 1/1/2026 in Hồ Chí Minh City (UTC+7).
    await _need_at(console, datetime(2025, 12, 31, 16, 59, tzinfo=UTC), surveyed=True, status="surveyed")
    await _need_at(console, datetime(2025, 12, 31, 17, 30, tzinfo=UTC), category="training")
    await _need_at(console, datetime(2026, 6, 30, 16, 59, tzinfo=UTC), surveyed=True, status="surveyed")
    await _need_at(console, datetime(2026, 6, 30, 17, 0, tzinfo=UTC), category="fair")  # 1/7/2026 00:00
    await console.sign_in_as("staff")
    last_year = (await console.client.get("/reports?period=2025")).text
    assert _cells(last_year, "Tổng cộng", "needs")[-1] == "1" and _cells(last_year, "Lượt khảo sát") == ["1", "0", "—"]
    this_half = (await console.client.get("/reports")).text  # the default: this half-year (1/1–30/6/2026)
    assert "Số liệu báo cáo: 6 tháng đầu năm 2026" in this_half
    assert _cells(this_half, "Đào tạo, nâng cao năng lực quản lý")[-1] == "1"
    assert _cells(this_half, "Máy móc thiết bị tiên tiến")[0] == "0"
    assert _cells(this_half, "Máy móc thiết bị tiên tiến")[1] == "1"  # surveyed, received on 30/6
    assert _cells(this_half, "Lượt khảo sát")[0] == "1"
    second = (await console.client.get("/reports?period=2026-H2")).text
    assert _cells(second, "Tổng cộng", "needs")[-1] == "1"
    chosen = (await console.client.get("/reports?from=2026-07-01&to=2025-12-31")).text  # swapped: put right
    assert "31/12/2025 – 01/07/2026" in chosen and _cells(chosen, "Tổng cộng", "needs")[-1] == "4"


async def test_presets_and_unknown_periods(console: Console) -> None:
    await console.sign_in_as("staff")
    page = (await console.client.get("/reports?period=nonsense&commune=99999999")).text
    presets = re.findall(r'<a href="/reports\?period=([^"&]+)"[^>]*>([^<]+)</a>', page)
    assert presets == [("2026-H1", "6 tháng đầu năm 2026"), ("2025-H2", "6 tháng cuối năm 2025"),
                       ("2026", "Năm 2026"), ("2025", "Năm 2025"), ("2021-2025", "Giai đoạn 2021–2025"),
                       ("2026-2030", "Giai đoạn 2026–2030")]
    assert 'aria-current="true">6 tháng đầu năm 2026' in page  # an unknown period: the default
    assert "@media print" in (await console.client.get("/static/console.css")).text
