"""/needs and withdraw on both renderers: each need says what it is, the question has a "No", and an old
"Withdraw" choice after the need was withdrawn says so instead of asking again."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.channels.telegram_render import TelegramRenderer
from bot.clock import FakeClock
from bot.conversation.events import ChooseEvent, Who
from storage.models import Facility, Need, User
from tests.conversation.test_staff_flows import RENDERERS, Staff, add, app_for


def owner_who(renderer: Any) -> Who:
    return Who("telegram", "7001", "Lan", "en") if renderer is TelegramRenderer else Who("zalo", "0a0b7001", "Lan",
                                                                                          "en")


async def seed(app: Any, clock: FakeClock, who: Who) -> None:
    now = clock.now()
    owner = User(channel=who.channel, external_id=who.external_id, full_name="Lan", locale="en", consent_at=now,
                 created_at=now, updated_at=now)
    await add(app, owner)
    facility = Facility(name="Nước mắm Lan", commune_code=30307, sector="food", owner_user_id=owner.id,
                        created_at=now, updated_at=now)
    await add(app, facility)
    await add(app, Need(ref="NC-2026-0001", facility_id=facility.id, commune_code=30307, category="machinery",
                        description="Cần máy đóng chai", machine="Máy chiết rót nước mắm bán tự động",
                        registrant_user_id=owner.id, status="received", created_at=now, updated_at=now),
              Need(ref="NC-2026-0002", facility_id=facility.id, commune_code=30307, category="training",
                   description="Tập huấn bán hàng trên sàn thương mại điện tử cho cả gia đình",
                   registrant_user_id=owner.id, status="approved", created_at=now, updated_at=now))


async def status_of(app: Any, ref: str) -> str:
    async with app.session_maker() as s:
        return (await s.exec(select(Need.status).where(Need.ref == ref))).one()


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_needs_say_what_they_are_and_withdraw_asks_with_a_no(sqlite_engine: AsyncEngine, clock: FakeClock,
                                                                   renderer: Any) -> None:
    app = app_for(sqlite_engine, clock)
    who = owner_who(renderer)
    await seed(app, clock, who)
    lan = Staff(app, who, renderer())
    await lan.send("/needs")
    assert "Máy chiết rót nước mắm bán tự động" in lan.text and "Tập huấn bán hàng trên sàn" in lan.text
    await lan.choose("Withdraw NC-2026-0001")
    assert "Máy chiết rót" in lan.text and lan.has_choice("No, keep it")
    await lan.choose("No, keep it")
    assert "stays with the centre" in lan.text and await status_of(app, "NC-2026-0001") == "received"
    await lan.send("/needs")
    await lan.choose("Withdraw NC-2026-0001")
    await lan.choose("Yes, withdraw")
    assert "has been withdrawn" in lan.text and await status_of(app, "NC-2026-0001") == "withdrawn"


async def test_an_old_withdraw_choice_says_it_is_already_withdrawn(sqlite_engine: AsyncEngine,
                                                                    clock: FakeClock) -> None:
    app = app_for(sqlite_engine, clock)
    who = owner_who(TelegramRenderer)
    await seed(app, clock, who)
    lan = Staff(app, who, TelegramRenderer())
    async with app.session_maker() as s:
        need_id = (await s.exec(select(Need.id).where(Need.ref == "NC-2026-0001"))).one()
    await lan.act(ChooseEvent("mn", f"wy:{need_id}"))
    await lan.act(ChooseEvent("mn", f"w:{need_id}"))  # the button under the old list
    assert "already been withdrawn" in lan.text and not lan.has_choice("Yes, withdraw")
