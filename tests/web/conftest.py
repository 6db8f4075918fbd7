"""The staff console driven in-process: the FastAPI app on the bot's AppContext, httpx over ASGI (same event
loop as the database), the movable clock; people and needs written straight into the database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app as create_context
from bot.clock import FakeClock
from bot.context import AppContext
from bot.services import announcements, staff_auth
from bot.web.app import create_app
from bot.web.security import SESSION_COOKIE
from storage import repos
from storage.models import Announcement, Facility, Need, Question, User, WebSession
from tests.conftest import make_settings

PASSWORD = "mật-khẩu-đủ-dài-123"
LONG_XUYEN = 30307  # Phường Long Xuyên, An Giang (province 91)


@dataclass
class Console:
    app: AppContext
    client: httpx.AsyncClient
    clock: FakeClock
    people: dict[str, User]

    async def sign_in_as(self, who: str) -> str:
        """A session for `who` written straight into the table (staff or not): the cookie is set."""
        async with self.app.session_maker() as session:
            user = await session.get(User, self.people[who].id)
            token = await staff_auth.open_session(session, clock=self.clock, user=user, hours=12)
            await session.commit()
        self.client.cookies.set(SESSION_COOKIE, token)
        return token

    async def csrf(self) -> str:
        page = await self.client.get("/needs")
        assert page.status_code == 200, page.text
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    async def pre_csrf(self) -> str:
        page = await self.client.get("/login")
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    async def add_need(self, *, facility: str = "Cơ sở nước mắm Hưng Thịnh", owner: str = "Nguyễn Thị Lan",
                       phone: str = "+84912345678", category: str = "machinery", status: str = "received",
                       cost: str | None = "150.5", registrant: str | None = "owner", filed_by: str | None = None,
                       sector: str = "food", commune: int = LONG_XUYEN, own: str | None = None,
                       month: date | None = None) -> Need:
        now = self.clock.now()
        async with self.app.session_maker() as session:
            fac = Facility(name=facility, owner_name=owner, phone=phone, commune_code=commune, sector=sector,
                           created_at=now, updated_at=now)
            session.add(fac)
            await session.flush()
            need = Need(facility_id=fac.id, commune_code=commune, category=category, description="Máy sấy lạnh",
                        est_cost_million=Decimal(cost) if cost else None, status=status,
                        own_contribution_million=Decimal(own) if own is not None else None, desired_month=month,
                        registrant_user_id=self.people[registrant].id if registrant else None,
                        filed_by_user_id=self.people[filed_by].id if filed_by else None,
                        created_at=now, updated_at=now)
            session.add(need)
            await session.flush()
            need.ref = f"NC-2026-{need.id:04d}"
            await session.commit()
            await session.refresh(need)
        self.clock.advance(minutes=1)
        return need


    async def add_question(self, *, who: str = "owner", text: str = "Máy sấy của tôi bị hỏng, ai sửa được?",
                           channel: str = "telegram", with_facility: bool = True) -> Question:
        """An open question from `who` (the owner gets a facility of Long Xuyên first, unless told not to)."""
        now = self.clock.now()
        async with self.app.session_maker() as session:
            uid = self.people[who].id
            if with_facility and who == "owner" and await repos.facility_of_owner(session, user_id=uid) is None:
                session.add(Facility(name="Cơ sở nước mắm Hưng Thịnh", owner_name="Nguyễn Thị Lan",
                                     phone="+84912345678", commune_code=LONG_XUYEN, sector="food", owner_user_id=uid,
                                     created_at=now, updated_at=now))
            question = Question(user_id=uid, channel=channel, text=text, status="open", created_at=now)
            session.add(question)
            await session.commit()
            await session.refresh(question)
        self.clock.advance(minutes=1)
        return question

    async def add_fair(self, *, capacity: int | None = None, signers: tuple[str, ...] = ("owner",),
                       answers: tuple[tuple[str, str], ...] = (("Nước mắm cá linh", "2"),), kind: str = "fair",
                       title: str = "Hội chợ CNNT Vĩnh Long 2026") -> Announcement:
        """A fair (or another `kind`: a competition) that went out, with two sign-up questions and a sign-up per
        name in `signers` (in that order, one minute apart; the owner gets a facility of Long Xuyên first),
        through the bot's own service."""
        now = self.clock.now()
        async with self.app.session_maker() as session:
            if "owner" in signers and await repos.facility_of_owner(session, user_id=self.people["owner"].id) is None:
                session.add(Facility(name="Cơ sở nước mắm Hưng Thịnh", owner_name="Nguyễn Thị Lan",
                                     phone="+84912345678", commune_code=LONG_XUYEN, sector="food",
                                     owner_user_id=self.people["owner"].id, created_at=now, updated_at=now))
            ann = await announcements.create(session, clock=self.clock, author=self.people["staff"], data={
                "kind": kind, "title": title, "body": "Gian hàng miễn phí.",
                "deadline_on": "2026-03-20", "questions": "Sản phẩm trưng bày?\nCần mấy gian hàng?"})
            ann.status, ann.capacity, ann.started_at = "sent", capacity, now
            session.add(ann)
            await session.commit()
        for index, who in enumerate(signers):
            words = answers[index % len(answers)]
            async with self.app.session_maker() as session:
                await announcements.answer(session, clock=self.clock, tz=self.app.tz, ann_id=ann.id or 0,
                                           user=self.people[who], status="signed_up",
                                           answers={"q1": words[0], "q2": words[1]}, translate=self.app.translate)
                await session.commit()
            self.clock.advance(minutes=1)
        return ann


async def _people(app: AppContext, clock: FakeClock) -> dict[str, User]:
    now = clock.now()
    rows = {
        "staff": User(channel="telegram", external_id="5001", full_name="Trần Văn Cán", username="canbo",
                      role="staff", created_at=now, updated_at=now),
        "revoked": User(channel="telegram", external_id="5002", full_name="Lê Thôi", username="thoi",
                        role="staff", created_at=now, updated_at=now),
        "collaborator": User(channel="zalo", external_id="z-77", full_name="Phạm Cộng Tác", role="collaborator",
                             commune_code=LONG_XUYEN, created_at=now, updated_at=now),
        "owner": User(channel="telegram", external_id="6001", full_name="Nguyễn Thị Lan", role="user",
                      created_at=now, updated_at=now),
    }
    async with app.session_maker() as session:
        for user in rows.values():
            session.add(user)
        await session.flush()
        for key in ("staff", "revoked"):
            await staff_auth.set_password(session, clock=clock, who=str(rows[key].id), password=PASSWORD,
                                          login=None, admin_ids=frozenset(), grant=False)
        await session.commit()
        for user in rows.values():
            await session.refresh(user)
    return rows


@pytest.fixture
async def console(engine: AsyncEngine, clock: FakeClock) -> AsyncIterator[Console]:
    app = create_context(make_settings(admin_ids=""), engine, clock=clock)
    web = create_app(app)
    people = await _people(app, clock)
    transport = httpx.ASGITransport(app=web, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as client:
        yield Console(app=app, client=client, clock=clock, people=people)


async def revoke(console: Console, who: str = "revoked") -> None:
    async with console.app.session_maker() as session:
        user = await session.get(User, console.people[who].id)
        user.role = "user"
        session.add(user)
        await session.commit()


async def sessions_of(console: Console, who: str) -> list[WebSession]:
    from sqlmodel import select

    async with console.app.session_maker() as session:
        return list((await session.exec(select(WebSession).where(WebSession.user_id == console.people[who].id))).all())


def later(clock: FakeClock, **kw: Any) -> None:
    clock.advance(seconds=timedelta(**kw).total_seconds())
