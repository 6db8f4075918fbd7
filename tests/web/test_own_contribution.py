"""The facility's own contribution (vốn đối ứng) in the staff console: its export column (XLSX and CSV), the
need's page, the needs table (shown and sortable) and the dashboard's sums."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

import openpyxl

from storage.models import Need
from tests.web.conftest import Console

REF = re.compile(r">(NC-2026-\d{4})<")


async def _needs(console: Console) -> list[Need]:
    return [
        await console.add_need(cost="150.5", own="40.25", month=date(2026, 5, 1)),
        await console.add_need(facility="Lò bánh tráng Mỹ Hòa", cost="80", own="0", status="surveyed"),
        await console.add_need(facility="Xưởng mộc Tân Phát", category="training", cost=None),
    ]


async def test_xlsx_export_has_the_own_contribution_as_a_number_after_the_cost(console: Console) -> None:
    await _needs(console)
    await console.sign_in_as("staff")
    r = await console.client.get("/needs/export.xlsx?sort=ref&dir=asc")
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][10:13] == ("Kinh phí dự kiến (triệu đồng)", "Vốn đối ứng (triệu đồng)", "Thời gian mong muốn")
    assert [row[10:12] for row in rows[1:]] == [(150.5, 40.25), (80, 0), (None, None)]
    assert rows[1][12] == datetime(2026, 5, 1) and ws["M2"].number_format == "MM/YYYY"  # the month moved right
    assert len(rows[0]) == 16 and ws.column_dimensions["L"].width == 14 and ws.column_dimensions["P"].width == 10


async def test_csv_export_has_the_own_contribution_column(console: Console) -> None:
    await _needs(console)
    await console.sign_in_as("staff")
    r = await console.client.get("/needs/export.csv?sort=ref&dir=asc")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig").split("\r\n", 1)[1])))
    assert rows[0][11] == "Vốn đối ứng (triệu đồng)"
    assert [row[10:13] for row in rows[1:]] == [["150.50", "40.25", "05/2026"], ["80.00", "0.00", ""],
                                                 ["", "", ""]]


async def test_the_need_page_and_the_table_show_it(console: Console) -> None:
    a, b, c = await _needs(console)
    await console.sign_in_as("staff")
    page = (await console.client.get(f"/needs/{a.id}")).text
    assert "<dt>Vốn đối ứng (triệu đồng)</dt><dd>40,25</dd>" in page
    assert "<dt>Vốn đối ứng (triệu đồng)</dt><dd>0</dd>" in (await console.client.get(f"/needs/{b.id}")).text
    assert "Vốn đối ứng" not in (await console.client.get(f"/needs/{c.id}")).text  # no machine, no amounts

    table = (await console.client.get("/needs?sort=ref&dir=asc")).text
    assert "Vốn đối ứng" in table and '<td class="num">150,5</td>\n    <td class="num">40,25</td>' in table
    assert REF.findall((await console.client.get("/needs?sort=contribution&dir=desc")).text) == [
        a.ref, b.ref, c.ref]  # none given: last
    assert REF.findall((await console.client.get("/needs?sort=contribution&dir=asc")).text) == [
        b.ref, a.ref, c.ref]


async def test_the_dashboard_sums_the_own_contributions(console: Console) -> None:
    await _needs(console)
    await console.sign_in_as("staff")
    r = await console.client.get("/")
    assert "3 nhu cầu mới, đề nghị hỗ trợ 230,5 triệu đồng. Vốn đối ứng của các cơ sở: 40,25 triệu đồng." in r.text
    assert "<th class=\"num\">Vốn đối ứng</th>" in r.text
    received = re.search(r'status=received">[^<]+</a></td>(.*?)</tr>', r.text).group(1)  # type: ignore[union-attr]
    assert received == '<td class="num">2</td><td class="num">150,5</td><td class="num">40,25</td>'
    other = await console.client.get("/?from=2026-07-01&to=2026-12-31")
    assert "Vốn đối ứng của các cơ sở" not in other.text  # nothing in that period
