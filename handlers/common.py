"""Helpers shared by feature routers (not a router itself)."""

from __future__ import annotations

from aiogram.types import Message
from aiogram.types import User as TgUser
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import Role
from bot.errors import PermissionDenied
from bot.services import accounts
from bot.services.needs import Actor
from storage.models import User

CHANNEL = "telegram"


def ensure_staff(role: Role) -> None:
    """Staff-only commands give everyone else the same polite refusal."""
    if role is not Role.STAFF:
        raise PermissionDenied()


async def ensure_user(message: Message | None, *, app: AppContext, session: AsyncSession, user: User | None,
                      tg_user: TgUser, locale: str) -> User:
    if user is not None:
        return user
    # Nothing personal before consent: not the Telegram name, not the username (see accounts.first_contact).
    return await accounts.first_contact(session, clock=app.clock, channel=CHANNEL, external_id=str(tg_user.id),
                                        locale=locale)


def actor(user: User, role: Role) -> Actor:
    return Actor(user=user, role=role)


async def staff_actor(*, app: AppContext, session: AsyncSession, user: User | None, role: Role,
                      tg_user: TgUser, locale: str) -> Actor:
    """Refuse non-staff; an ADMIN_IDS member who never sent /start gets their row now."""
    ensure_staff(role)
    user = await ensure_user(None, app=app, session=session, user=user, tg_user=tg_user, locale=locale)
    return Actor(user=user, role=role)
