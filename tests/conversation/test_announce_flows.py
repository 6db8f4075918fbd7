"""Staff's announcement flows on the pipeline, on both renderers: the audience is changed and the broadcast is
sent by choosing (a number on a text channel), a title with "<" stays words, a long sign-up list stays within
each channel's limits, and a non-staff person is refused. Before sending: a time in the quiet hours is warned
about (the next 07:00, the time kept, or another time), and more than 500 recipients are confirmed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.channels.telegram_render import TelegramRenderer
from bot.clock import FakeClock
from bot.conversation.events import ChooseEvent, Who
from bot.scheduler import Runtime, refresh_progress
from bot.services import announcements as svc
from storage.models import Announcement, Facility, OutboxMessage, Signup, User
from tests.conversation.test_staff_flows import (
    RENDERERS,
    Staff,
    add,
    app_for,
    staff_on_zalo,
    staff_who,
)

TITLE = "Hội chợ <CNNT> & OCOP 2026"
REFUSED = "chức năng này chỉ dành cho cán bộ Trung tâm Khuyến công"  # the owner writes in Vietnamese


async def seed(app: Any, clock: FakeClock, *, owners: int = 3) -> int:
    now = clock.now()
    people = [User(channel="zalo", external_id=f"0a0b{i:04d}", full_name=f"Chủ cơ sở {i}", locale="vi",
                   phone="+84912345678", consent_at=now, created_at=now, updated_at=now) for i in range(owners)]
    await add(app, *people)
    await add(app, *(Facility(name=f"Cơ sở nước mắm số {i} " + "rất dài " * 8, commune_code=30307, sector="food",
                              owner_user_id=p.id, consent_at=now, created_at=now, updated_at=now)
                     for i, p in enumerate(people)))
    async with app.session_maker() as s:
        author = (await s.exec(select(User).where(User.role == "staff"))).first()
        ann = await svc.create(s, clock=clock, author=author, data={
            "kind": "fair", "title": TITLE, "body": "Trung tâm hỗ trợ <b>gian hàng</b>.",
            "deadline_on": date(2026, 12, 20).isoformat(), "questions": "Sản phẩm dự thi?\nSố người tham gia?"})
        await s.commit()
        return ann.id or 0


async def staff_of(engine: AsyncEngine, clock: FakeClock, renderer: Any) -> Staff:
    app = app_for(engine, clock)
    if renderer is not TelegramRenderer:
        await staff_on_zalo(app, clock)
    else:
        now = clock.now()
        await add(app, User(channel="telegram", external_id=staff_who(renderer).external_id, role="staff",
                            full_name="Hà", locale="en", created_at=now, updated_at=now))
    return Staff(app, staff_who(renderer), renderer())


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_staff_change_the_audience_preview_and_send_by_choosing(sqlite_engine: AsyncEngine, clock: FakeClock,
                                                                      renderer: Any) -> None:
    staff = await staff_of(sqlite_engine, clock, renderer)
    ann_id = await seed(staff.app, clock)
    await staff.act(ChooseEvent("an", f"au:{ann_id}:"))
    assert f"Audience for “{TITLE}”" in staff.text.replace("<b>", "").replace("</b>", "").replace("&lt;", "<") \
        .replace("&gt;", ">").replace("&amp;", "&")
    await staff.choose("Facilities")
    assert "Who: Facilities" in staff.text and "3 people will receive it" in staff.text.replace("<b>", "") \
        .replace("</b>", "")
    await staff.choose("Preview")
    assert "gian hàng" in staff.text and "3 recipients" in staff.text
    await staff.choose("Send now")
    assert "Preparing to send" in staff.text
    async with staff.app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
        rows = (await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "announcement"))).all()
    assert ann is not None and ann.status == "sending" and len(rows) == 3
    # Progress is kept up to date by editing one message, which only Telegram can do; elsewhere the author
    # gets the final figures as a message of their own once every row is settled.
    assert (ann.progress_chat_id is not None) is (renderer is TelegramRenderer)
    async with staff.app.session_maker() as s:
        for row in rows:
            row.status = "sent"
            s.add(row)
        await s.commit()
    await refresh_progress(Runtime(staff.app, None))
    async with staff.app.session_maker() as s:
        reports = (await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "broadcast_report"))).all()
        ann = await s.get(Announcement, ann_id)
    assert ann is not None and ann.status == "sent"
    if renderer is TelegramRenderer:
        assert reports == []
    else:
        assert [(r.chat_id, r.text.startswith("✅ Finished"), "Sent: 3 of 3" in r.text) for r in reports] == [
            (staff.who.external_id, True, True)]


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_forty_long_sign_ups_fit_the_channel(sqlite_engine: AsyncEngine, clock: FakeClock,
                                                   renderer: Any) -> None:
    staff = await staff_of(sqlite_engine, clock, renderer)
    ann_id = await seed(staff.app, clock, owners=40)
    async with staff.app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
        assert ann is not None
        ann.status = "sent"
        s.add(ann)
        for user in (await s.exec(select(User).where(User.role == "user"))).all():
            s.add(Signup(announcement_id=ann_id, user_id=user.id, status="signed_up",
                         answers={"q1": "Nước mắm cá cơm nguyên chất " * 12, "q2": "3"}, created_at=clock.now(),
                         updated_at=clock.now()))
        await s.commit()
    await staff.act(ChooseEvent("an", f"su:{ann_id}:"))  # Staff.act checks every message against the limits
    assert "40 signed up" in staff.text and "Sản phẩm dự thi?" in staff.text  # each answer under its question
    assert "\n  → Nước mắm" in staff.text
    assert "and 10 more: see the CSV" in staff.text


async def test_a_facility_owner_cannot_use_the_staff_choices(sqlite_engine: AsyncEngine, clock: FakeClock) -> None:
    staff = await staff_of(sqlite_engine, clock, TelegramRenderer)
    ann_id = await seed(staff.app, clock)
    owner = Staff(staff.app, Who("zalo", "0a0b0000", "Lan", "vi"), staff.renderer)
    for verb in ("go", "r", "x", "su", "csv"):
        await owner.act(ChooseEvent("an", f"{verb}:{ann_id}:facility"))
        assert REFUSED in owner.text
    async with staff.app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
        assert ann is not None and ann.status == "draft" and ann.audience == svc.Audience().as_dict()
        assert not (await s.exec(select(OutboxMessage))).all()


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_the_sign_ups_file_is_sent_where_files_can_be(sqlite_engine: AsyncEngine, clock: FakeClock,
                                                            renderer: Any) -> None:
    staff = await staff_of(sqlite_engine, clock, renderer)
    ann_id = await seed(staff.app, clock)
    messages = await staff.act(ChooseEvent("an", f"csv:{ann_id}:"))
    if renderer is TelegramRenderer:
        (document,) = messages
        assert document.method == "document" and document.file.name.endswith(f"_{ann_id}.csv")
    else:
        assert "Files cannot be sent here" in staff.text and "/broadcasts on Telegram" in staff.text


# --- before sending: quiet hours (21:00–07:00 local) and a large audience ------------------------------------


async def announcement(app: Any, ann_id: int) -> Announcement:
    async with app.session_maker() as s:
        ann = await s.get(Announcement, ann_id)
        assert ann is not None
        return ann


async def outbox_rows(app: Any) -> list[OutboxMessage]:
    async with app.session_maker() as s:
        return list((await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "announcement"))).all())


async def to_facilities(app: Any, ann_id: int) -> None:
    """The audience: facility owners only (the staff member is not counted)."""
    async with app.session_maker() as s:
        await svc.set_audience(s, clock=app.clock, ann_id=ann_id, audience=svc.Audience(roles=["facility"]))
        await s.commit()


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_a_time_in_quiet_hours_is_warned_and_moved_to_seven_in_the_morning(
        engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    staff = await staff_of(engine, clock, renderer)
    ann_id = await seed(staff.app, clock)
    await staff.act(ChooseEvent("an", f"sc:{ann_id}:"))
    await staff.send("3/3/2026 02:10")
    assert "03/03/2026 02:10 falls in quiet hours (21:00–07:00); people may be asleep." in staff.text
    assert staff.has_choice("Keep 03/03/2026 02:10 anyway") and staff.has_choice("Choose another time")
    ann = await announcement(staff.app, ann_id)
    assert (ann.status, ann.scheduled_at) == ("draft", None)  # nothing decided until staff choose
    await staff.choose("Send at 07:00 on 03/03/2026")
    assert "will be sent on 03/03/2026 07:00" in staff.text
    ann = await announcement(staff.app, ann_id)
    assert ann.status == "scheduled" and ann.scheduled_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_another_time_or_the_night_time_kept_anyway(engine: AsyncEngine, clock: FakeClock,
                                                          renderer: Any) -> None:
    staff = await staff_of(engine, clock, renderer)
    ann_id = await seed(staff.app, clock)
    await staff.act(ChooseEvent("an", f"sc:{ann_id}:"))
    await staff.send("2/3/2026 21:00")
    assert "02/03/2026 21:00 falls in quiet hours" in staff.text and staff.has_choice("07:00 on 03/03/2026")
    await staff.choose("Choose another time")
    assert "When should it be sent?" in staff.text
    await staff.send("2/3/2026 20:59")  # just before: no question
    assert "will be sent on 02/03/2026 20:59" in staff.text and "quiet hours" not in staff.text
    await staff.act(ChooseEvent("an", f"sc:{ann_id}:"))  # changed again: late that night, on purpose
    await staff.send("3/3/2026 06:59")
    await staff.choose("Keep 03/03/2026 06:59 anyway")
    assert "will be sent on 03/03/2026 06:59" in staff.text
    ann = await announcement(staff.app, ann_id)
    assert ann.status == "scheduled" and ann.scheduled_at == datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_send_now_at_five_to_two_in_the_night_warns_first(engine: AsyncEngine, clock: FakeClock,
                                                                renderer: Any) -> None:
    staff = await staff_of(engine, clock, renderer)
    ann_id = await seed(staff.app, clock)
    await to_facilities(staff.app, ann_id)
    clock.advance(hours=16, minutes=55)  # 18:55 UTC: 01:55 on 3 March in Ho Chi Minh City
    await staff.act(ChooseEvent("an", f"pv:{ann_id}:"))
    await staff.choose("Send now")
    assert "Sending now (01:55) falls in quiet hours (21:00–07:00); people may be asleep." in staff.text
    assert staff.has_choice("Send at 07:00 on 03/03/2026") and staff.has_choice("Choose another time")
    assert await outbox_rows(staff.app) == [] and (await announcement(staff.app, ann_id)).status == "draft"
    await staff.choose("Send now anyway")
    assert "Preparing to send" in staff.text
    assert len(await outbox_rows(staff.app)) == 3 and (await announcement(staff.app, ann_id)).status == "sending"


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_send_now_at_night_can_wait_for_the_morning(engine: AsyncEngine, clock: FakeClock,
                                                          renderer: Any) -> None:
    staff = await staff_of(engine, clock, renderer)
    ann_id = await seed(staff.app, clock)
    clock.advance(hours=16, minutes=55)
    await staff.act(ChooseEvent("an", f"go:{ann_id}:"))
    await staff.choose("Send at 07:00 on 03/03/2026")
    assert "will be sent on 03/03/2026 07:00" in staff.text
    ann = await announcement(staff.app, ann_id)
    assert ann.status == "scheduled" and ann.scheduled_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert await outbox_rows(staff.app) == []


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_more_than_500_recipients_are_confirmed_and_no_sends_nothing(engine: AsyncEngine, clock: FakeClock,
                                                                          renderer: Any) -> None:
    staff = await staff_of(engine, clock, renderer)
    ann_id = await seed(staff.app, clock, owners=501)
    await to_facilities(staff.app, ann_id)
    await staff.act(ChooseEvent("an", f"pv:{ann_id}:"))
    assert "501 recipients" in staff.text  # the count the preview shows is the one asked about
    await staff.choose("Send now")
    assert "Send to 501 people?" in staff.text and staff.has_choice("Yes")
    await staff.choose("No")
    assert "Nothing was sent: “" in staff.text and staff.has_choice("Send now")
    assert await outbox_rows(staff.app) == [] and (await announcement(staff.app, ann_id)).status == "draft"
    await staff.choose("Send now")
    await staff.choose("Yes")
    assert "Preparing to send" in staff.text
    assert len(await outbox_rows(staff.app)) == 501


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_500_recipients_need_no_confirmation(engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    staff = await staff_of(engine, clock, renderer)
    ann_id = await seed(staff.app, clock, owners=500)
    await to_facilities(staff.app, ann_id)
    await staff.act(ChooseEvent("an", f"go:{ann_id}:"))
    assert "Preparing to send" in staff.text and "people?" not in staff.text
    assert len(await outbox_rows(staff.app)) == 500


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_a_night_schedule_for_a_large_audience_asks_both_in_vietnamese(
        engine: AsyncEngine, clock: FakeClock, renderer: Any) -> None:
    staff = await staff_of(engine, clock, renderer)
    async with staff.app.session_maker() as s:
        for user in (await s.exec(select(User).where(User.role == "staff"))).all():
            user.locale = "vi"
            s.add(user)
        await s.commit()
    ann_id = await seed(staff.app, clock, owners=1234)
    await to_facilities(staff.app, ann_id)
    await staff.act(ChooseEvent("an", f"sc:{ann_id}:"))
    await staff.send("3/3/2026 02:10")
    assert "03/03/2026 02:10 rơi vào giờ nghỉ đêm (21:00–07:00)" in staff.text
    await staff.choose("Vẫn gửi lúc 03/03/2026 02:10")
    assert "Gửi cho 1.234 người lúc 03/03/2026 02:10?" in staff.text
    assert (await announcement(staff.app, ann_id)).status == "draft"
    await staff.choose("Có")
    ann = await announcement(staff.app, ann_id)
    assert ann.status == "scheduled" and ann.scheduled_at == datetime(2026, 3, 2, 19, 10, tzinfo=UTC)
    assert await outbox_rows(staff.app) == []  # the scheduler starts it at 02:10


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_more_zalo_recipients_than_the_quota_has_left_are_warned_of(engine: AsyncEngine, clock: FakeClock,
                                                                          renderer: Any) -> None:
    """Zalo's plan allows ZALO_MONTHLY_QUOTA messages a month: the preview shows the audience by channel and
    what is left; sending to more Zalo people than that asks first, and "No" sends nothing."""
    from bot.services import usage

    staff = await staff_of(engine, clock, renderer)
    staff.app.settings.zalo_monthly_quota = 100
    ann_id = await seed(staff.app, clock, owners=30)
    await to_facilities(staff.app, ann_id)
    async with staff.app.session_maker() as s:
        await usage.record(s, channel="zalo", moment=clock.now(), messages=80)  # sent earlier this month
        await s.commit()
    await staff.act(ChooseEvent("an", f"pv:{ann_id}:"))
    assert "Zalo: 30" in staff.text and "Zalo this month: 80 of 100 messages used, 20 left." in staff.text
    await staff.choose("Send now")
    assert "30 recipients are on Zalo, but only 20 of this month's 100 Zalo messages are left (80 sent)" in staff.text
    await staff.choose("No")
    assert await outbox_rows(staff.app) == [] and (await announcement(staff.app, ann_id)).status == "draft"
    await staff.choose("Send now")
    await staff.choose("Send anyway")
    assert "Preparing to send" in staff.text and len(await outbox_rows(staff.app)) == 30


async def test_messages_are_counted_per_channel_per_local_month(engine: AsyncEngine, clock: FakeClock) -> None:
    """The count is by the month in Vietnam: 23:30 UTC on 30 November is already December there."""
    from bot.services import usage

    app = app_for(engine, clock)
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    async with app.session_maker() as s:
        await usage.record(s, channel="zalo", moment=late, messages=2)
        await usage.record(s, channel="zalo", moment=datetime(2026, 12, 15, 3, 0, tzinfo=UTC), messages=3)
        await usage.record(s, channel="telegram", moment=late, messages=7)
        await s.commit()
        december = await usage.of_month(s, channel="zalo", moment=late, quota=3000)
        november = await usage.of_month(s, channel="zalo", moment=datetime(2026, 11, 30, 10, tzinfo=UTC), quota=3000)
    assert (december.month, december.sent, december.left) == ("2026-12", 5, 2995)
    assert (november.sent, november.left) == (0, 3000)
