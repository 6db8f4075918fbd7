"""The sandbox's demo data tells no impossible story (issue 12): no need received in the future, no desired
month before the need was received, collaborators file only in their own commune, and the personas' phones are
their facilities' phones — whatever the date the sandbox starts on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.app import create_app
from bot.clock import FakeClock
from bot.seed import PERSONAS, seed
from storage.models import Facility, Need, User
from tests.conftest import make_settings


@pytest.mark.parametrize("start", [datetime(2026, 3, 2, 2, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 30, tzinfo=UTC)])
async def test_the_demo_data_is_consistent(sqlite_engine: AsyncEngine, start: datetime) -> None:
    clock = FakeClock(start)
    app = create_app(make_settings(), sqlite_engine, clock=clock)
    async with app.session_maker() as s:
        await seed(s, clock=clock, communes=app.communes, tz=app.tz)
        await s.commit()
    async with app.session_maker() as s:
        needs = (await s.exec(select(Need))).all()
        facilities = {f.id: f for f in (await s.exec(select(Facility))).all()}
        users = {u.id: u for u in (await s.exec(select(User))).all()}
    now = clock.now()
    assert len(needs) == 48
    for need in needs:
        received = need.created_at.replace(tzinfo=need.created_at.tzinfo or UTC)
        assert received <= now, need.ref
        month_received = received.astimezone(app.tz).date().replace(day=1)
        assert need.desired_month is None or need.desired_month >= month_received, need.ref
        assert need.ref and need.ref.startswith(f"NC-{received.astimezone(app.tz).year}-")
        facility = facilities[need.facility_id]
        assert facility.created_at.replace(tzinfo=UTC) <= received, need.ref  # the facility existed first
        if need.filed_by_user_id is not None:
            filer = users[need.filed_by_user_id]
            assert filer.role == "collaborator" and filer.commune_code == facility.commune_code, need.ref
    filed = [n for n in needs if n.filed_by_user_id is not None]
    assert len({users[n.filed_by_user_id].id for n in filed}) >= 2  # several collaborators, each at home
    for facility in facilities.values():
        creator = users[facility.created_by_user_id]
        if creator.role == "collaborator":
            assert creator.commune_code == facility.commune_code, facility.name
    owners = {u.external_id: u for u in users.values()}
    for persona in PERSONAS:
        user = owners.get(persona.external_id)
        if persona.role != "facility" or user is None:
            continue
        (own,) = [f for f in facilities.values() if f.owner_user_id == user.id]
        assert own.phone == user.phone == persona.phone, persona.first_name
