"""Places at a fair: sign-ups past the capacity wait in the order they came; a cancellation, a "not accepted"
or more places move the first waiting up, and they are told in their language; staff move a sign-up's
participant status and the person is told (outbox); nobody loses a place they were given."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import col, select

from bot.app import create_app
from bot.domain import Role
from bot.errors import DomainError
from bot.services import announcements as ann_svc
from bot.services import signups
from bot.services.needs import Actor
from storage.models import Announcement, AuditEntry, OutboxMessage, Signup, User
from tests.conftest import make_settings, telegram_view


@pytest.fixture
def app(engine, clock):
    return create_app(make_settings(), engine, clock=clock)


async def person(app, external_id: str, *, locale: str = "vi", role: str = "user") -> User:
    async with app.session_maker() as s:
        u = User(channel="telegram", external_id=external_id, role=role, locale=locale,
                 full_name=f"Người {external_id}", created_at=app.clock.now(), updated_at=app.clock.now())
        s.add(u)
        await s.commit()
        return u


async def fair(app, *, capacity: int | None) -> Announcement:
    staff = await person(app, "9000", role="staff")
    async with app.session_maker() as s:
        ann = await ann_svc.create(s, clock=app.clock, author=staff, data={
            "kind": "fair", "title": "Hội chợ CNNT Vĩnh Long 2026", "body": "Gian hàng miễn phí.",
            "deadline_on": date(2026, 3, 20).isoformat(), "questions": "Sản phẩm trưng bày?"})
        ann.status, ann.capacity = "sent", capacity
        s.add(ann)
        await s.commit()
        return ann


async def answer(app, ann: Announcement, user: User, status: str = "signed_up") -> Signup:
    async with app.session_maker() as s:
        signup = await ann_svc.answer(s, clock=app.clock, tz=app.tz, ann_id=ann.id, user=user, status=status,
                                      answers={"q1": f"Sản phẩm của {user.full_name}"}, translate=app.translate)
        await s.commit()
    app.clock.advance(60)
    return signup


async def seats(app, ann: Announcement) -> signups.Places:
    async with app.session_maker() as s:
        return await signups.places(s, ann=await s.get(Announcement, ann.id))


async def outbox(app, kind: str) -> list[OutboxMessage]:
    async with app.session_maker() as s:
        return list((await s.exec(select(OutboxMessage).where(OutboxMessage.kind == kind)
                                  .order_by(col(OutboxMessage.id)))).all())


async def staff_actor(app) -> Actor:
    async with app.session_maker() as s:
        staff = (await s.exec(select(User).where(User.role == "staff"))).one()
    return Actor(user=staff, role=Role.STAFF)


async def test_capacity_two_with_three_sign_ups_puts_the_third_on_the_waiting_list(app) -> None:
    ann = await fair(app, capacity=2)
    a, b, c = [await person(app, str(i)) for i in (1, 2, 3)]
    first, second, third = [await answer(app, ann, u) for u in (a, b, c)]
    places = await seats(app, ann)
    assert places.holders == (first.id, second.id) and places.waiting == (third.id,)
    assert places.position(third.id) == 1 and places.position(first.id) is None
    async with app.session_maker() as s:
        stored = await s.get(Signup, third.id)
        assert stored.participant_status == "registered" and stored.signed_up_at is not None
    # Changing one's answers keeps one's place in the line.
    await answer(app, ann, c)
    assert (await seats(app, ann)).waiting == (third.id,)
    assert await outbox(app, "signup_place") == []


async def test_a_cancellation_gives_the_place_to_the_first_waiting_who_is_told_in_their_language(app) -> None:
    ann = await fair(app, capacity=2)
    a, b = await person(app, "1"), await person(app, "2")
    anna, nam = await person(app, "3", locale="en"), await person(app, "4")
    for u in (a, b, anna, nam):
        await answer(app, ann, u)
    await answer(app, ann, a, "declined")  # a cancels
    places = await seats(app, ann)
    assert len(places.holders) == 2 and places.position((await signup_of(app, nam)).id) == 1
    (row,) = await outbox(app, "signup_place")
    assert (row.user_id, row.chat_id, row.status) == (anna.id, "3", "pending")
    assert "A place has freed up: you now have a place at “Hội chợ CNNT Vĩnh Long 2026”." in telegram_view(row)
    # Signing up again joins the end of the line.
    await answer(app, ann, a)
    assert (await seats(app, ann)).waiting == ((await signup_of(app, nam)).id, (await signup_of(app, a)).id)


async def signup_of(app, user: User) -> Signup:
    async with app.session_maker() as s:
        return (await s.exec(select(Signup).where(Signup.user_id == user.id))).one()


async def test_a_status_change_tells_the_person_in_their_language_and_not_accepted_frees_the_place(app) -> None:
    ann = await fair(app, capacity=1)
    lan, anna = await person(app, "1"), await person(app, "2", locale="en")
    held, waits = await answer(app, ann, lan), await answer(app, ann, anna)
    actor = await staff_actor(app)
    async with app.session_maker() as s:
        with pytest.raises(DomainError):  # a waiting person has no place to be accepted into
            await signups.change_status(s, clock=app.clock, actor=actor, ann_id=ann.id, signup_id=waits.id,
                                        to="accepted", translate=app.translate)
        await signups.change_status(s, clock=app.clock, actor=actor, ann_id=ann.id, signup_id=held.id,
                                    to="dossier", translate=app.translate, contact=("0296 3852 123", ""))
        await s.commit()
    (row,) = await outbox(app, "signup_status")
    shown = telegram_view(row)
    assert row.user_id == lan.id
    assert "Trạng thái đăng ký tham gia “Hội chợ CNNT Vĩnh Long 2026” của anh/chị: Đã nhận hồ sơ." in shown
    assert "0296 3852 123" in shown
    async with app.session_maker() as s:
        await signups.change_status(s, clock=app.clock, actor=actor, ann_id=ann.id, signup_id=held.id,
                                    to="rejected", reason="Sản phẩm chưa có nhãn mác", translate=app.translate)
        await s.commit()
        with pytest.raises(DomainError):  # final
            await signups.change_status(s, clock=app.clock, actor=actor, ann_id=ann.id, signup_id=held.id,
                                        to="accepted", translate=app.translate)
    rejected = telegram_view((await outbox(app, "signup_status"))[-1])
    assert "Không được chọn" in rejected and "Lý do: Sản phẩm chưa có nhãn mác" in rejected
    (place,) = await outbox(app, "signup_place")
    assert place.user_id == anna.id and "you now have a place" in telegram_view(place)
    assert (await seats(app, ann)).holders == (waits.id,)
    async with app.session_maker() as s:
        stored = await s.get(Signup, held.id)
        entries = (await s.exec(select(AuditEntry).where(AuditEntry.action == "signup_status"))).all()
    assert (stored.participant_status, stored.participant_reason, stored.participant_changed_by_user_id) == (
        "rejected", "Sản phẩm chưa có nhãn mác", actor.user.id)
    assert [(e.detail["from"], e.detail["to"]) for e in entries] == [("registered", "dossier"), ("dossier", "rejected")]


async def test_more_places_move_the_waiting_up_and_fewer_than_taken_is_refused(app) -> None:
    ann = await fair(app, capacity=1)
    users = [await person(app, str(i)) for i in (1, 2, 3)]
    rows = [await answer(app, ann, u) for u in users]
    actor = await staff_actor(app)
    async with app.session_maker() as s:
        with pytest.raises(DomainError):
            await signups.set_capacity(s, clock=app.clock, actor=actor, ann_id=ann.id, raw="mười",
                                       translate=app.translate)
        await signups.set_capacity(s, clock=app.clock, actor=actor, ann_id=ann.id, raw="2", translate=app.translate)
        await s.commit()
    assert [r.user_id for r in await outbox(app, "signup_place")] == [users[1].id]
    async with app.session_maker() as s:
        with pytest.raises(DomainError) as refused:
            await signups.set_capacity(s, clock=app.clock, actor=actor, ann_id=ann.id, raw="1",
                                       translate=app.translate)
        assert refused.value.message.params == {"n": 2}
        await signups.set_capacity(s, clock=app.clock, actor=actor, ann_id=ann.id, raw="", translate=app.translate)
        await s.commit()
    places = await seats(app, ann)
    assert places.capacity is None and places.holders == tuple(r.id for r in rows) and places.waiting == ()
    assert [r.user_id for r in await outbox(app, "signup_place")] == [users[1].id, users[2].id]
