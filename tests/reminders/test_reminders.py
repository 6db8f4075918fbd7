"""Reminders with a fake clock: offsets at 08:00 local stored as UTC, who gets what, quiet hours,
rescheduling, cancelling, downtime, a tick interrupted half-way, collaborator reports, the staff digest."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app import create_app
from bot.services import announcements as ann_svc
from bot.services import reminders
from bot.services.needs import Actor, file_need
from storage.models import Announcement, Facility, OutboxMessage, Reminder, Signup, User
from tests.conftest import STAFF_ID, make_settings, telegram_view


@pytest.fixture
def app(engine, clock):
    return create_app(make_settings(), engine, clock=clock)


async def user(app, external_id: str, *, role: str = "user", locale: str = "vi", commune: int | None = None) -> User:
    async with app.session_maker() as s:
        u = User(channel="telegram", external_id=external_id, role=role, locale=locale, commune_code=commune,
                 full_name=f"Người {external_id}", created_at=app.clock.now(), updated_at=app.clock.now())
        s.add(u)
        await s.commit()
        return u


async def sent_announcement(app, *, kind: str = "competition", deadline: date = date(2026, 3, 20),
                            starts: date | None = None, recipients: list[User] = (),
                            remind_unanswered: bool = False) -> Announcement:
    """An announcement that has gone out to `recipients` (outbox rows marked sent)."""
    async with app.session_maker() as s:
        author = await user(app, str(STAFF_ID), role="staff")
        ann = await ann_svc.create(s, clock=app.clock, author=author, data={
            "kind": kind, "title": "Bình chọn sản phẩm CNNT tiêu biểu 2026", "body": "Nộp hồ sơ",
            "deadline_on": deadline.isoformat(), "starts_on": starts.isoformat() if starts else None})
        ann.remind_unanswered = remind_unanswered
        ann.status = "sent"
        for r in recipients:
            s.add(OutboxMessage(channel="telegram", chat_id=r.external_id, user_id=r.id, kind="announcement",
                                text="x", status="sent", next_attempt_at=app.clock.now(), announcement_id=ann.id,
                                dedupe_key=f"ann:{ann.id}:{r.id}", created_at=app.clock.now()))
        await s.commit()
        await reminders.plan_announcement(s, clock=app.clock, tz=app.tz, ann=ann)
        await s.commit()
        return ann


async def tick(app, **kw):
    return await reminders.tick(app.session_maker, clock=app.clock, tz=app.tz, translate=app.translate,
                                default_locale="vi", **kw)


async def pending(app) -> list[Reminder]:
    async with app.session_maker() as s:
        query = select(Reminder).where(Reminder.status == "pending").order_by(Reminder.due_at)
        return list((await s.exec(query)).all())


async def outbox_texts(app, u: User) -> list[str]:
    async with app.session_maker() as s:
        return [telegram_view(r) for r in (await s.exec(select(OutboxMessage).where(
            OutboxMessage.user_id == u.id, OutboxMessage.kind == "reminder").order_by(OutboxMessage.id))).all()]


def move_to(clock, local_text: str) -> None:
    """Move the fake clock to a local (UTC+7) wall-clock time."""
    target = datetime.strptime(local_text, "%d/%m/%Y %H:%M").replace(tzinfo=UTC) - timedelta(hours=7)
    clock.advance((target - clock.now()).total_seconds())


async def test_offsets_fall_at_0800_local_and_are_stored_in_utc(app) -> None:
    lan = await user(app, "1")
    ann = await sent_announcement(app)
    async with app.session_maker() as s:
        await ann_svc.answer(s, clock=app.clock, tz=app.tz, ann_id=ann.id, user=lan, status="signed_up",
                             translate=app.translate)
        await s.commit()
    rows = await pending(app)
    assert [r.due_at for r in rows] == [datetime(2026, 3, d, 1, 0, tzinfo=UTC) for d in (13, 17, 19)]
    assert [r.days_before for r in rows] == [7, 3, 1]


async def test_due_reminders_are_queued_once_in_the_persons_language(app, clock) -> None:
    lan, anna = await user(app, "1"), await user(app, "2", locale="en")
    ann = await sent_announcement(app)
    async with app.session_maker() as s:
        for u in (lan, anna):
            await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=u, status="signed_up",
                                 translate=app.translate)
        await s.commit()
    move_to(clock, "13/03/2026 07:59")
    assert (await tick(app)).queued == 0
    move_to(clock, "13/03/2026 08:00")
    assert (await tick(app)).queued == 2
    assert (await tick(app)).queued == 0  # nothing twice
    (vi_text,) = await outbox_texts(app, lan)
    (en_text,) = await outbox_texts(app, anna)
    assert "20/03/2026" in vi_text and "còn 7 ngày" in vi_text and "Reminder" not in vi_text
    assert en_text.startswith("⏰ Reminder: the deadline for <b>Bình chọn")


async def test_who_is_reminded(app, clock) -> None:
    signed, done, declined, silent, stopped = [await user(app, str(i)) for i in range(1, 6)]
    ann = await sent_announcement(app, recipients=[signed, done, declined, silent, stopped], remind_unanswered=True)
    async with app.session_maker() as s:
        for u in (signed, done):
            await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=u, status="signed_up",
                                 translate=app.translate)
        await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=declined, status="declined",
                             translate=app.translate)
        await ann_svc.complete(s, clock=clock, tz=app.tz, ann_id=ann.id, user=done)
        await ann_svc.set_announcements_off(s, clock=clock, user=await s.get(User, stopped.id), off=True)
        await s.commit()
    move_to(clock, "19/03/2026 08:00")
    await tick(app)
    assert len(await outbox_texts(app, signed)) == 3
    assert "dossier" in (await outbox_texts(app, signed))[0] or "hồ sơ" in (await outbox_texts(app, signed))[0]
    assert len(await outbox_texts(app, silent)) == 3
    for u in (done, declined, stopped):
        assert await outbox_texts(app, u) == []


async def test_fair_eve_reminder(app, clock) -> None:
    lan = await user(app, "1", locale="en")
    ann = await sent_announcement(app, kind="fair", deadline=date(2026, 3, 20), starts=date(2026, 4, 10))
    async with app.session_maker() as s:
        await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=lan, status="signed_up",
                             translate=app.translate)
        await s.commit()
    rows = await pending(app)
    # A fair needs no dossier: only the eve reminder.
    assert [(r.kind, r.due_at) for r in rows] == [("eve", datetime(2026, 4, 9, 1, 0, tzinfo=UTC))]
    move_to(clock, "09/04/2026 08:00")
    await tick(app)
    expected = "⏰ Reminder: <b>Bình chọn sản phẩm CNNT tiêu biểu 2026</b> opens tomorrow"
    assert (await outbox_texts(app, lan))[0].startswith(expected)


async def test_opens_tomorrow_goes_only_to_those_holding_a_place(app, clock) -> None:
    """12 booths, say: here 1. The second to sign up waits for a place, and a third was not accepted by the centre:
    neither is told "opens tomorrow" (they would come to a fair with no booth). When a place frees up before the
    eve, the next on the waiting list is reminded."""
    first, second, third, fourth = [await user(app, str(n), locale="en") for n in (1, 2, 3, 4)]
    ann = await sent_announcement(app, kind="fair", deadline=date(2026, 3, 20), starts=date(2026, 4, 10))
    async with app.session_maker() as s:
        stored = await s.get(Announcement, ann.id)
        stored.capacity = 2
        s.add(stored)
        await s.commit()
    for person in (first, third, second, fourth):
        async with app.session_maker() as s:
            await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=person, status="signed_up",
                                 translate=app.translate)
            await s.commit()
        clock.advance(60)
    async with app.session_maker() as s:  # the centre did not accept the third: the second moves up
        signup = (await s.exec(select(Signup).where(Signup.user_id == third.id))).one()
        signup.participant_status = "rejected"
        s.add(signup)
        await s.commit()
    move_to(clock, "09/04/2026 08:00")
    await tick(app)
    expected = "⏰ Reminder: <b>Bình chọn sản phẩm CNNT tiêu biểu 2026</b> opens tomorrow"
    assert [t[:len(expected)] for t in await outbox_texts(app, first)] == [expected]
    assert [t[:len(expected)] for t in await outbox_texts(app, second)] == [expected]  # moved up in time
    assert await outbox_texts(app, third) == []  # not accepted
    assert await outbox_texts(app, fourth) == []  # still waiting: no booth
    async with app.session_maker() as s:
        statuses = {r.user_id: r.status for r in (await s.exec(select(Reminder))).all()}
    assert statuses == {first.id: "queued", second.id: "queued", third.id: "cancelled", fourth.id: "cancelled"}


async def test_quiet_hours_hold_reminders_until_morning(app, clock) -> None:
    lan = await user(app, "1")
    ann = await sent_announcement(app)
    async with app.session_maker() as s:
        s.add(Reminder(kind="deadline", user_id=lan.id, announcement_id=ann.id, days_before=1, audience="signed_up",
                       due_at=datetime(2026, 3, 18, 15, 0, tzinfo=UTC),  # 22:00 local
                       status="pending", dedupe_key="late", created_at=clock.now()))
        await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=lan, status="signed_up",
                             translate=app.translate)
        await s.commit()
    move_to(clock, "18/03/2026 22:30")
    assert (await tick(app)).queued == 0
    move_to(clock, "19/03/2026 06:59")
    assert (await tick(app)).queued == 0
    move_to(clock, "19/03/2026 07:00")
    assert (await tick(app)).queued >= 1


async def test_moving_the_deadline_moves_reminders_and_withdrawing_removes_them(app, clock) -> None:
    lan = await user(app, "1")
    ann = await sent_announcement(app)
    async with app.session_maker() as s:
        await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=lan, status="signed_up",
                             translate=app.translate)
        await ann_svc.change_reminders(s, clock=clock, tz=app.tz, ann_id=ann.id, deadline_on=date(2026, 3, 27),
                                       reminder_days=[5, 1])
        await s.commit()
    assert [r.due_at.date() for r in await pending(app)] == [date(2026, 3, 22), date(2026, 3, 26)]
    async with app.session_maker() as s:
        await ann_svc.withdraw(s, clock=clock, ann_id=ann.id)
        await s.commit()
    assert await pending(app) == []
    move_to(clock, "26/03/2026 08:00")
    await tick(app)
    assert await outbox_texts(app, lan) == []


async def test_downtime_sends_what_is_still_useful_and_records_the_rest_missed(app, clock) -> None:
    lan = await user(app, "1")
    ann = await sent_announcement(app, deadline=date(2026, 3, 20))
    async with app.session_maker() as s:
        await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=lan, status="signed_up",
                             translate=app.translate)
        await s.commit()
    move_to(clock, "19/03/2026 12:00")  # the bot was down since 2/3: three reminders fell due
    result = await tick(app)
    assert result.queued == 3  # all before the deadline: still useful
    lan2 = await user(app, "2")
    async with app.session_maker() as s:
        s.add(Reminder(kind="deadline", user_id=lan2.id, announcement_id=ann.id, days_before=1, audience="signed_up",
                       due_at=datetime(2026, 3, 19, 1, 0, tzinfo=UTC), status="pending", dedupe_key="old",
                       created_at=clock.now()))
        await s.commit()
    move_to(clock, "21/03/2026 09:00")  # after the deadline
    result = await tick(app)
    assert (result.queued, result.missed) == (0, 1)


async def test_restart_in_the_middle_of_a_tick_repeats_nothing(app, clock, monkeypatch) -> None:
    people = [await user(app, str(i)) for i in range(1, 8)]
    ann = await sent_announcement(app)
    async with app.session_maker() as s:
        for u in people:
            await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=u, status="signed_up",
                                 translate=app.translate)
        await s.commit()
    move_to(clock, "13/03/2026 08:00")
    real = reminders._handle_batch
    calls = {"n": 0}

    async def crash_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return await real(*args, **kwargs)

    monkeypatch.setattr(reminders, "_handle_batch", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        await tick(app, batch=3)
    monkeypatch.setattr(reminders, "_handle_batch", real)
    await tick(app, batch=3)
    async with app.session_maker() as s:
        rows = (await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))).all()
    assert sorted(r.user_id for r in rows) == sorted(u.id for u in people)  # each exactly once


async def test_collaborator_reports(app, clock) -> None:
    ctv_a = await user(app, "11", role="collaborator", commune=30307)
    ctv_b = await user(app, "12", role="collaborator", commune=30313)
    async with app.session_maker() as s:
        staff = await user(app, str(STAFF_ID), role="staff")
        schedule = await reminders.create_schedule(s, clock=clock, author=staff, data={
            "title": "Báo cáo tháng", "frequency": "monthly", "day": 10, "reminder_days": [3, 1]})
        await reminders.plan_reports(s, clock=clock, tz=app.tz)
        await reminders.plan_reports(s, clock=clock, tz=app.tz)  # idempotent
        await s.commit()
    rows = await pending(app)
    assert len(rows) == 4 and {r.due_at for r in rows} == {datetime(2026, 3, 7, 1, tzinfo=UTC),
                                                           datetime(2026, 3, 9, 1, tzinfo=UTC)}
    move_to(clock, "07/03/2026 08:00")
    await tick(app)
    async with app.session_maker() as s:
        await reminders.submit_report(s, clock=clock, tz=app.tz, user=ctv_a, schedule_id=schedule.id,
                                      data={"facilities_visited": 12, "needs_collected": 3})
        await s.commit()
    move_to(clock, "09/03/2026 08:00")
    await tick(app)
    assert len(await outbox_texts(app, ctv_a)) == 1 and len(await outbox_texts(app, ctv_b)) == 2
    assert "/report" in (await outbox_texts(app, ctv_b))[0]
    async with app.session_maker() as s:
        period, deadline, status = await reminders.report_status(s, schedule=schedule, today=date(2026, 3, 9))
    assert (period, deadline) == ("2026-03", date(2026, 3, 10))
    assert [(u.external_id, sub is not None) for u, sub in status] == [("11", True), ("12", False)]


def test_quarterly_deadlines() -> None:
    from storage.models import ReportSchedule

    q = ReportSchedule(title="Q", frequency="quarterly", day=15)
    assert reminders.next_deadline(q, date(2026, 3, 2)) == date(2026, 3, 15)
    assert reminders.next_deadline(q, date(2026, 3, 16)) == date(2026, 6, 15)
    assert reminders.period_of(q, date(2026, 6, 15)) == "2026-Q2"
    assert reminders.next_deadline(q, date(2026, 12, 16)) == date(2027, 3, 15)


async def test_staff_digest_on_working_days_only_when_there_is_news(app, clock) -> None:
    staff = await user(app, str(STAFF_ID), role="user", locale="en")  # staff through ADMIN_IDS
    owner = await user(app, "1")

    async def run_digest():
        async with app.session_maker() as s:
            n = await reminders.digest(s, clock=clock, tz=app.tz, translate=app.translate, default_locale="vi",
                                       admin_ids=frozenset({STAFF_ID}))
            await s.commit()
            return n

    move_to(clock, "03/03/2026 07:29")
    assert await run_digest() == 0
    move_to(clock, "03/03/2026 07:30")
    assert await run_digest() == 0  # nothing to say: no message
    clock.advance(3600)
    async with app.session_maker() as s:
        s.add(Facility(name="Cơ sở A", commune_code=30307, sector="food", owner_user_id=owner.id,
                       created_at=clock.now(), updated_at=clock.now()))
        await s.commit()
        await file_need(s, clock=clock, tz=app.tz, actor=Actor(await s.get(User, owner.id), "user"),
                        data={"category": "training", "description": "Tập huấn", "desired_month": "2026-05-01"})
        await s.commit()
    move_to(clock, "07/03/2026 07:30")  # Saturday
    assert await run_digest() == 0
    move_to(clock, "09/03/2026 07:30")  # Monday
    assert await run_digest() == 1
    assert await run_digest() == 0  # once a day
    async with app.session_maker() as s:
        (row,) = (await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "digest"))).all()
    assert row.user_id == staff.id and "New needs: 1" in row.text and "NC-2026-0001" in row.text


async def test_a_reminder_reaches_a_zalo_chat_as_text(app, clock) -> None:
    """A person on Zalo signed up: the 7-day reminder goes to their Zalo chat through the outbox, as plain text
    in their language (no HTML, no buttons), within Zalo's 2,000 characters."""
    from bot.app import attach_outbox

    class Zalo:
        def __init__(self) -> None:
            self.sent: list[tuple[str, str]] = []

        async def send_message(self, chat_id: str, text: str) -> None:
            assert 1 <= len(text) <= 2000
            self.sent.append((chat_id, text))

    async with app.session_maker() as s:
        nam = User(channel="zalo", external_id="a1b2c3d4", role="user", locale="vi", full_name="Trần Văn Nam",
                   created_at=clock.now(), updated_at=clock.now())
        s.add(nam)
        await s.commit()
    ann = await sent_announcement(app)
    async with app.session_maker() as s:
        await ann_svc.answer(s, clock=clock, tz=app.tz, ann_id=ann.id, user=nam, status="signed_up",
                             translate=app.translate)
        await s.commit()
    move_to(clock, "13/03/2026 08:00")
    assert (await tick(app)).queued == 1
    zalo = Zalo()
    await attach_outbox(app, None, zalo).deliver_due(drain=True)  # type: ignore[arg-type]
    ((chat, text),) = zalo.sent
    assert chat == "a1b2c3d4" and "Bình chọn sản phẩm CNNT tiêu biểu 2026" in text
    assert "còn 7 ngày" in text and "20/03/2026" in text and "<b>" not in text
