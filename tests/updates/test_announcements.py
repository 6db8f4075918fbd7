"""Announcements end to end through the Dispatcher: compose, target, preview, send, sign up, stop."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.channels.telegram import TelegramProgress
from bot.scheduler import Runtime, refresh_progress, start_due_broadcasts
from storage.models import Announcement, OutboxMessage, Signup, User
from tests.conftest import STAFF_ID, ChatHarness, Person, form_cb, register_facility
from tests.updates.test_invites import join, make_invite

EN = "en"
STAFF = Person(STAFF_ID, first_name="Hà", language_code=EN)


async def compose(chat: ChatHarness, *, kind: str = "fair", title: str = "Hội chợ CNNT Vĩnh Long 2026",
                  body: str = "Trung tâm hỗ trợ <b>gian hàng</b> & vận chuyển.", deadline: str | None = "20/3/2026",
                  questions: str | None = "Sản phẩm trưng bày?\nCần mấy gian hàng?",
                  capacity: str | None = None) -> int:
    await chat.send(STAFF, "/start")
    await chat.send(STAFF, "/announce")
    await chat.press(STAFF, form_cb("c", "announce", "kind", kind))
    await chat.send(STAFF, title)
    await chat.send(STAFF, body)
    await chat.send(STAFF, "Vĩnh Long")
    await chat.send(STAFF, "10/4/2026")
    await chat.send(STAFF, "13/4/2026")
    if deadline:
        await chat.send(STAFF, deadline)
    else:
        await chat.press(STAFF, form_cb("s", "announce", "deadline_on"))
    await chat.press(STAFF, form_cb("s", "announce", "attachment"))
    if kind in ("fair", "competition"):
        if questions:
            await chat.send(STAFF, questions)
        else:
            await chat.press(STAFF, form_cb("s", "announce", "questions"))
        if capacity:
            await chat.send(STAFF, capacity)
        else:
            await chat.press(STAFF, form_cb("s", "announce", "capacity"))
    await chat.press(STAFF, form_cb("ok", "announce", "__summary__"))
    async with chat.app.session_maker() as s:
        return (await s.exec(select(Announcement).order_by(Announcement.id.desc()))).first().id


async def people(chat: ChatHarness) -> dict[str, Person]:
    owner_lx = Person(6001, first_name="Lan", language_code="vi")
    owner_cd = Person(6002, first_name="Bảy", language_code=EN)
    await register_facility(chat, owner_lx, commune="long xuyen", sector="food")
    await register_facility(chat, owner_cd, name="Xưởng cơ khí Minh Phát", commune="chau doc", sector="mechanics")
    ctv = Person(6003, first_name="Cộng", language_code=EN)
    await join(chat, ctv, await make_invite(chat, commune="long xuyen"))
    return {"owner_lx": owner_lx, "owner_cd": owner_cd, "ctv": ctv}


def runtime(chat: ChatHarness) -> Runtime:
    return Runtime(chat.app, TelegramProgress(chat.bot))


async def test_compose_preview_test_copy_and_send_to_everyone(chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat)
    audience = chat.last(STAFF).text
    assert "<b>Audience</b> for “Hội chợ CNNT Vĩnh Long 2026”" in audience
    assert "👥 <b>4</b> people will receive it." in audience  # 2 owners, 1 collaborator, 1 staff
    calls = await chat.press(STAFF, f"an:pv:{ann_id}:")
    preview = [c for c in calls if c.method == "SendMessage"]
    assert "Trung tâm hỗ trợ <b>gian hàng</b> &amp; vận chuyển." in preview[0].text
    assert "📍 Place: Vĩnh Long" in preview[0].text and "⏰ Deadline: 20/03/2026" in preview[0].text
    assert "4 recipients" in preview[1].text and "seconds" in preview[1].text
    await chat.press(STAFF, f"an:tc:{ann_id}:")
    assert chat.last(STAFF).text.startswith("🧪 Test copy")
    calls = await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    for key in ("owner_lx", "owner_cd", "ctv"):
        assert "Hội chợ CNNT Vĩnh Long 2026" in chat.last(who[key]).text
    assert "✅ Sign up" in [t for t, _ in chat.last(who["owner_cd"]).buttons()]
    assert "📤 Share (plain text)" in [t for t, _ in chat.last(who["ctv"]).buttons()]
    assert "📢" in chat.last(who["owner_lx"]).text and "Place" not in chat.last(who["owner_lx"]).text  # Vietnamese
    rt = runtime(chat)
    await refresh_progress(rt)
    # The progress message is posted at the first tick after "Send now", then edited in place.
    progress = [c for c in chat.api.calls if c.method in ("SendMessage", "EditMessageText") and "Finished" in c.text]
    assert progress and "Sent: 4 of 4" in progress[-1].text
    async with chat.app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
    assert ann.status == "sent" and ann.recipients == 4


async def test_audience_roles_communes_sectors_topics_and_stop(chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat, kind="training", title="Lớp tập huấn thương mại điện tử")
    await chat.press(STAFF, f"an:r:{ann_id}:facility")
    assert "👥 <b>2</b> people" in chat.last(STAFF).text
    await chat.press(STAFF, f"an:ca:{ann_id}:")
    await chat.send(STAFF, "chau doc")
    assert "👥 <b>1</b> people" in chat.last(STAFF).text and "Phường Châu Đốc" in chat.last(STAFF).text
    await chat.press(STAFF, f"an:cr:{ann_id}:30280")  # wrong code: nothing removed
    for forged in ("²", "9" * 25):  # not a number we could have shown: nothing removed, no error
        calls = await chat.press(STAFF, f"an:cr:{ann_id}:{forged}")
        assert not any("went wrong" in c.text for c in calls)
    assert "Phường Châu Đốc" in chat.last(STAFF).text
    await chat.press(STAFF, f"an:s:{ann_id}:food")
    async with chat.app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
    assert ann.audience["sectors"] == ["food"] and ann.audience["roles"] == ["facility"]
    await chat.press(STAFF, f"an:s:{ann_id}:food")  # toggle back off
    await chat.press(STAFF, f"an:au:{ann_id}:")
    assert "👥 <b>1</b> people" in chat.last(STAFF).text

    # Topic subscription and /stop
    await chat.send(who["owner_cd"], "/subscriptions")
    await chat.press(who["owner_cd"], "sub.t:training")
    await chat.press(STAFF, f"an:au:{ann_id}:")
    assert "👥 <b>0</b> people" in chat.last(STAFF).text
    await chat.press(STAFF, f"an:t:{ann_id}:")  # topic filter off: reaches them again
    assert "👥 <b>1</b> people" in chat.last(STAFF).text
    await chat.send(who["owner_cd"], "/stop")
    await chat.press(STAFF, f"an:au:{ann_id}:")
    assert "👥 <b>0</b> people" in chat.last(STAFF).text
    reply = (await chat.send(who["owner_cd"], "/start"))[0].text
    assert "receive the centre's announcements again" in reply and "/stop" in reply


async def test_signup_with_questions_not_interested_and_deadline(chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat)
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    owner = who["owner_cd"]
    calls = await chat.press(owner, f"ar:s:{ann_id}")
    assert "Signing up for “Hội chợ CNNT Vĩnh Long 2026”" in calls[-1].text
    assert "Sản phẩm trưng bày?" in calls[-1].text
    await chat.send(owner, "Máy gặt đập <mini>")
    await chat.send(owner, "1")
    calls = await chat.press(owner, form_cb("ok", f"signup.{ann_id}", "__summary__"))
    assert "You are signed up" in calls[-1].text
    await chat.press(who["ctv"], f"ar:n:{ann_id}")
    async with chat.app.session_maker() as s:
        rows = (await s.exec(select(Signup).order_by(Signup.id))).all()
    assert [(r.status, r.answers) for r in rows] == [
        ("signed_up", {"q1": "Máy gặt đập <mini>", "q2": "1"}), ("declined", {})]
    listing = (await chat.press(STAFF, f"an:su:{ann_id}:"))[-1].text
    assert "1 signed up, 1 not interested" in listing and "Máy gặt đập &lt;mini&gt;" in listing
    csv_call = next(c for c in await chat.press(STAFF, f"an:csv:{ann_id}:") if c.method == "SendDocument")
    assert "Máy gặt đập <mini>".encode() in csv_call.params["document"]["data"]

    chat.clock.advance(timedelta(days=20).total_seconds())  # past the 20/3 deadline
    calls = await chat.press(who["owner_cd"], f"ar:s:{ann_id}")
    assert "closed on 20/03/2026" in calls[-1].params["text"]
    calls = await chat.press(who["owner_lx"], f"ar:s:{ann_id}")
    assert calls[-1].params["text"] == "Đã hết hạn đăng ký tham gia từ ngày 20/03/2026."


async def test_share_gives_plain_text(chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat)
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    calls = await chat.press(who["ctv"], f"ar:sh:{ann_id}")
    texts = [c.text for c in calls if c.method == "SendMessage"]
    assert "<b>" not in texts[0] and "Trung tâm hỗ trợ gian hàng &amp; vận chuyển." in texts[0]


async def test_schedule_fires_after_its_time_even_after_a_restart(chat: ChatHarness) -> None:
    who = await people(chat)
    ann_id = await compose(chat, kind="policy", title="Nghị định 235/2025", deadline=None)
    await chat.press(STAFF, f"an:sc:{ann_id}:")
    calls = await chat.send(STAFF, "1/3/2026 08:00")
    assert "already passed" in calls[-1].text
    calls = await chat.send(STAFF, "2/3/2026 10:00")  # one hour from now (09:00 local)
    assert "will be sent on 02/03/2026 10:00" in calls[-1].text
    rt = runtime(chat)
    assert await start_due_broadcasts(rt) == 0
    async with chat.app.session_maker() as s:
        due = (await s.get(Announcement, ann_id)).scheduled_at
    chat.clock.advance((due - chat.clock.now()).total_seconds() - 1)
    assert await start_due_broadcasts(rt) == 0
    chat.clock.advance(2)
    rt_after_restart = runtime(chat)  # a new process finds the row in the database
    assert await start_due_broadcasts(rt_after_restart) == 1
    await chat.deliver()
    assert "Nghị định 235/2025" in chat.last(who["owner_lx"]).text
    assert await start_due_broadcasts(rt_after_restart) == 0  # never twice


async def test_edit_and_cancel_before_start(chat: ChatHarness) -> None:
    await people(chat)
    ann_id = await compose(chat, kind="general", title="Thông báo cũ", deadline=None)
    await chat.press(STAFF, f"an:ed:{ann_id}:")
    await chat.press(STAFF, form_cb("ed", "announce", "__summary__"))
    await chat.press(STAFF, form_cb("c", "announce", "__edit__", "title"))
    await chat.send(STAFF, "Thông báo mới")
    await chat.press(STAFF, form_cb("ok", "announce", "__summary__"))
    async with chat.app.session_maker() as s:
        assert (await s.get(Announcement, ann_id)).title == "Thông báo mới"
        assert len((await s.exec(select(Announcement))).all()) == 1
    await chat.press(STAFF, f"an:x:{ann_id}:")
    assert "has been cancelled" in chat.last(STAFF).text
    calls = await chat.press(STAFF, f"an:go:{ann_id}:")
    assert "already started sending" in calls[-1].params["text"]
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(OutboxMessage).where(OutboxMessage.announcement_id == ann_id))).all() == []


async def test_stop_a_running_broadcast_cancels_the_rest(chat: ChatHarness) -> None:
    await people(chat)
    async with chat.app.session_maker() as s:
        for i in range(30):
            s.add(User(channel="telegram", external_id=str(70_000 + i), role="user", locale="vi",
                       created_at=chat.clock.now(), updated_at=chat.clock.now()))
        await s.commit()
    ann_id = await compose(chat, kind="general", title="Tin tức", deadline=None)
    chat.app.outbox.notify = lambda: None  # hold delivery to stop it mid-way
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.press(STAFF, f"an:stop:{ann_id}:")
    assert "34 remaining messages were cancelled" in chat.last(STAFF).text
    assert await chat.deliver() == 0
    await refresh_progress(runtime(chat))
    async with chat.app.session_maker() as s:
        assert (await s.get(Announcement, ann_id)).status == "stopped"
    listing = (await chat.send(STAFF, "/broadcasts"))[-1].text
    assert "Tin tức</b> — Stopped" in listing


@pytest.mark.parametrize("command", ["/announce", "/broadcasts"])
async def test_staff_only(chat: ChatHarness, command: str) -> None:
    calls = await chat.send(Person(6100, language_code=EN), command)
    assert calls[-1].text == "Sorry, this is only available to staff of the khuyến công centre."


async def test_forged_staff_announcement_buttons(chat: ChatHarness) -> None:
    ann_id = await compose(chat, kind="general", title="Tin", deadline=None)
    for data in (f"an:go:{ann_id}:", f"an:r:{ann_id}:staff", f"an:csv:{ann_id}:"):
        calls = await chat.press(Person(6101, language_code=EN), data)
        assert "only available to staff" in calls[-1].params["text"]
    async with chat.app.session_maker() as s:
        assert (await s.get(Announcement, ann_id)).status == "draft"


async def test_staff_html_is_checked_and_titles_escaped(chat: ChatHarness) -> None:
    await chat.send(STAFF, "/start")
    await chat.send(STAFF, "/announce")
    await chat.press(STAFF, form_cb("c", "announce", "kind", "general"))
    await chat.send(STAFF, "<script>alert(1)</script> Tin")
    reply = (await chat.send(STAFF, "<b>chưa đóng thẻ"))[-1].text
    assert "formatting is not valid" in reply
    await chat.send(STAFF, "Nội dung <i>hợp lệ</i> a < b")
    for step in ("place", "starts_on", "deadline_on", "attachment"):
        await chat.press(STAFF, form_cb("s", "announce", step))
    await chat.press(STAFF, form_cb("ok", "announce", "__summary__"))
    async with chat.app.session_maker() as s:
        ann = (await s.exec(select(Announcement))).one()
    calls = await chat.press(STAFF, f"an:pv:{ann.id}:")
    text = calls[1].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tin" in text and "<i>hợp lệ</i> a &lt; b" in text


async def test_reminder_settings_and_dossier_button(chat: ChatHarness) -> None:
    from storage.models import Reminder

    who = await people(chat)
    ann_id = await compose(chat, kind="competition", title="Bình chọn SP CNNT 2026", deadline="27/3/2026",
                           questions=None)
    await chat.press(STAFF, f"an:go:{ann_id}:")
    await chat.deliver()
    await refresh_progress(runtime(chat))  # finished: reminders planned
    await chat.press(who["owner_cd"], f"ar:s:{ann_id}")
    async with chat.app.session_maker() as s:
        due = sorted(r.due_at.day for r in (await s.exec(select(Reminder).where(Reminder.status == "pending"))).all())
    assert due == [20, 24, 26]
    detail = (await chat.press(STAFF, f"an:o:{ann_id}:"))[-1].text
    assert "Reminders 7, 3, 1 days before the deadline (27/03/2026)" in detail
    await chat.press(STAFF, f"an:rd:{ann_id}:")
    await chat.send(STAFF, "5, 2")
    await chat.press(STAFF, f"an:dl:{ann_id}:")
    reply = (await chat.send(STAFF, "30/3/2026"))[-1].text
    assert "Reminders have been rescheduled" in reply and "5, 2 days before the deadline (30/03/2026)" in reply
    async with chat.app.session_maker() as s:
        due = sorted(r.due_at.day for r in (await s.exec(select(Reminder).where(Reminder.status == "pending"))).all())
    assert due == [25, 28]
    calls = await chat.press(who["owner_cd"], f"ar:done:{ann_id}")
    assert "no more deadline reminders" in calls[-1].params["text"]
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(Reminder).where(Reminder.status == "pending"))).all() == []
    await chat.press(STAFF, f"an:ru:{ann_id}:")  # remind non-responders: the other three recipients
    async with chat.app.session_maker() as s:
        assert len((await s.exec(select(Reminder).where(Reminder.status == "pending"))).all()) == 2 * 3
    await chat.press(STAFF, f"an:wd:{ann_id}:")
    assert "has been withdrawn" in chat.last(STAFF).text
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(Reminder).where(Reminder.status == "pending"))).all() == []


async def test_a_scheduled_broadcast_starts_once_and_its_title_is_shown_as_written(chat: ChatHarness) -> None:
    """Two processes tick together: the row lock is taken before "Preparing…", so it is sent once;
    a title with "<" and "&" reaches the progress message escaped (it used to break the HTML)."""
    await people(chat)
    title = "Giá điện <50% & hơn"
    ann_id = await compose(chat, kind="policy", title=title, deadline=None)
    await chat.press(STAFF, f"an:sc:{ann_id}:")
    await chat.send(STAFF, "2/3/2026 10:00")
    chat.clock.advance(3601)
    ticks = [start_due_broadcasts(runtime(chat)), start_due_broadcasts(runtime(chat))]
    if chat.app.session_maker.kw["bind"].dialect.name == "postgresql":
        started = list(await asyncio.gather(*ticks))
    else:  # SQLite has no row locks (one process per file there): one tick after the other
        started = [await tick for tick in ticks]
    preparing = [c for c in chat.api.calls if c.method == "SendMessage" and "Preparing" in (c.text or "")]
    assert sorted(started) == [0, 1]
    assert len(preparing) == 1
    assert "“Giá điện &lt;50% &amp; hơn”" in preparing[0].text
    await chat.deliver()
    await refresh_progress(runtime(chat))
    finished = [c for c in chat.api.calls if c.method == "EditMessageText" and "Finished" in (c.text or "")]
    assert finished and "“Giá điện &lt;50% &amp; hơn”" in finished[-1].text


async def test_send_now_at_night_is_warned_and_waits_for_seven_when_staff_choose_it(chat: ChatHarness) -> None:
    """The quiet-hours question through the real Dispatcher: its buttons fit Telegram's callback data, the
    broadcast is held until 07:00 local (00:00 UTC) and the scheduler starts it then."""
    who = await people(chat)
    ann_id = await compose(chat, kind="general", title="Lịch tập huấn tháng 4", deadline=None)
    chat.clock.advance((datetime(2026, 3, 2, 18, 55, tzinfo=UTC) - chat.clock.now()).total_seconds())  # 01:55 local
    await chat.press(STAFF, f"an:go:{ann_id}:")
    warning = chat.last(STAFF)
    assert "Sending now (01:55) falls in quiet hours (21:00–07:00); people may be asleep." in warning.text
    assert [label for label, _ in warning.buttons()] == [
        "🌅 Send at 07:00 on 03/03/2026", "Send now anyway", "🕒 Choose another time"]
    await chat.press_button(STAFF, "Send at 07:00")
    assert "will be sent on 03/03/2026 07:00" in chat.last(STAFF).text
    async with chat.app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
        assert ann.status == "scheduled" and ann.scheduled_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
        assert (await s.exec(select(OutboxMessage))).all() == []
    rt = runtime(chat)
    chat.clock.advance((datetime(2026, 3, 2, 23, 59, tzinfo=UTC) - chat.clock.now()).total_seconds())  # 06:59 local
    assert await start_due_broadcasts(rt) == 0
    chat.clock.advance(60)
    assert await start_due_broadcasts(rt) == 1
    await chat.deliver()
    assert "Lịch tập huấn tháng 4" in chat.last(who["owner_lx"]).text


async def test_one_date_format_through_the_announcement_flow(chat: ChatHarness) -> None:
    """Every date the staff member and the recipient read is dd/mm/yyyy, zero-padded: the prompts' examples, the
    form's summary, the preview and the announcement as received (issue 12)."""
    await chat.send(STAFF, "/start")
    await chat.send(STAFF, "/announce")
    await chat.press(STAFF, form_cb("c", "announce", "kind", "fair"))
    await chat.send(STAFF, "Hội chợ CNNT 2026")
    await chat.send(STAFF, "Gian hàng miễn phí.")
    asked = (await chat.send(STAFF, "Long Xuyên"))[-1].text  # the start date's prompt, with its example
    assert "01/04/2026" in asked  # 30 days after 02/03/2026, padded
    await chat.send(STAFF, "5/4/2026")
    await chat.send(STAFF, "6/4/2026")
    await chat.send(STAFF, "9/3/2026")
    await chat.press(STAFF, form_cb("s", "announce", "attachment"))
    await chat.press(STAFF, form_cb("s", "announce", "questions"))
    summary = (await chat.press(STAFF, form_cb("s", "announce", "capacity")))[-1].text
    assert "05/04/2026" in summary and "06/04/2026" in summary and "09/03/2026" in summary
    await chat.press(STAFF, form_cb("ok", "announce", "__summary__"))
    async with chat.app.session_maker() as s:
        ann_id = (await s.exec(select(Announcement).order_by(Announcement.id.desc()))).first().id
    preview = "\n".join(c.text for c in await chat.press(STAFF, f"an:pv:{ann_id}:"))
    assert "05/04/2026 – 06/04/2026" in preview and "⏰ Deadline: 09/03/2026" in preview
    for text in (asked, summary, preview):
        assert not re.search(r"(?<![0-9])[0-9]{1,2}/[1-9]/20[0-9]{2}", text), text  # no unpadded month
