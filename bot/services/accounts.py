"""People: first contact, roles, facility profiles, invites, and personal-data rights."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import SUPPORTED_LOCALES
from bot.domain import ERASED, Role
from bot.errors import InvalidInvite, NotFound
from bot.i18n_marker import N_
from storage import repos
from storage.models import (
    Announcement,
    Facility,
    Invite,
    Need,
    Reminder,
    ReportSchedule,
    ReportSubmission,
    Signup,
    User,
)

INVITE_TTL = timedelta(days=7)


def locale_from_language_code(language_code: str | None, default: str) -> str:
    """vi → vi, en → en (including en-US); anything else falls back to the configured default."""
    base = (language_code or "").split("-")[0].lower()
    return base if base in SUPPORTED_LOCALES else default


def effective_role(user: User | None, admin_ids: Collection[int], *, telegram_id: int | None = None) -> Role:
    """ADMIN_IDS are staff from the start (even before their first /start), whatever the table says."""
    if telegram_id is None and user is not None and user.channel == "telegram" and user.external_id.isdigit():
        telegram_id = int(user.external_id)
    if telegram_id is not None and telegram_id in admin_ids:
        return Role.STAFF
    return Role(user.role) if user is not None else Role.USER


async def first_contact(session: AsyncSession, *, clock: Clock, channel: str, external_id: str, locale: str) -> User:
    """The user row, created on first contact (/start), never on every message.

    Before consent it holds only what is needed to answer: the channel's id for the person and their
    language. Their name (and phone) arrive with the registration or invitation form, with consent;
    the channel's display name and username are never stored.
    """
    user = await repos.get_user(session, channel=channel, external_id=external_id)
    if user is not None:
        return user
    now = clock.now()
    user = User(channel=channel, external_id=external_id, locale=locale, created_at=now, updated_at=now)
    return await repos.add(session, obj=user)


async def set_locale(session: AsyncSession, *, clock: Clock, user: User, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise NotFound()
    user.locale = locale
    user.updated_at = clock.now()
    session.add(user)


async def save_facility(session: AsyncSession, *, clock: Clock, user: User, data: Mapping[str, Any]) -> Facility:
    """Create or update the facility the user owns from the registration form's answers."""
    now = clock.now()
    facility = await repos.facility_of_owner(session, user_id=user.id or 0)
    if facility is None:
        facility = Facility(name="", commune_code=0, sector="", owner_user_id=user.id, created_by_user_id=user.id,
                            created_at=now, updated_at=now)
    facility.name = data["facility_name"]
    facility.owner_name = data["owner_name"]
    facility.phone = data["phone"]
    facility.commune_code = int(data["commune"])
    facility.sector = data["sector"]
    facility.products = data["products"]
    facility.consent_at = facility.consent_at or now
    facility.updated_at = now
    user.full_name = data["owner_name"]
    user.phone = data["phone"]
    user.consent_at = user.consent_at or now
    user.updated_at = now
    session.add(user)
    return await repos.add(session, obj=facility)


def facility_form_data(facility: Facility, commune_name: str) -> dict[str, Any]:
    """A stored facility as answers of the registration form (to edit the profile)."""
    return {
        "facility_name": facility.name,
        "owner_name": facility.owner_name or "",
        "phone": facility.phone or "",
        "commune": str(facility.commune_code),
        "commune__label": commune_name,
        "sector": facility.sector,
        "products": facility.products or "",
        "consent": "yes",
    }


# --- invites ---


async def create_invite(
    session: AsyncSession, *, clock: Clock, creator: User, role: Role, commune_code: int | None
) -> Invite:
    now = clock.now()
    invite = Invite(
        token=secrets.token_urlsafe(24),  # 32 chars of A-Za-z0-9_-, 192 random bits
        role=role, commune_code=commune_code, created_by_user_id=creator.id,
        created_at=now, expires_at=now + INVITE_TTL,
    )
    return await repos.add(session, obj=invite)


async def check_invite(session: AsyncSession, *, clock: Clock, token: str) -> Invite:
    """The invite behind a deep link, or InvalidInvite saying why it cannot be used."""
    invite = await repos.get_invite(session, token=token) if _token_shape_ok(token) else None
    if invite is None:
        raise InvalidInvite(N_("This invitation link is not valid. Please ask the khuyến công centre for a new one."))
    if invite.used_at is not None:
        raise InvalidInvite(N_("This invitation link has already been used. Each link works only once — "
                               "please ask the centre for a new one."))
    if invite.expires_at <= clock.now():
        raise InvalidInvite(N_("This invitation link has expired (links are valid for 7 days). "
                               "Please ask the centre for a new one."))
    return invite


def _token_shape_ok(token: str) -> bool:
    return 0 < len(token) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in token)


async def accept_invite(
    session: AsyncSession, *, clock: Clock, user: User, token: str, data: Mapping[str, Any]
) -> Invite:
    """Grant the invite's role once the person confirmed name and phone; single use, race-safe."""
    invite = await check_invite(session, clock=clock, token=token)
    if not await repos.claim_invite(session, token=token, user_id=user.id or 0, now=clock.now()):
        raise InvalidInvite(N_("This invitation link has already been used. Each link works only once — "
                               "please ask the centre for a new one."))
    user.role = invite.role
    user.commune_code = invite.commune_code
    user.full_name = data["full_name"]
    user.phone = data["phone"]
    user.consent_at = user.consent_at or clock.now()
    user.updated_at = clock.now()
    session.add(user)
    await session.flush()
    return invite


async def collaborators(session: AsyncSession) -> list[User]:
    return list(await repos.list_users_by_role(session, role=Role.COLLABORATOR))


async def revoke_collaborator(session: AsyncSession, *, clock: Clock, user_id: int) -> User:
    user = await repos.get_user_by_id(session, user_id=user_id)
    if user is None or user.role != Role.COLLABORATOR:
        raise NotFound()
    user.role = Role.USER
    user.commune_code = None
    user.updated_at = clock.now()
    session.add(user)
    return user


# --- personal data (Decree 13/2023) ---


@dataclass
class PersonalData:
    """Everything stored about one person (/mydata)."""

    user: User
    facility: Facility | None
    needs: Sequence[Need]
    signups: Sequence[tuple[Signup, Announcement]]
    reminders: Sequence[tuple[Reminder, Announcement | None, ReportSchedule | None]]
    reports: Sequence[tuple[ReportSubmission, ReportSchedule]]


async def my_data(session: AsyncSession, *, user: User) -> PersonalData:
    uid = user.id or 0
    return PersonalData(
        user=user,
        facility=await repos.facility_of_owner(session, user_id=uid),
        needs=await repos.needs_of_user(session, user_id=uid, limit=1000),
        signups=await repos.signups_of_user(session, user_id=uid),
        reminders=await repos.pending_reminders_of_user(session, user_id=uid),
        reports=await repos.reports_of_user(session, user_id=uid),
    )


async def forget(session: AsyncSession, *, user: User) -> None:
    """Erase the person and what they wrote; keep anonymous records so that counts do not change.

    Kept, unlinked: their needs (category, status, dates, commune), sign-ups (signed up or not), report
    figures and sent messages (status only). Erased: name, phone, account, open form, pending reminders
    and messages, and free text that may describe them (their own needs' descriptions and attachments,
    sign-up answers, report notes), which becomes the ERASED marker.
    """
    user_id = user.id or 0
    await repos.anonymise_facilities_of(session, user_id=user_id)
    await repos.erase_need_texts_of(session, registrant_id=user_id, marker=ERASED)
    await repos.unlink_needs_of(session, user_id=user_id)
    await repos.erase_signups_of(session, user_id=user_id, marker=ERASED)
    await repos.erase_reports_of(session, user_id=user_id, marker=ERASED)
    await repos.anonymise_outbox_of(session, user_id=user_id)
    await repos.delete_conversation(session, user_id=user_id)
    await repos.delete_user(session, user_id=user_id)  # pending reminders go with it (ON DELETE CASCADE)
