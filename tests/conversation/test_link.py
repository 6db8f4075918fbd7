"""/link: one person on Telegram and Zalo. A code shown on one channel, typed on the other, attaches the
second account to the person, who then sees their facility and needs there and is notified there."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.channels.text import TextRenderer
from bot.channels.zalo.inbound import command_or_text as text_event
from bot.clock import FakeClock
from bot.conversation.events import Event, Who
from bot.conversation.pipeline import Pipeline, flatten
from bot.domain import NeedStatus, Role
from bot.services import accounts, needs
from storage import repos
from storage.models import Identity, LinkCode, OutboxMessage, User
from tests.conftest import STAFF_ID, ChatHarness, Person, file_need, make_settings, register_facility

CODE = re.compile(r"/link ([2-9A-Z]{8})")


class Phone:
    """A person typing on Zalo (the text renderer)."""

    def __init__(self, pipeline: Pipeline | None, external_id: str, language: str = "en") -> None:
        assert pipeline is not None
        self.pipeline, self.who = pipeline, Who("zalo", external_id, "Lan", language)

    async def type(self, text: str) -> str:
        rendered = await self.pipeline.handle(Event(self.who, text_event(text)), TextRenderer())
        return "\n---\n".join(m.text for m in flatten(rendered))


async def _telegram_code(chat: ChatHarness, p: Person) -> str:
    (shown,) = [c.text for c in await chat.send(p, "/link") if c.method == "SendMessage"]
    assert "<code>/link " in shown and "liên kết" in shown and "15 minutes" in shown
    match = CODE.search(shown)
    assert match is not None
    return match.group(1)


async def test_an_owner_registered_on_telegram_links_zalo_and_sees_facility_needs_and_notifications(
        chat: ChatHarness) -> None:
    lan = Person(6001, language_code="en")
    await register_facility(chat, lan, name="Cơ sở nước mắm Hưng Thịnh")
    await file_need(chat, lan)
    code = await _telegram_code(chat, lan)
    zalo = Phone(chat.app.pipeline, "6ede9afa01")
    answer = await zalo.type(f"liên kết {code.lower()[:4]} {code.lower()[4:]}")  # spaces and case do not matter
    assert answer.startswith("Done: this Zalo account is now linked to your account.")
    assert "Cơ sở nước mắm Hưng Thịnh" in await zalo.type("/profile")
    assert "NC-2026-" in await zalo.type("/needs")

    async with chat.app.session_maker() as s:
        owner = await repos.get_user(s, channel="telegram", external_id=str(lan.id))
        assert owner is not None and (owner.channel, owner.external_id) == ("zalo", "6ede9afa01")
        assert [(i.channel, i.external_id) for i in await repos.identities_of(s, user_id=owner.id or 0)] == [
            ("telegram", str(lan.id)), ("zalo", "6ede9afa01")]
        staff = await accounts.first_contact(s, clock=chat.clock, channel="telegram", external_id=str(STAFF_ID),
                                             locale="en")
        (need, _facility), = await needs.my_needs(s, user=owner)
        await needs.change_status(s, clock=chat.clock, actor=needs.Actor(staff, Role.STAFF), need_id=need.id or 0,
                                  to=NeedStatus.SURVEYED, translate=chat.app.translate)
        await s.commit()
        row = (await s.exec(select(OutboxMessage).where(OutboxMessage.kind == "need_status"))).one()
    assert (row.channel, row.chat_id, row.user_id) == ("zalo", "6ede9afa01", owner.id)

    # Writing from Telegram again brings the notifications back there.
    await chat.send(lan, "/help")
    async with chat.app.session_maker() as s:
        again = await repos.get_user_by_id(s, user_id=owner.id or 0)
        assert again is not None and (again.channel, again.external_id) == ("telegram", str(lan.id))


async def test_a_code_shown_on_zalo_links_telegram(chat: ChatHarness) -> None:
    zalo = Phone(chat.app.pipeline, "abcdef12")
    shown = await zalo.type("lien ket")
    assert "Use the bot on another channel too" in shown and "<" not in shown
    match = CODE.search(shown)
    assert match is not None
    ba = Person(6002, language_code="en")
    (answer,) = [c.text for c in await chat.send(ba, f"/link {match.group(1)}")]
    assert answer.startswith("Done: this Telegram account is now linked to your account.")
    again = [c.text for c in await chat.send(ba, f"/link {match.group(1)}")]
    assert again == ["This Telegram account is already linked to your account: nothing was changed."]


async def test_an_account_with_its_own_data_is_not_merged(chat: ChatHarness) -> None:
    lan = Person(6003, language_code="en")
    await register_facility(chat, lan)
    other = Person(6004, language_code="en")
    await register_facility(chat, other, name="Cơ sở khác")
    code = await _telegram_code(chat, lan)
    (answer,) = [c.text for c in await chat.send(other, f"/link {code}")]
    assert "already has data of its own" in answer and "nothing was changed" in answer
    async with chat.app.session_maker() as s:
        person = await repos.get_user(s, channel="telegram", external_id=str(other.id))
        assert person is not None and person.full_name == "Nguyễn Thị Lan"
        assert len(await repos.identities_of(s, user_id=person.id or 0)) == 1


async def test_an_empty_account_is_merged_and_removed(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    first, second = Phone(app.pipeline, "aa01"), Phone(app.pipeline, "bb02")
    await first.type("/subscriptions")  # a person row with nothing of their own
    await second.type("/subscriptions")
    code = CODE.search(await first.type("/link"))
    assert code is not None
    answer = await second.type(f"/link {code.group(1)}")
    assert "The empty profile it had here (nothing registered) was removed." in answer
    async with app.session_maker() as s:
        users = (await s.exec(select(User))).all()
        identities = (await s.exec(select(Identity).order_by(Identity.external_id))).all()
    assert len(users) == 1 and [(i.external_id, i.user_id) for i in identities] == [
        ("aa01", users[0].id), ("bb02", users[0].id)]


async def test_a_code_works_once_and_for_15_minutes(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    owner, late, second = Phone(app.pipeline, "cc01"), Phone(app.pipeline, "cc02"), Phone(app.pipeline, "cc03")
    code = CODE.search(await owner.type("/link"))
    assert code is not None
    clock.advance(minutes=16)
    assert "This code is not valid" in await late.type(f"/link {code.group(1)}")
    code = CODE.search(await owner.type("/link"))
    assert code is not None
    assert "Done" in await second.type(f"/link {code.group(1)}")
    assert "This code is not valid" in await late.type(f"/link {code.group(1)}")
    async with app.session_maker() as s:
        assert all(row.code_hash != code.group(1) for row in (await s.exec(select(LinkCode))).all())


async def test_five_wrong_codes_stop_further_tries(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(), engine, clock=clock)
    owner, guesser = Phone(app.pipeline, "dd01"), Phone(app.pipeline, "dd02")
    for left in (4, 3, 2, 1, 0):
        assert f"Tries left: {left}." in await guesser.type("/link 22222222")
    code = CODE.search(await owner.type("/link"))
    assert code is not None
    assert "Too many wrong codes" in await guesser.type(f"/link {code.group(1)}")  # even the right one
    clock.advance(minutes=16)
    code = CODE.search(await owner.type("/link"))
    assert code is not None
    assert "Done" in await guesser.type(f"/link {code.group(1)}")


async def test_forget_removes_every_identity(chat: ChatHarness) -> None:
    lan = Person(6005, language_code="en")
    await register_facility(chat, lan)
    zalo = Phone(chat.app.pipeline, "ee01")
    await zalo.type(f"/link {await _telegram_code(chat, lan)}")
    async with chat.app.session_maker() as s:
        person = await repos.get_user(s, channel="zalo", external_id="ee01")
        assert person is not None
        data = await accounts.my_data(s, user=person)
        assert [i.channel for i in data.identities] == ["telegram", "zalo"]
    await zalo.type("/forget")
    assert "Your personal data has been deleted" in await zalo.type("1")
    async with chat.app.session_maker() as s:
        assert (await s.exec(select(Identity))).all() == []
        assert await repos.get_user(s, channel="telegram", external_id=str(lan.id)) is None


async def test_notify_identity_first_keeps_the_address(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(notify_identity="first"), engine, clock=clock)
    owner, second = Phone(app.pipeline, "ff01"), Phone(app.pipeline, "ff02")
    code = CODE.search(await owner.type("/link"))
    assert code is not None
    await second.type(f"/link {code.group(1)}")
    await second.type("/help")
    async with app.session_maker() as s:
        person = await repos.get_user(s, channel="zalo", external_id="ff02")
        assert person is not None and person.external_id == "ff01"


async def test_zalo_admin_ids_are_staff_on_zalo(engine: AsyncEngine, clock: FakeClock) -> None:
    app = create_app(make_settings(zalo_admin_ids="AB12cd, 99ff"), engine, clock=clock)
    assert app.settings.staff_identities() == {("telegram", str(STAFF_ID)), ("zalo", "ab12cd"), ("zalo", "99ff")}
    assert "/inbox" in await Phone(app.pipeline, "ab12cd").type("/help")
    assert "/inbox" not in await Phone(app.pipeline, "ab12ce").type("/help")
    await Phone(app.pipeline, "99ff").type("xin chào")  # any first message gives settings staff their row
    async with app.session_maker() as s:
        listed = await accounts.staff_members(s, admin_ids=app.settings.admin_ids,
                                              staff=app.settings.staff_identities())
        nobody = await repos.get_user(s, channel="zalo", external_id="ab12ce")
    assert sorted((p.external_id, p.role) for p, from_settings in listed if from_settings) == [
        ("99ff", "user"), ("ab12cd", "user")]
    assert nobody is None  # others get a row at /start, as before


async def test_settings_staff_notified_on_zalo_still_get_the_digest(chat: ChatHarness) -> None:
    ha = Person(STAFF_ID, language_code="en")
    await chat.send(ha, "/help")
    zalo = Phone(chat.app.pipeline, "5a10")
    assert "Done" in await zalo.type(f"/link {await _telegram_code(chat, ha)}")
    assert "/inbox" in await zalo.type("/help")  # staff from the Zalo account too (their notify address now)
    async with chat.app.session_maker() as s:
        staff = await repos.staff_users(s, settings_staff=[("telegram", str(STAFF_ID))])
    assert [(p.channel, p.external_id) for p in staff] == [("zalo", "5a10")]
