"""Repositories and the services that write through them, on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.migrate
from bot.channels.base import RateLimited, TransientError, Unreachable
from bot.clock import FakeClock
from bot.conversation.replies import Reply, reply_from_json
from bot.domain import ERASED, NeedStatus, Role
from bot.errors import Conflict, DomainError, NotFound, PermissionDenied
from bot.services import accounts, needs
from bot.services.forms.definitions import NEW_FACILITY
from bot.services.outbox import RETRY_SPAN, OutboxWorker, enqueue
from storage import console_repos, repos
from storage.db import create_session_maker
from storage.models import Conversation, Facility, Invite, Need, NeedEvent, OutboxMessage, User
from tests.conftest import telegram_view

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LONG_XUYEN = 30280  # any commune code; repositories do not check it
CHAU_DOC = 30316


def fake_translate(msgid: str, locale: str) -> str:
    return f"[{locale}]{msgid}"


@pytest.fixture
def maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_maker(engine)


async def add_user(s: AsyncSession, clock: FakeClock, external_id: str, *, role: str = "user", locale: str = "vi",
                   commune_code: int | None = None, channel: str = "telegram") -> User:
    return await repos.add(s, obj=User(channel=channel, external_id=external_id, role=role, locale=locale,
                                       commune_code=commune_code, full_name=f"User {external_id}",
                                       created_at=clock.now(), updated_at=clock.now()))


async def add_facility(s: AsyncSession, clock: FakeClock, name: str, *, owner: User | None = None,
                       commune_code: int = LONG_XUYEN) -> Facility:
    return await repos.add(s, obj=Facility(
        name=name, owner_name="Nguyễn Thị Lan", phone="+84912345678", commune_code=commune_code, sector="food",
        owner_user_id=owner.id if owner else None, created_at=clock.now(), updated_at=clock.now()))


async def add_need(s: AsyncSession, clock: FakeClock, facility: Facility, *, status: str = "received",
                   category: str = "training", registrant: User | None = None, filed_by: User | None = None) -> Need:
    return await repos.add(s, obj=Need(
        facility_id=facility.id, commune_code=facility.commune_code, category=category, description="Cần hỗ trợ",
        status=status, registrant_user_id=registrant.id if registrant else None,
        filed_by_user_id=filed_by.id if filed_by else None, created_at=clock.now(), updated_at=clock.now()))


NEED_FORM = {"category": "training", "description": "Cần tập huấn quản lý", "desired_month": "2026-05-01",
             "attachment": None}


# --- users ---


async def test_users_are_unique_per_channel_and_external_id(maker, clock) -> None:
    async with maker() as s:
        await add_user(s, clock, "1001")
        await add_user(s, clock, "1001", channel="zalo")  # same id on another channel: another person
        await s.commit()
    async with maker() as s:
        with pytest.raises(IntegrityError):
            await add_user(s, clock, "1001")
        await s.rollback()
    async with maker() as s:
        found = await repos.get_user(s, channel="telegram", external_id="1001")
        assert found is not None and found.channel == "telegram"
        assert await repos.get_user(s, channel="telegram", external_id="1002") is None
        assert len((await s.exec(select(User))).all()) == 2


async def test_first_contact_creates_the_user_once(maker, clock) -> None:
    async with maker() as s:
        first = await accounts.first_contact(s, clock=clock, channel="telegram", external_id="1001", locale="en")
        again = await accounts.first_contact(s, clock=clock, channel="telegram", external_id="1001", locale="vi")
        await s.commit()
    assert again.id == first.id
    async with maker() as s:
        users = (await s.exec(select(User))).all()
    # Nothing personal before consent: no name, no username, no phone.
    assert [(u.external_id, u.full_name, u.username, u.phone, u.locale) for u in users] == [
        ("1001", None, None, None, "en")]


# --- facilities ---


async def test_facility_of_owner(maker, clock) -> None:
    async with maker() as s:
        owner = await add_user(s, clock, "1001")
        other = await add_user(s, clock, "1002")
        facility = await add_facility(s, clock, "Cơ sở nước mắm Hưng Thịnh", owner=owner)
        await add_facility(s, clock, "Cơ sở không chủ")
        await s.commit()
    async with maker() as s:
        found = await repos.facility_of_owner(s, user_id=owner.id)
        assert found is not None and found.id == facility.id
        assert await repos.facility_of_owner(s, user_id=other.id) is None


async def test_one_facility_per_owner(maker, clock) -> None:
    async with maker() as s:
        owner = await add_user(s, clock, "1001")
        await add_facility(s, clock, "Cơ sở A", owner=owner)
        await s.commit()
    async with maker() as s:
        with pytest.raises(IntegrityError):
            await add_facility(s, clock, "Cơ sở B", owner=owner)
        await s.rollback()


async def test_facilities_in_commune_with_name_filter(maker, clock) -> None:
    async with maker() as s:
        for name in ("Cơ sở nước mắm Hưng Thịnh", "Cơ sở bánh pía Hưng Phát", "Lò rèn Phú Lợi"):
            await add_facility(s, clock, name)
        await add_facility(s, clock, "Cơ sở Hưng Thịnh Châu Đốc", commune_code=CHAU_DOC)
        await s.commit()
    async with maker() as s:
        every = await repos.facilities_in_commune(s, commune_code=LONG_XUYEN)
        assert [f.name for f in every] == ["Cơ sở bánh pía Hưng Phát", "Cơ sở nước mắm Hưng Thịnh", "Lò rèn Phú Lợi"]
        hung = await repos.facilities_in_commune(s, commune_code=LONG_XUYEN, name_like="hưng")
        assert [f.name for f in hung] == ["Cơ sở bánh pía Hưng Phát", "Cơ sở nước mắm Hưng Thịnh"]
        assert [f.name for f in await repos.facilities_in_commune(s, commune_code=LONG_XUYEN, name_like="LÒ RÈN")
                ] == ["Lò rèn Phú Lợi"]
        # Accent- and case-free, as people type without diacritics: "PHU" finds "Phú".
        assert [f.name for f in await repos.facilities_in_commune(s, commune_code=LONG_XUYEN, name_like="PHU")
                ] == ["Lò rèn Phú Lợi"]
        assert [f.name for f in await repos.facilities_in_commune(s, commune_code=LONG_XUYEN, name_like="Pía")
                ] == ["Cơ sở bánh pía Hưng Phát"]
        assert len(await repos.facilities_in_commune(s, commune_code=LONG_XUYEN, limit=2)) == 2
        assert await repos.facilities_in_commune(s, commune_code=12345) == []


async def test_name_filter_ignores_case_of_vietnamese_letters_on_sqlite(sqlite_engine, clock) -> None:
    maker = create_session_maker(sqlite_engine)
    async with maker() as s:
        await add_facility(s, clock, "CƠ SỞ ĐẠI PHÁT")
        await s.commit()
    async with maker() as s:
        found = await repos.facilities_in_commune(s, commune_code=LONG_XUYEN, name_like="đại phát")
    assert [f.name for f in found] == ["CƠ SỞ ĐẠI PHÁT"]


# --- the staff inbox ---


async def _inbox_fixture(maker, clock: FakeClock) -> list[Need]:
    """Ten needs, one a minute: alternating categories, some surveyed, some in Châu Đốc."""
    async with maker() as s:
        lx = await add_facility(s, clock, "Cơ sở Long Xuyên")
        cd = await add_facility(s, clock, "Cơ sở Châu Đốc", commune_code=CHAU_DOC)
        made = []
        for i in range(10):
            made.append(await add_need(s, clock, cd if i % 5 == 0 else lx,
                                       status="surveyed" if i % 3 == 0 else "received",
                                       category="machinery" if i % 2 else "training"))
            clock.advance(minutes=1)
        # Two needs at the very same moment: the later id comes first.
        same = [await add_need(s, clock, lx), await add_need(s, clock, lx)]
        await s.commit()
    return made + same


async def test_inbox_newest_first_with_facility_and_total(maker, clock) -> None:
    made = await _inbox_fixture(maker, clock)
    async with maker() as s:
        rows, total = await repos.inbox(s, limit=100)
    assert total == 12
    assert [n.id for n, _ in rows] == [n.id for n in reversed(made)]
    assert all(f is not None and f.id == n.facility_id for n, f in rows)


async def test_inbox_paging(maker, clock) -> None:
    made = await _inbox_fixture(maker, clock)
    expected = [n.id for n in reversed(made)]
    async with maker() as s:
        pages = []
        for offset in (0, 5, 10):
            rows, total = await repos.inbox(s, offset=offset, limit=5)
            assert total == 12
            pages.append([n.id for n, _ in rows])
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [i for page in pages for i in page] == expected


async def test_inbox_filters(maker, clock) -> None:
    made = await _inbox_fixture(maker, clock)

    def ids(pred: Callable[[Need], bool]) -> list[int]:
        return [n.id for n in reversed(made) if pred(n)]

    async with maker() as s:
        for kwargs, pred in [
            ({"status": "surveyed"}, lambda n: n.status == "surveyed"),
            ({"category": "machinery"}, lambda n: n.category == "machinery"),
            ({"commune_code": CHAU_DOC}, lambda n: n.commune_code == CHAU_DOC),
            ({"status": "received", "category": "training", "commune_code": LONG_XUYEN},
             lambda n: (n.status, n.category, n.commune_code) == ("received", "training", LONG_XUYEN)),
            ({"status": "completed"}, lambda n: False),
        ]:
            rows, total = await repos.inbox(s, limit=3, **kwargs)
            assert total == len(ids(pred)), kwargs
            assert [n.id for n, _ in rows] == ids(pred)[:3], kwargs


async def test_inbox_keeps_needs_whose_facility_is_gone(maker, clock) -> None:
    async with maker() as s:
        facility = await add_facility(s, clock, "Cơ sở tạm")
        need = await add_need(s, clock, facility)
        await s.delete(facility)
        await s.commit()
    async with maker() as s:
        rows, total = await repos.inbox(s)
    assert total == 1
    assert rows[0][0].id == need.id and rows[0][0].facility_id is None and rows[0][1] is None


# --- invites ---


async def _invite(maker, clock: FakeClock) -> tuple[Invite, User, User]:
    async with maker() as s:
        staff = await add_user(s, clock, "9001", role="staff")
        person = await add_user(s, clock, "1001")
        invite = await accounts.create_invite(s, clock=clock, creator=staff, role=Role.COLLABORATOR,
                                              commune_code=LONG_XUYEN)
        await s.commit()
    return invite, staff, person


async def test_claim_invite_is_single_use(maker, clock) -> None:
    invite, _, person = await _invite(maker, clock)
    assert invite.expires_at == clock.now() + timedelta(days=7)
    async with maker() as s:
        assert await repos.claim_invite(s, token=invite.token, user_id=person.id, now=clock.now()) is True
        await s.commit()
    async with maker() as s:
        assert await repos.claim_invite(s, token=invite.token, user_id=person.id, now=clock.now()) is False
        stored = await repos.get_invite(s, token=invite.token)
    assert stored.used_at == clock.now() and stored.used_by_user_id == person.id
    async with maker() as s:
        assert await repos.claim_invite(s, token="no-such-token", user_id=person.id, now=clock.now()) is False


async def test_claim_invite_refuses_expired(maker, clock) -> None:
    invite, _, person = await _invite(maker, clock)
    async with maker() as s:
        assert await repos.claim_invite(s, token=invite.token, user_id=person.id, now=invite.expires_at) is False
        later = invite.expires_at + timedelta(seconds=1)
        assert await repos.claim_invite(s, token=invite.token, user_id=person.id, now=later) is False
    async with maker() as s:
        assert (await repos.get_invite(s, token=invite.token)).used_at is None


async def test_claim_invite_compares_instants_not_local_clock_readings(maker, clock) -> None:
    invite, _, person = await _invite(maker, clock)
    # One minute before expiry, written in Vietnam time (a later wall-clock reading than the UTC one).
    just_before = (invite.expires_at - timedelta(minutes=1)).astimezone(TZ)
    async with maker() as s:
        assert await repos.claim_invite(s, token=invite.token, user_id=person.id, now=just_before) is True
        await s.commit()


async def test_accept_invite_grants_the_role_once(maker, clock) -> None:
    invite, _, person = await _invite(maker, clock)
    async with maker() as s:
        user = await repos.get_user_by_id(s, user_id=person.id)
        await accounts.accept_invite(s, clock=clock, user=user, token=invite.token,
                                     data={"full_name": "Trần Văn B", "phone": "+84912345678"})
        await s.commit()
    async with maker() as s:
        user = await repos.get_user_by_id(s, user_id=person.id)
        assert (user.role, user.commune_code, user.full_name) == ("collaborator", LONG_XUYEN, "Trần Văn B")
        other = await add_user(s, clock, "1002")
        with pytest.raises(DomainError):
            await accounts.accept_invite(s, clock=clock, user=other, token=invite.token,
                                         data={"full_name": "X", "phone": "+84912345679"})


# --- conversations ---


async def test_conversation_round_trip(maker, clock) -> None:
    data = {"facility_name": "Cơ sở \"Hưng Thịnh\" <b>", "commune": "30280", "commune__label": "Phường Long Xuyên",
            "attachment": {"file_id": "F", "kind": "document", "name": None}, "days": [7, 3, 1], "new_phone": None}
    history = ["facility_name", "owner_name", "commune"]
    context = {"commune_code": 30280, "_editing": {"field": "phone", "had": True, "value": "+84912345678",
                                                    "extra": {}}, "_query": "châu"}
    async with maker() as s:
        user = await add_user(s, clock, "1001")
        await repos.save_conversation(s, user_id=user.id, form="register", step="phone", data=data,
                                      history=history, context=context, now=clock.now())
        await s.commit()
    async with maker() as s:
        conv = await repos.get_conversation(s, user_id=user.id)
        assert (conv.form, conv.step, conv.data, conv.history, conv.context) == (
            "register", "phone", data, history, context)
        assert conv.updated_at == clock.now()
    clock.advance(seconds=30)
    async with maker() as s:  # saving again replaces the row
        await repos.save_conversation(s, user_id=user.id, form="need", step="__summary__",
                                      data={"category": "training"}, history=["category"], context={},
                                      now=clock.now())
        await s.commit()
    async with maker() as s:
        conv = await repos.get_conversation(s, user_id=user.id)
        assert (conv.form, conv.step, conv.data, conv.history, conv.context) == (
            "need", "__summary__", {"category": "training"}, ["category"], {})
        assert len((await s.exec(select(Conversation))).all()) == 1
        await repos.delete_conversation(s, user_id=user.id)
        await s.commit()
    async with maker() as s:
        assert await repos.get_conversation(s, user_id=user.id) is None


# --- the search text of facilities ---


async def test_facilities_keep_their_search_text_however_written(maker, clock) -> None:
    async with maker() as s:
        added = await add_facility(s, clock, "Lò bánh tráng Mỹ Hòa")  # through the ORM
        await console_repos.insert_facilities(s, rows=[{  # an import (a Core insert)
            "name": "Xưởng mộc Đức Thành", "owner_name": None, "phone": "+842963852741", "commune_code": LONG_XUYEN,
            "sector": "handicraft", "created_at": clock.now(), "updated_at": clock.now()}])
        await s.commit()
    async with maker() as s:
        facility = await repos.get_facility(s, facility_id=added.id)
        facility.owner_name, facility.phone = "Võ Mai", None  # edited: found by the new owner only
        s.add(facility)
        await s.commit()
    async with maker() as s:
        rows = (await s.exec(select(Facility.name, Facility.search_folded).order_by(Facility.id))).all()
    assert [tuple(r) for r in rows] == [("Lò bánh tráng Mỹ Hòa", "lo banh trang my hoa vo mai"),
                                        ("Xưởng mộc Đức Thành", "xuong moc duc thanh 842963852741 02963852741")]


# --- forgetting a person ---


async def test_forget_deletes_the_person_and_keeps_anonymous_needs(maker, clock) -> None:
    async with maker() as s:
        owner = await add_user(s, clock, "1001")
        keep = await add_user(s, clock, "1002")
        facility = await add_facility(s, clock, "Cơ sở nước mắm Hưng Thịnh", owner=owner)
        need = await add_need(s, clock, facility, registrant=owner)
        s.add(NeedEvent(need_id=need.id, to_status="received", actor_user_id=owner.id, created_at=clock.now()))
        await enqueue(s, clock=clock, user=owner, kind="need_status", reply=Reply.of("hello"))
        await enqueue(s, clock=clock, user=keep, kind="need_status", reply=Reply.of("hello"))
        await repos.save_conversation(s, user_id=owner.id, form="need", step="category", data={}, history=[],
                                      context={}, now=clock.now())
        await s.commit()
    async with maker() as s:
        user = await repos.get_user_by_id(s, user_id=owner.id)
        await accounts.forget(s, user=user)
        await s.commit()
    async with maker() as s:
        assert await repos.get_user_by_id(s, user_id=owner.id) is None
        assert await repos.get_user_by_id(s, user_id=keep.id) is not None
        kept = await repos.get_facility(s, facility_id=facility.id)
        assert (kept.name, kept.owner_name, kept.phone, kept.owner_user_id, kept.consent_at) == (
            "Cơ sở nước mắm Hưng Thịnh", None, None, None, None)
        assert kept.search_folded == "co so nuoc mam hung thinh"  # not found by the forgotten owner or phone
        kept_need = await repos.get_need(s, need_id=need.id)
        assert kept_need.registrant_user_id is None
        # Kept for statistics, but what the person wrote about themselves is erased.
        assert kept_need.facility_id == facility.id and kept_need.description == ERASED
        assert [e.actor_user_id for e in await repos.need_events(s, need_id=need.id)] == [None]
        # Their queued message is cancelled and anonymised, not deleted; the other person's is untouched.
        assert [(r.user_id, r.text, r.chat_id, r.status) for r in await repos.outbox_rows(s)] == [
            (None, "", "", "cancelled"), (keep.id, "hello", "1002", "pending")]
        assert await repos.get_conversation(s, user_id=owner.id) is None


# --- filing needs ---


async def test_file_need_assigns_ref_and_event(maker, clock) -> None:
    async with maker() as s:
        owner = await add_user(s, clock, "1001")
        facility = await add_facility(s, clock, "Cơ sở nước mắm Hưng Thịnh", owner=owner)
        need = await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(owner, Role.USER),
                                     data={**NEED_FORM, "category": "machinery", "machine": "Máy sấy lạnh",
                                           "est_cost": "12.50",
                                           "attachment": {"file_id": "F1", "kind": "document", "name": "q.pdf"}})
        second = await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(owner, Role.USER), data=NEED_FORM)
        await s.commit()
    assert need.ref == f"NC-2026-{need.id:04d}"
    assert second.ref == f"NC-2026-{second.id:04d}"
    async with maker() as s:
        stored = await repos.get_need(s, need_id=need.id)
        assert stored.ref == need.ref
        assert (stored.facility_id, stored.commune_code, stored.status) == (facility.id, LONG_XUYEN, "received")
        assert (stored.registrant_user_id, stored.filed_by_user_id) == (owner.id, None)
        assert stored.est_cost_million == Decimal("12.50")
        assert stored.desired_month.isoformat() == "2026-05-01"
        assert (stored.attachment_file_id, stored.attachment_kind, stored.attachment_name) == ("F1", "document",
                                                                                              "q.pdf")
        events = await repos.need_events(s, need_id=need.id)
    assert [(e.from_status, e.to_status, e.actor_user_id) for e in events] == [(None, "received", owner.id)]


async def test_first_need_is_nc_2026_0001(maker, clock) -> None:
    async with maker() as s:
        owner = await add_user(s, clock, "1001")
        await add_facility(s, clock, "Cơ sở A", owner=owner)
        need = await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(owner, Role.USER), data=NEED_FORM)
        await s.commit()
    assert need.ref == "NC-2026-0001"


async def test_ref_year_is_the_year_in_vietnam(maker) -> None:
    # 31 Dec 2025 18:00 UTC is already 1 Jan 2026, 01:00 in Ho Chi Minh City.
    clock = FakeClock(datetime(2025, 12, 31, 18, 0, tzinfo=UTC))
    async with maker() as s:
        owner = await add_user(s, clock, "1001")
        await add_facility(s, clock, "Cơ sở A", owner=owner)
        need = await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(owner, Role.USER), data=NEED_FORM)
        await s.commit()
    assert need.ref.startswith("NC-2026-")
    assert needs.need_ref(need, ZoneInfo("UTC")).startswith("NC-2025-")


async def test_file_need_requires_a_registered_facility(maker, clock) -> None:
    async with maker() as s:
        user = await add_user(s, clock, "1001")
        with pytest.raises(DomainError):
            await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(user, Role.USER), data=NEED_FORM)


async def test_collaborator_files_for_a_new_facility_in_their_commune(maker, clock) -> None:
    async with maker() as s:
        ctv = await add_user(s, clock, "2001", role="collaborator", commune_code=LONG_XUYEN)
        need = await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(ctv, Role.COLLABORATOR), data={
            **NEED_FORM, "facility": NEW_FACILITY, "new_name": "Cơ sở bánh tét", "new_owner": "Trần Văn B",
            "new_phone": None, "new_sector": "food"})
        await s.commit()
    async with maker() as s:
        facility = await repos.get_facility(s, facility_id=need.facility_id)
        assert (facility.name, facility.owner_name, facility.phone, facility.commune_code) == (
            "Cơ sở bánh tét", "Trần Văn B", None, LONG_XUYEN)
        assert (facility.owner_user_id, facility.created_by_user_id) == (None, ctv.id)
        stored = await repos.get_need(s, need_id=need.id)
        assert (stored.registrant_user_id, stored.filed_by_user_id) == (None, ctv.id)


async def test_collaborator_cannot_file_for_another_communes_facility(maker, clock) -> None:
    async with maker() as s:
        ctv = await add_user(s, clock, "2001", role="collaborator", commune_code=LONG_XUYEN)
        elsewhere = await add_facility(s, clock, "Cơ sở Châu Đốc", commune_code=CHAU_DOC)
        with pytest.raises(NotFound):
            await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(ctv, Role.COLLABORATOR),
                                  data={**NEED_FORM, "facility": str(elsewhere.id)})
        owner = await add_user(s, clock, "1001")
        with pytest.raises(PermissionDenied):  # only collaborators file on behalf
            await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(owner, Role.USER),
                                  data={**NEED_FORM, "facility": str(elsewhere.id)})


# --- the review workflow ---


async def _filed_by_collaborator(maker, clock: FakeClock) -> dict[str, Any]:
    """A facility owner (vi) whose need a collaborator (en) filed; a staff member reviews it."""
    async with maker() as s:
        owner = await add_user(s, clock, "1001", locale="vi")
        ctv = await add_user(s, clock, "2001", role="collaborator", locale="en", commune_code=LONG_XUYEN)
        staff = await add_user(s, clock, "9001", role="staff", locale="vi")
        facility = await add_facility(s, clock, "Cơ sở nước mắm Hưng Thịnh", owner=owner)
        need = await needs.file_need(s, clock=clock, tz=TZ, actor=needs.Actor(ctv, Role.COLLABORATOR),
                                     data={**NEED_FORM, "facility": str(facility.id)})
        await s.commit()
    return {"owner": owner, "ctv": ctv, "staff": staff, "need": need, "actor": needs.Actor(staff, Role.STAFF)}


async def test_status_change_notifies_registrant_and_collaborator_in_their_language(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    clock.advance(minutes=5)
    async with maker() as s:
        moved = await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id,
                                          to=NeedStatus.SURVEYED, translate=fake_translate)
        await s.commit()
    assert moved.status == "surveyed"
    ref = w["need"].ref
    async with maker() as s:
        rows = await repos.outbox_rows(s)
        stored = await repos.get_need(s, need_id=w["need"].id)
        facility = (await s.get(Facility, stored.facility_id)).name
    assert stored.status == "surveyed" and stored.updated_at == clock.now()
    # The owner is told what it means and what comes next; the collaborator who filed it, for which facility.
    next_step = ("The centre's staff have looked at your facility. They are now deciding whether your request can go "
                 "into this year's plan; you will hear from us here.")
    assert {r.user_id: telegram_view(r) for r in rows} == {
        w["owner"].id: f"<b>[vi]Your need {ref} ([vi]Training and management skills) is now: "
                       f"[vi]Surveyed on site.</b>\n\n[vi]{next_step}",
        w["ctv"].id: f"<b>[en]The need {ref} ([en]Training and management skills) you filed for {facility} is now: "
                     f"[en]Surveyed on site.</b>\n\n[en]{next_step}",
    }
    assert all((r.kind, r.status, r.channel) == ("need_status", "pending", "telegram") for r in rows)
    assert {r.chat_id for r in rows} == {"1001", "2001"}
    assert {r.dedupe_key for r in rows} == {f"need:{stored.id}:surveyed:{w['owner'].id}",
                                            f"need:{stored.id}:surveyed:{w['ctv'].id}"}


async def test_status_change_is_recorded_in_the_audit_trail(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    async with maker() as s:
        await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id,
                                  to=NeedStatus.SURVEYED, translate=fake_translate)
        await s.commit()
    async with maker() as s:
        events = await repos.need_events(s, need_id=w["need"].id)
    assert [(e.to_status, e.actor_user_id) for e in events] == [
        ("received", w["ctv"].id), ("surveyed", w["staff"].id)]


async def test_audit_trail_records_the_status_moved_from(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    async with maker() as s:
        await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id,
                                  to=NeedStatus.SURVEYED, translate=fake_translate)
        await s.commit()
    async with maker() as s:
        events = await repos.need_events(s, need_id=w["need"].id)
    assert [(e.from_status, e.to_status) for e in events] == [(None, "received"), ("received", "surveyed")]


async def test_the_actor_is_not_notified(maker, clock) -> None:
    async with maker() as s:
        owner = await add_user(s, clock, "1001")
        staff = await add_user(s, clock, "9001", role="staff")
        facility = await add_facility(s, clock, "Cơ sở A", owner=owner)
        need = await add_need(s, clock, facility, registrant=owner, filed_by=staff)
        need.ref = "NC-2026-0099"
        await s.commit()
    async with maker() as s:
        await needs.change_status(s, clock=clock, actor=needs.Actor(staff, Role.STAFF), need_id=need.id,
                                  to=NeedStatus.SURVEYED, translate=fake_translate)
        await s.commit()
    async with maker() as s:
        assert [r.user_id for r in await repos.outbox_rows(s)] == [owner.id]


async def test_workflow_refuses_skipping_a_step(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    async with maker() as s:
        with pytest.raises(Conflict):
            await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id,
                                      to=NeedStatus.APPROVED, translate=fake_translate)
        assert (await repos.get_need(s, need_id=w["need"].id)).status == "received"
        assert await repos.outbox_rows(s) == []


async def test_only_staff_change_status(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    async with maker() as s:
        with pytest.raises(PermissionDenied):
            await needs.change_status(s, clock=clock, actor=needs.Actor(w["ctv"], Role.COLLABORATOR),
                                      need_id=w["need"].id, to=NeedStatus.SURVEYED, translate=fake_translate)
        with pytest.raises(NotFound):
            await needs.change_status(s, clock=clock, actor=w["actor"], need_id=999_999,
                                      to=NeedStatus.SURVEYED, translate=fake_translate)


async def test_decline_needs_a_reason_which_is_sent_escaped(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    async with maker() as s:
        with pytest.raises(DomainError):
            await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id,
                                      to=NeedStatus.DECLINED, reason=None, translate=fake_translate)
        with pytest.raises(DomainError):
            await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id,
                                      to=NeedStatus.DECLINED, reason="", translate=fake_translate)
    async with maker() as s:
        await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id, to=NeedStatus.DECLINED,
                                  reason="Chi phí > 100.000 & thiếu hồ sơ {x}", translate=fake_translate)
        await s.commit()
    async with maker() as s:
        stored = await repos.get_need(s, need_id=w["need"].id)
        rows = {r.user_id: telegram_view(r) for r in await repos.outbox_rows(s)}
    assert (stored.status, stored.decline_reason) == ("declined", "Chi phí > 100.000 & thiếu hồ sơ {x}")
    # The reason as typed (escaped by the renderer), then what the owner can do next.
    assert "\n\n[vi]Reason: Chi phí &gt; 100.000 &amp; thiếu hồ sơ {x}\n\n[vi]The centre cannot support" \
        in rows[w["owner"].id]
    assert "\n\n[en]Reason: Chi phí &gt; 100.000 &amp; thiếu hồ sơ {x}\n\n[en]The centre cannot support" \
        in rows[w["ctv"].id]
    assert "is now: [en]Declined.</b>" in rows[w["ctv"].id]


async def test_status_change_is_compare_and_set(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    need_id = w["need"].id
    async with maker() as slow, maker() as fast:
        # Staff member A opened the need while it was "received"…
        opened = await repos.get_need(slow, need_id=need_id)
        assert opened.status == "received"
        # …staff member B moves it first…
        await needs.change_status(fast, clock=clock, actor=w["actor"], need_id=need_id, to=NeedStatus.SURVEYED,
                                  translate=fake_translate)
        await fast.commit()
        # …so A's move from the stale "received" changes nothing.
        with pytest.raises(Conflict):
            await needs.change_status(slow, clock=clock, actor=w["actor"], need_id=need_id,
                                      to=NeedStatus.DECLINED, reason="Trùng", translate=fake_translate)
        await slow.rollback()
    async with maker() as s:
        stored = await repos.get_need(s, need_id=need_id)
        events = await repos.need_events(s, need_id=need_id)
        rows = await repos.outbox_rows(s)
    assert (stored.status, stored.decline_reason) == ("surveyed", None)
    assert [e.to_status for e in events] == ["received", "surveyed"]
    assert len(rows) == 2 and all("Declined" not in r.text for r in rows)


async def test_withdraw_only_while_received(maker, clock) -> None:
    w = await _filed_by_collaborator(maker, clock)
    async with maker() as s:
        owner = await repos.get_user_by_id(s, user_id=w["owner"].id)
        stranger = await add_user(s, clock, "1009")
        with pytest.raises(NotFound):
            await needs.withdraw(s, clock=clock, user=stranger, need_id=w["need"].id)
        need = await needs.withdraw(s, clock=clock, user=owner, need_id=w["need"].id)
        await s.commit()
    assert need.status == "withdrawn"
    async with maker() as s:
        with pytest.raises(Conflict):
            await needs.change_status(s, clock=clock, actor=w["actor"], need_id=w["need"].id,
                                      to=NeedStatus.SURVEYED, translate=fake_translate)


# --- time zones ---


async def test_datetimes_come_back_aware_utc(maker, clock) -> None:
    local = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # the same instant as clock.now()
    async with maker() as s:
        user = await add_user(s, clock, "1001")
        user.consent_at = local
        await enqueue(s, clock=clock, user=user, kind="test", reply=Reply.of("x"), due=clock.now() + timedelta(hours=1))
        await s.commit()
    async with maker() as s:
        stored = await repos.get_user_by_id(s, user_id=user.id)
        row = (await repos.outbox_rows(s))[0]
    for value in (stored.created_at, stored.consent_at, row.created_at, row.next_attempt_at):
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    assert stored.created_at == clock.now()
    assert stored.consent_at == local == clock.now()
    assert row.next_attempt_at == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


async def test_naive_datetimes_are_refused(maker, clock) -> None:
    async with maker() as s:
        with pytest.raises(StatementError):
            await repos.add(s, obj=User(channel="telegram", external_id="1", created_at=datetime(2026, 3, 2, 9),
                                        updated_at=clock.now()))
        await s.rollback()


# --- the outbox worker ---


class FakeSender:
    """Records deliveries; raises the scripted errors first (or `always` on every call)."""

    channel = "telegram"

    def __init__(self, script: list[Exception] | None = None, always: Exception | None = None) -> None:
        self.script = list(script or [])
        self.always = always
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, chat_id: str, text: str, payload: dict[str, Any]) -> None:
        self.calls.append((chat_id, text, payload))
        if self.always is not None:
            raise self.always
        if self.script:
            raise self.script.pop(0)


async def _queued(maker, clock: FakeClock, n: int = 1, *, per_user: int = 1) -> list[User]:
    async with maker() as s:
        users = [await add_user(s, clock, str(1001 + i)) for i in range(n)]
        for u in users:
            for k in range(per_user):
                await enqueue(s, clock=clock, user=u, kind="test", reply=Reply.of(f"Xin chào {u.external_id} #{k}"),
                              dedupe_key=f"test:{u.id}:{k}")
        await s.commit()
    return users


async def _rows(maker) -> list[OutboxMessage]:
    async with maker() as s:
        return list(await repos.outbox_rows(s))


async def test_worker_sends_and_marks_sent(maker, clock) -> None:
    users = await _queued(maker, clock, 3)
    sender = FakeSender()
    worker = OutboxWorker(maker, {"telegram": sender}, clock)
    assert await worker.deliver_due(drain=True) == 3
    assert sorted(c[:2] for c in sender.calls) == [(u.external_id, f"Xin chào {u.external_id} #0") for u in users]
    assert all(reply_from_json(c[2]["reply"]) == Reply.of(c[1]) for c in sender.calls)
    rows = await _rows(maker)
    assert [r.status for r in rows] == ["sent"] * 3
    assert all(r.attempts == 1 and r.sent_at is not None and r.last_error is None for r in rows)
    assert await worker.deliver_due(drain=True) == 0  # nothing is sent twice
    assert len(sender.calls) == 3


async def test_rate_limited_row_goes_back_to_pending_without_counting_an_attempt(maker, clock) -> None:
    await _queued(maker, clock)
    start = clock.now()
    sender = FakeSender(script=[RateLimited(3)])
    worker = OutboxWorker(maker, {"telegram": sender}, clock)
    await worker.deliver_due()
    [row] = await _rows(maker)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at == start + timedelta(seconds=3)
    assert worker.stats["retries_429"] == 1
    clock.advance(seconds=3)
    await worker.deliver_due()
    [row] = await _rows(maker)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(sender.calls) == 2


async def test_unreachable_blocks_the_row_and_marks_the_person(maker, clock) -> None:
    [user] = await _queued(maker, clock)
    sender = FakeSender(script=[Unreachable("Forbidden: bot was blocked by the user")])
    worker = OutboxWorker(maker, {"telegram": sender}, clock)
    await worker.deliver_due(drain=True)
    [row] = await _rows(maker)
    assert (row.status, row.last_error, row.sent_at) == ("blocked", "Forbidden: bot was blocked by the user", None)
    async with maker() as s:
        stored = await repos.get_user_by_id(s, user_id=user.id)
        assert stored.unreachable_at == clock.now()
        await enqueue(s, clock=clock, user=stored, kind="test", reply=Reply.of("later"))  # a later message to them
        await s.commit()
    clock.advance(seconds=10)
    await worker.deliver_due(drain=True)
    assert len(sender.calls) == 1  # the later message is not even tried
    assert [(r.status, r.last_error) for r in await _rows(maker)][1] == ("blocked", "recipient unreachable")


async def test_transient_errors_fail_after_the_retry_span(maker, clock) -> None:
    await _queued(maker, clock)
    start = clock.now()
    sender = FakeSender(always=TransientError("502 Bad Gateway"))
    worker = OutboxWorker(maker, {"telegram": sender}, clock)
    await worker.deliver_due()
    [row] = await _rows(maker)
    assert row.status == "pending" and row.attempts >= 1
    assert row.next_attempt_at > clock.now() and row.last_error == "502 Bad Gateway"
    while row.status == "pending":
        clock.advance(seconds=600)
        await worker.deliver_due()
        [row] = await _rows(maker)
    assert (row.status, row.last_error) == ("failed", "502 Bad Gateway")
    assert clock.now() - start >= RETRY_SPAN and len(sender.calls) == row.attempts
    clock.advance(seconds=600)
    await worker.deliver_due()
    assert len(sender.calls) == row.attempts  # a failed row is not retried


async def test_recover_interrupted_marks_stale_sending_rows_unknown_only(maker, clock) -> None:
    await _queued(maker, clock, 3)
    async with maker() as s:
        rows = list(await repos.outbox_rows(s))
        for row, age in zip(rows, (timedelta(minutes=6), timedelta(seconds=30), None), strict=True):
            if age is not None:
                row.status, row.attempts, row.claimed_at = "sending", 1, clock.now() - age
                s.add(row)
        await s.commit()
    sender = FakeSender()
    worker = OutboxWorker(maker, {"telegram": sender}, clock)
    assert await worker.recover_interrupted() == 1
    stale, fresh, pending = await _rows(maker)
    assert stale.status == "unknown" and stale.last_error.startswith("interrupted")
    assert fresh.status == "sending" and fresh.last_error is None
    assert pending.status == "pending"
    await worker.deliver_due(drain=True)
    assert [c[0] for c in sender.calls] == [pending.chat_id]  # neither the stale nor the fresh one is resent
    assert await worker.recover_interrupted() == 0


async def test_a_database_at_the_latest_revision_is_recognised_without_alembic(engine, tmp_path) -> None:
    from storage.db import create_engine
    from storage.migrate import head_revision, is_at_head

    assert head_revision() == sorted(p.name[:4] for p in (Path(storage.migrate.__file__).parent
                                                          / "migrations" / "versions").glob("0*.py"))[-1]
    assert await is_at_head(engine)
    empty = create_engine(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert not await is_at_head(empty)
    await empty.dispose()
