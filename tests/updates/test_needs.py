"""Needs: filing (own and on behalf), listing, withdrawing; the staff inbox, status changes, export."""

import csv
import io

from sqlmodel import select

from storage.models import Facility, Need, OutboxMessage, User
from tests.conftest import STAFF_ID, ChatHarness, Person, file_need, form_cb, register_facility
from tests.updates.test_invites import join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)


async def _needs(chat: ChatHarness) -> list[Need]:
    async with chat.app.session_maker() as s:
        return list((await s.exec(select(Need).order_by(Need.id))).all())


async def test_machinery_need_with_cost_month_and_document(chat: ChatHarness) -> None:
    p = Person(3001, language_code=EN)
    await register_facility(chat, p)
    await chat.send(p, "/need")
    calls = await chat.press(p, form_cb("c", "need", "category", "machinery"))
    assert "describe the need" in calls[-1].text.lower()
    await chat.send(p, "Mở rộng sản xuất nước mắm")
    calls = await chat.send(p, "Máy sấy lạnh 500 kg/mẻ")
    assert "million đồng" in calls[-1].text
    calls = await chat.send(p, "năm trăm")
    assert "using digits" in calls[-1].text
    calls = await chat.send(p, "-5")
    assert "greater than zero" in calls[-1].text
    calls = await chat.send(p, "1e9")
    assert "using digits" in calls[-1].text
    calls = await chat.send(p, "12,5")
    assert "own contribution" in calls[-1].text
    await chat.send(p, "4")
    calls = await chat.send(p, "31/2/2026")
    assert "31/2/2026 is not a real date" in calls[-1].text
    calls = await chat.send(p, "13/2026")
    assert "There is no month 13" in calls[-1].text
    await chat.send(p, "5/2026")
    calls = await chat.document(p, "bao-gia.pdf")
    summary = calls[-1].text
    assert "12,5" in summary and "5/2026" in summary and "bao-gia.pdf" in summary
    assert "Own contribution (million đồng):</b> 4" in summary
    calls = await chat.press(p, form_cb("ok", "need", "__summary__"))
    assert "reference <b>NC-2026-0001</b>" in calls[-1].text
    (need,) = await _needs(chat)
    assert (need.status, need.category, str(need.est_cost_million)) == ("received", "machinery", "12.50")
    # The file was kept in the media store; Telegram's own id for it is remembered there.
    assert need.attachment_file_id.startswith("media:")
    assert await chat.app.media.channel_id(need.attachment_file_id.removeprefix("media:"), "telegram") == \
        "FILE-bao-gia.pdf"
    assert need.desired_month.isoformat() == "2026-05-01" and str(need.own_contribution_million) == "4.00"
    # Staff see the amounts and the attachment from the need's detail.
    await chat.send(STAFF, "/start")
    detail = (await chat.press(STAFF, f"ib.o:{need.id}||||"))[-1].text
    assert "Estimated cost: 12,5 million đồng\nOwn contribution: 4 million đồng" in detail
    calls = await chat.press_button(STAFF, "attachment")
    sent = [c for c in calls if c.method == "SendDocument"]
    assert sent and sent[0].params["document"] == "FILE-bao-gia.pdf" and sent[0].params["caption"] == need.ref
    assert "went wrong" not in " ".join(c.text for c in calls)


async def test_non_machinery_need_skips_machine_questions(chat: ChatHarness) -> None:
    p = Person(3002, language_code=EN)
    await register_facility(chat, p)
    calls = await file_need(chat, p, category="fair")
    assert "NC-2026-0001" in calls[-1].text
    (need,) = await _needs(chat)
    assert need.machine is None and need.est_cost_million is None


async def test_need_requires_registration(chat: ChatHarness) -> None:
    calls = await chat.send(Person(3003, language_code=EN), "/need")
    assert "register your facility first" in calls[-1].text


async def test_needs_list_and_withdraw(chat: ChatHarness) -> None:
    p = Person(3004, language_code=EN)
    await register_facility(chat, p)
    await file_need(chat, p)
    calls = await chat.send(p, "/needs")
    assert "NC-2026-0001" in calls[-1].text and "Received" in calls[-1].text
    await chat.press_button(p, "Withdraw NC-2026-0001")
    calls = await chat.press_button(p, "Yes, withdraw")
    assert "has been withdrawn" in calls[-1].text
    (need,) = await _needs(chat)
    assert need.status == "withdrawn"
    calls = await chat.send(p, "/needs")
    assert "Withdrawn" in calls[-1].text and not calls[-1].buttons()


async def test_cannot_withdraw_someone_elses_or_a_handled_need(chat: ChatHarness) -> None:
    owner, stranger = Person(3005, language_code=EN), Person(3006, language_code=EN)
    await register_facility(chat, owner)
    await file_need(chat, owner)
    (need,) = await _needs(chat)
    calls = await chat.press(stranger, f"mn:wy:{need.id}")
    assert "not yours" in calls[-1].params["text"]
    await chat.send(STAFF, "/start")
    await chat.press(STAFF, f"ib.m:{need.id}|surveyed||||")
    calls = await chat.press(owner, f"mn:wy:{need.id}")
    assert "still “Received”" in calls[-1].params["text"]
    (need,) = await _needs(chat)
    assert need.status == "surveyed"


async def test_collaborator_files_for_new_and_existing_facility(chat: ChatHarness) -> None:
    token = await make_invite(chat, commune="long xuyen")
    ctv = Person(3007, language_code=EN)
    await join(chat, ctv, token)
    owner = Person(3008, language_code=EN)
    await register_facility(chat, owner, name="Cơ sở bánh pía Tân Huê")  # in Long Xuyên too

    calls = await chat.send(ctv, "/need")
    assert "Phường Long Xuyên" in calls[-1].text
    labels = [t for t, _ in calls[-1].buttons()]
    assert "➕ New facility" in labels and "Cơ sở bánh pía Tân Huê" in labels
    calls = await chat.send(ctv, "tan hue")  # typed search, accent-free
    assert "What kind of support" in calls[-1].text
    await chat.press(ctv, form_cb("c", "need_proxy", "category", "training"))
    await chat.send(ctv, "Tập huấn an toàn thực phẩm")
    await chat.send(ctv, "6/2026")
    await chat.press(ctv, form_cb("s", "need_proxy", "attachment"))
    calls = await chat.press(ctv, form_cb("ok", "need_proxy", "__summary__"))
    assert "NC-2026-0001" in calls[-1].text

    await chat.send(ctv, "/need")
    await chat.press(ctv, form_cb("c", "need_proxy", "facility", "new"))
    await chat.send(ctv, "Cơ sở rượu Mỹ Hòa")
    await chat.send(ctv, "Phạm Văn Rượu")
    await chat.press(ctv, form_cb("s", "need_proxy", "new_phone"))
    await chat.press(ctv, form_cb("c", "need_proxy", "new_sector", "food"))
    await chat.press(ctv, form_cb("c", "need_proxy", "category", "consulting"))
    await chat.send(ctv, "Thiết kế nhãn")
    await chat.send(ctv, "7/2026")
    await chat.press(ctv, form_cb("s", "need_proxy", "attachment"))
    await chat.press(ctv, form_cb("ok", "need_proxy", "__summary__"))

    first, second = await _needs(chat)
    assert first.filed_by_user_id is not None and first.registrant_user_id is not None  # owner is notified
    assert second.filed_by_user_id is not None and second.registrant_user_id is None
    async with chat.app.session_maker() as s:
        new = (await s.exec(select(Facility).where(Facility.name == "Cơ sở rượu Mỹ Hòa"))).one()
    assert new.commune_code == 30307 and new.owner_user_id is None and new.phone is None
    calls = await chat.send(ctv, "/needs")
    assert "NC-2026-0001" in calls[-1].text and "NC-2026-0002" in calls[-1].text
    async with chat.app.session_maker() as s:
        collaborator = (await s.exec(select(User).where(User.id == first.filed_by_user_id))).one()
    await chat.send(STAFF, "/start")
    detail = (await chat.press(STAFF, f"ib.o:{first.id}||||"))[-1].text
    assert f"Filed by collaborator {collaborator.full_name}" in detail  # staff know whom to call


async def test_collaborator_cannot_pick_a_facility_outside_their_commune(chat: ChatHarness) -> None:
    token = await make_invite(chat, commune="my hoa hung")
    ctv = Person(3009, language_code=EN)
    await join(chat, ctv, token)
    owner = Person(3010, language_code=EN)
    await register_facility(chat, owner, commune="long xuyen")
    async with chat.app.session_maker() as s:
        facility = (await s.exec(select(Facility))).one()
    await chat.send(ctv, "/need")
    calls = await chat.press(ctv, form_cb("c", "need_proxy", "facility", str(facility.id)))
    assert "no longer available" in calls[-1].text


async def test_inbox_filters_open_and_move_with_notifications(chat: ChatHarness) -> None:
    owner = Person(3011, language_code=EN)
    await register_facility(chat, owner)
    await file_need(chat, owner, category="training")
    await file_need(chat, owner, category="fair")
    await chat.send(STAFF, "/start")
    calls = await chat.send(STAFF, "/inbox")
    text = calls[-1].text
    assert "2 found" in text
    labels = [t for t, _ in calls[-1].buttons()]
    assert labels[0].startswith("NC-2026-0002")  # newest first
    await chat.press_button(STAFF, "Kind ▾")
    calls = await chat.press_button(STAFF, "Trade fair")
    assert "1 found" in calls[-1].text
    calls = await chat.press_button(STAFF, "NC-2026-0002")
    assert "Trade fair" in calls[-1].text and "Nguyễn Thị Lan" in calls[-1].text
    calls = await chat.press_button(STAFF, "Mark surveyed")
    assert "Surveyed on site" in calls[-1].text
    notes = [c for c in chat.to(owner) if "is now" in c.text]
    assert notes[-1].text.startswith(
        "<b>Your need NC-2026-0002 (Trade fair or exhibition) is now: Surveyed on site.</b>\n\nThe centre's staff")
    await chat.press_button(STAFF, "Approve")
    await chat.press_button(STAFF, "supported/completed")
    notes = [c.text.split("\n\n")[0] for c in chat.to(owner) if "is now" in c.text]
    assert notes[-2:] == [
        "<b>Your need NC-2026-0002 (Trade fair or exhibition) is now: Approved (in a project or plan).</b>",
        "<b>Your need NC-2026-0002 (Trade fair or exhibition) is now: Supported / completed.</b>",
    ]
    async with chat.app.session_maker() as s:
        rows = (await s.exec(select(OutboxMessage))).all()
    assert [r.status for r in rows] == ["sent", "sent", "sent"]


async def test_decline_asks_reason_and_notifies_in_recipients_language(chat: ChatHarness) -> None:
    owner = Person(3012, language_code="vi")
    await register_facility(chat, owner)
    await file_need(chat, owner)
    (need,) = await _needs(chat)
    await chat.send(STAFF, "/start")
    calls = await chat.press(STAFF, f"ib.m:{need.id}|declined||||")
    assert "Why is this need declined" in calls[-1].text
    calls = await chat.send(STAFF, "   ")
    assert "empty answer" in calls[-1].text
    await chat.send(STAFF, "Không thuộc đối tượng <hỗ trợ> & đã được hỗ trợ năm 2025")
    assert "has been declined" in chat.last(STAFF).text
    note = chat.to(owner)[-1].text
    assert "NC-2026-0001" in note
    assert "Your need" not in note  # Vietnamese, not the staff member's English
    assert "&lt;hỗ trợ&gt; &amp; đã" in note
    (need,) = await _needs(chat)
    assert need.status == "declined" and need.decline_reason.startswith("Không thuộc")


async def test_status_change_notifies_collaborator_too(chat: ChatHarness) -> None:
    token = await make_invite(chat, commune="long xuyen")
    ctv = Person(3013, language_code=EN)
    await join(chat, ctv, token)
    owner = Person(3014, language_code=EN)
    await register_facility(chat, owner)
    await chat.send(ctv, "/need")
    await chat.send(ctv, "hung thinh")
    await chat.press(ctv, form_cb("c", "need_proxy", "category", "training"))
    await chat.send(ctv, "Tập huấn")
    await chat.send(ctv, "6/2026")
    await chat.press(ctv, form_cb("s", "need_proxy", "attachment"))
    await chat.press(ctv, form_cb("ok", "need_proxy", "__summary__"))
    (need,) = await _needs(chat)
    await chat.press(STAFF, f"ib.m:{need.id}|surveyed||||")
    told = chat.to(owner)[-1].text
    assert "Your need NC-2026-0001" in told and "is now: Surveyed on site." in told
    assert "you filed for" in chat.to(ctv)[-1].text and "is now: Surveyed on site." in chat.to(ctv)[-1].text


async def test_stale_status_button_changes_nothing(chat: ChatHarness) -> None:
    owner = Person(3015, language_code=EN)
    await register_facility(chat, owner)
    await file_need(chat, owner)
    (need,) = await _needs(chat)
    await chat.press(STAFF, f"ib.m:{need.id}|surveyed||||")
    calls = await chat.press(STAFF, f"ib.m:{need.id}|surveyed||||")  # pressed again on the old message
    assert "already moved on" in calls[-1].params["text"]
    calls = await chat.press(STAFF, "ib.o:99999||||")
    assert "no longer exists" in calls[-1].params["text"]
    calls = await chat.press(STAFF, f"ib.m:{need.id}|bogus||||")
    assert calls[-1].method == "AnswerCallbackQuery"
    (need,) = await _needs(chat)
    assert need.status == "surveyed"


async def test_export_csv_has_bom_and_vietnamese_headers(chat: ChatHarness) -> None:
    owner = Person(3016, language_code=EN)
    await register_facility(chat, owner)
    await file_need(chat, owner)
    calls = await chat.send(STAFF, "/export")
    doc = calls[-1].params["document"]
    assert doc["filename"].endswith(".csv")
    data: bytes = doc["data"]
    assert data.startswith(b"\xef\xbb\xbfsep=,\r\n")  # Excel: UTF-8, and commas whatever the regional settings
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    assert rows[0][0] == "Mã nhu cầu" and "Tên cơ sở" in rows[0]
    assert rows[1][0] == "NC-2026-0001" and rows[1][2] == "Cơ sở nước mắm Hưng Thịnh"
    assert rows[1][5] == "Phường Long Xuyên"
