"""Collaborator reports through the Dispatcher: staff set the deadline, collaborators report, staff watch."""

from sqlmodel import select

from storage.models import ReportSubmission
from tests.conftest import STAFF_ID, ChatHarness, Person, form_cb
from tests.updates.test_invites import join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)


async def test_schedule_report_and_status(chat: ChatHarness) -> None:
    ctv = Person(7001, language_code=EN)
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    other = Person(7002, language_code=EN)
    await join(chat, other, await make_invite(chat, commune="chau doc"))

    assert "no report due" in (await chat.send(ctv, "/report"))[-1].text
    await chat.send(STAFF, "/reportschedule")
    await chat.send(STAFF, "Báo cáo tháng của CTV")
    await chat.press(STAFF, form_cb("c", "report_schedule", "frequency", "monthly"))
    assert "at most 28" in (await chat.send(STAFF, "31"))[-1].text
    assert "from 1 to 28" in (await chat.send(STAFF, "0"))[-1].text
    await chat.send(STAFF, "10")
    assert "separated by commas" in (await chat.send(STAFF, "ba ngày"))[-1].text
    await chat.send(STAFF, "3, 1")
    calls = await chat.press(STAFF, form_cb("ok", "report_schedule", "__summary__"))
    assert "Next deadline: 10/03/2026" in calls[-1].text

    calls = await chat.send(ctv, "/report")
    assert "for 2026-03 (due 10/03/2026)" in calls[-1].text
    assert "whole number" in (await chat.send(ctv, "mười hai"))[-1].text
    assert "cannot be negative" in (await chat.send(ctv, "-3"))[-1].text
    await chat.send(ctv, "12")
    await chat.send(ctv, "3")
    await chat.send(ctv, "Nhiều cơ sở cần <máy sấy>")
    calls = await chat.press(ctv, form_cb("ok", "report", "__summary__"))
    assert "report for 2026-03 has been received" in calls[-1].text

    status = (await chat.send(STAFF, "/reports"))[-1].text
    assert "1 of 2 reported" in status
    assert "✅ Phường Long Xuyên" in status and "❌ Phường Châu Đốc" in status
    export = next(c for c in await chat.press_button(STAFF, "CSV") if c.method == "SendDocument")
    data = export.params["document"]["data"].decode("utf-8-sig")
    assert data.splitlines()[0] == "sep=,"
    assert data.splitlines()[1].startswith("Xã/phường") or data.splitlines()[1].startswith("Xã/Phường")
    assert "Nhiều cơ sở cần <máy sấy>" in data
    async with chat.app.session_maker() as s:
        (sub,) = (await s.exec(select(ReportSubmission))).all()
    assert (sub.facilities_visited, sub.needs_collected, sub.period) == (12, 3, "2026-03")


async def test_reports_are_refused_to_others(chat: ChatHarness) -> None:
    facility = Person(7003, language_code=EN)
    assert "only available to staff" in (await chat.send(facility, "/reports"))[-1].text
    assert "only available to staff" in (await chat.send(facility, "/reportschedule"))[-1].text
    assert "Only collaborators send periodic reports" in (await chat.send(facility, "/report"))[-1].text


async def test_number_fields_refuse_unicode_digits_and_huge_numbers_politely(chat: ChatHarness) -> None:
    ctv = Person(7004, language_code=EN)
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    await chat.send(STAFF, "/reportschedule")
    await chat.send(STAFF, "Báo cáo tháng")
    await chat.press(STAFF, form_cb("c", "report_schedule", "frequency", "monthly"))
    for typed in ("²", "٣", "9" * 5000):
        reply = (await chat.send(STAFF, typed))[-1].text
        assert "whole number from 0 to 28 with the digits 0–9" in reply or "at most 28" in reply, reply
    await chat.send(STAFF, "10")
    for typed in ("3, ²", "٣", "1" * 4000):
        assert "with the digits 0–9" in (await chat.send(STAFF, typed))[-1].text
    await chat.send(STAFF, "3, 1")
    await chat.press(STAFF, form_cb("ok", "report_schedule", "__summary__"))

    await chat.send(ctv, "/report")
    assert "from 0 to 10000 with the digits 0–9" in (await chat.send(ctv, "²"))[-1].text
    assert "at most 10000" in (await chat.send(ctv, "9" * 5000))[-1].text
    await chat.send(ctv, "12")
    await chat.send(ctv, "3")
    await chat.press(ctv, form_cb("s", "report", "notes"))
    calls = await chat.press(ctv, form_cb("ok", "report", "__summary__"))
    assert "has been received" in calls[-1].text
    async with chat.app.session_maker() as s:
        (sub,) = (await s.exec(select(ReportSubmission))).all()
    assert (sub.facilities_visited, sub.needs_collected) == (12, 3)
