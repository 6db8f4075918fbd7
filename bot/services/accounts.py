"""People: first contact, roles, facility profiles, invites, and personal-data rights."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import SUPPORTED_LOCALES
from bot.conversation.replies import Reply
from bot.domain import ERASED, Role
from bot.errors import DomainError, InvalidInvite, NotFound
from bot.i18n_marker import N_
from bot.services import outbox
from storage import repos
from storage.models import (
    Announcement,
    Facility,
    Identity,
    Invite,
    Need,
    Question,
    Reminder,
    ReportSchedule,
    ReportSubmission,
    Signup,
    User,
)

INVITE_TTL = timedelta(days=7)
# Invitation codes are typed by hand on any channel: 8 characters without 0/O, 1/I/L (~40 bits), single use.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
INVITE_NOT_VALID = N_("This invitation code or link is not valid. Please ask the khuyến công centre for a new one.")
INVITE_USED = N_("This invitation has already been used. Each invitation works only once — please ask the centre "
                 "for a new one.")
INVITE_EXPIRED = N_("This invitation has expired (invitations are valid for 7 days). Please ask the centre for a "
                    "new one.")
SEEN_RESOLUTION = timedelta(minutes=1)
Translator = Callable[[str, str], str]  # (message id, locale) → text


ROLE_LABELS = {Role.COLLABORATOR: N_("collaborator"), Role.STAFF: N_("staff member")}


def locale_from_language_code(language_code: str | None, default: str) -> str:
    """vi → vi, en → en (including en-US); anything else falls back to the configured default."""
    base = (language_code or "").split("-")[0].lower()
    return base if base in SUPPORTED_LOCALES else default


Address = tuple[str, str]  # (channel, external id) of one identity


def settings_staff(admin_ids: Collection[int], staff: Collection[Address] = ()) -> set[Address]:
    """The identities that are staff by the settings: ADMIN_IDS (Telegram) and any other channel's list."""
    return {("telegram", str(i)) for i in admin_ids} | set(staff)


def effective_role(user: User | None, admin_ids: Collection[int], *, telegram_id: int | None = None,
                   who: Address | None = None, staff: Collection[Address] = ()) -> Role:
    """Staff by the settings (ADMIN_IDS, ZALO_ADMIN_IDS: `staff`) are staff from the start, even before their
    first /start, whatever the table says: the identity writing (`who`) or the one the person is notified at."""
    addresses = {who} if who is not None else set()
    if telegram_id is not None:
        addresses.add(("telegram", str(telegram_id)))
    if user is not None:
        addresses.add((user.channel, user.external_id))
    if addresses & settings_staff(admin_ids, staff):
        return Role.STAFF
    return Role(user.role) if user is not None else Role.USER


async def current_role(session: AsyncSession, *, user: User, admin_ids: Collection[int],
                       staff: Collection[Address] = ()) -> Role:
    """The person's role as it is now, in this transaction (their row locked): what completes a form
    or acts on their behalf re-checks it, so a revocation takes effect at once. Staff by the settings
    are staff from any of their channels."""
    await repos.lock_user(session, user=user)
    addresses = {(i.channel, i.external_id) for i in await repos.identities_of(session, user_id=user.id or 0)}
    if addresses & settings_staff(admin_ids, staff):
        return Role.STAFF
    return effective_role(user, admin_ids)


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


async def bootstrap_staff(session: AsyncSession, *, clock: Clock, staff: Collection[Address], who: Address,
                          locale: str) -> User | None:
    """Staff from the settings (ADMIN_IDS, ZALO_ADMIN_IDS) get their person and identity in the database at
    their first contact, in the language their channel reports (so they can be listed and link channels).
    Their role stays the settings': removing an id there removes the access, so the row keeps role "user"."""
    if who not in staff:
        return None
    return await first_contact(session, clock=clock, channel=who[0], external_id=who[1], locale=locale)


async def seen(session: AsyncSession, *, clock: Clock, user: User, identity: Identity, notify: str) -> None:
    """The person wrote from `identity`: remember when, and (NOTIFY_IDENTITY=last) notify them there from now.
    The time is written at most once a minute, so a conversation costs no write per message."""
    now = clock.now()
    if identity.last_seen_at is None or now - identity.last_seen_at >= SEEN_RESOLUTION:
        identity.last_seen_at = now
        session.add(identity)
    if notify == "last" and (user.channel, user.external_id) != (identity.channel, identity.external_id):
        user.channel, user.external_id, user.updated_at = identity.channel, identity.external_id, now
        session.add(user)


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
    """A stored facility as answers of the profile form (the registration's questions but the consent)."""
    return {
        "facility_name": facility.name,
        "owner_name": facility.owner_name or "",
        "phone": facility.phone or "",
        "commune": str(facility.commune_code),
        "commune__label": commune_name,
        "sector": facility.sector,
        "products": facility.products or "",
    }


# --- invites ---


async def create_invite(
    session: AsyncSession, *, clock: Clock, creator: User, role: Role, commune_code: int | None
) -> Invite:
    now = clock.now()
    code = new_invite_code()
    while await repos.get_invite(session, token=code) is not None:  # a collision: ~1 in 10^12 per code
        code = new_invite_code()
    invite = Invite(
        token=code,  # the code is the token: the deep link carries it and people can type it
        role=role, commune_code=commune_code, created_by_user_id=creator.id,
        created_at=now, expires_at=now + INVITE_TTL,
    )
    return await repos.add(session, obj=invite)


def new_invite_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def invite_code(typed: str) -> str | None:
    """A typed invitation code in its stored form (any case; spaces and dashes ignored), or None."""
    code = "".join(ch for ch in typed if ch not in " -\t").upper()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


async def check_invite(session: AsyncSession, *, clock: Clock, token: str) -> Invite:
    """The invite behind a deep link or a typed code, or InvalidInvite saying why it cannot be used."""
    invite = await repos.get_invite(session, token=token) if _token_shape_ok(token) else None
    if invite is None and (code := invite_code(token)) is not None:
        invite = await repos.get_invite(session, token=code)
    if invite is None:
        raise InvalidInvite(INVITE_NOT_VALID)
    if invite.used_at is not None:
        raise InvalidInvite(INVITE_USED)
    if invite.expires_at <= clock.now():
        raise InvalidInvite(INVITE_EXPIRED)
    return invite


def _token_shape_ok(token: str) -> bool:
    return 0 < len(token) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in token)


async def accept_invite(
    session: AsyncSession, *, clock: Clock, user: User, token: str, data: Mapping[str, Any]
) -> Invite:
    """Grant the invite's role once the person confirmed name and phone; single use, race-safe."""
    invite = await check_invite(session, clock=clock, token=token)
    if not await repos.claim_invite(session, token=token, user_id=user.id or 0, now=clock.now()):
        raise InvalidInvite(INVITE_USED)
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


async def staff_members(session: AsyncSession, *, admin_ids: Collection[int],
                        staff: Collection[Address] = ()) -> list[tuple[User, bool]]:
    """Everyone with staff access who has a row, and whether it comes from the settings (ADMIN_IDS, …)."""
    by_invite = await repos.list_users_by_role(session, role=Role.STAFF)
    by_channel: dict[str, list[str]] = {}
    for channel, external_id in sorted(settings_staff(admin_ids, staff)):
        by_channel.setdefault(channel, []).append(external_id)
    from_settings = [u for channel, ids in by_channel.items()
                     for u in await repos.users_by_external_ids(session, channel=channel, external_ids=ids)]
    people = {u.id: (u, True) for u in from_settings}
    for person in by_invite:
        people.setdefault(person.id, (person, False))
    return sorted(people.values(), key=lambda p: (p[0].full_name or "", p[0].id or 0))


async def revoke_access(session: AsyncSession, *, clock: Clock, actor: User | None, user_id: int,
                        admin_ids: Collection[int], translate: Translator,
                        staff: Collection[Address] = ()) -> tuple[User, Role]:
    """Take a collaborator's or an invited staff member's access away: their open form is closed at once
    and they are told. Staff from ADMIN_IDS can only be removed in the settings."""
    user = await repos.get_user_by_id(session, user_id=user_id)
    if user is None:
        raise NotFound()
    await repos.lock_user(session, user=user)
    addresses = {(i.channel, i.external_id) for i in await repos.identities_of(session, user_id=user.id or 0)}
    role = Role.STAFF if addresses & settings_staff(admin_ids, staff) else effective_role(user, admin_ids)
    if role is Role.USER:
        raise NotFound()
    if actor is not None and user.id == actor.id:
        raise DomainError(N_("You cannot revoke your own access. Ask another staff member."))
    if Role(user.role) is not role:
        raise DomainError(N_("{name} is staff through the ADMIN_IDS setting. To revoke it, remove their id from "
                             "ADMIN_IDS and restart the bot."), name=user.full_name or user.external_id)
    user.role = Role.USER
    user.commune_code = None
    user.updated_at = clock.now()
    session.add(user)
    await repos.delete_conversation(session, user_id=user.id or 0)
    text = translate(N_("Your access as {role} of the khuyến công centre has been withdrawn. Any form you had "
                        "open was closed and nothing from it was saved."), user.locale).format(
        role=translate(ROLE_LABELS[role], user.locale))
    await outbox.enqueue(session, clock=clock, user=user, kind="access_revoked", reply=Reply.of(text))
    return user, role


async def pending_invites(session: AsyncSession, *, clock: Clock) -> list[Invite]:
    return list(await repos.pending_invites(session, now=clock.now()))


async def cancel_invite(session: AsyncSession, *, clock: Clock, token: str) -> Invite:
    """Withdraw an invitation nobody has used yet: its link is refused from now on."""
    invite = await repos.get_invite(session, token=token) if _token_shape_ok(token) else None
    if invite is None or invite.used_at is not None or invite.expires_at <= clock.now():
        raise NotFound(N_("This invitation has already been used, has expired or was cancelled. Nothing was "
                          "changed."))
    await repos.delete_invite(session, token=token)
    return invite


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
    # The person's channel accounts (Telegram, Zalo…), oldest first.
    identities: Sequence[Identity] = ()
    # Questions they sent to the centre from the bot, with the answers.
    questions: Sequence[Question] = ()


async def my_data(session: AsyncSession, *, user: User) -> PersonalData:
    uid = user.id or 0
    return PersonalData(
        identities=await repos.identities_of(session, user_id=uid),
        user=user,
        facility=await repos.facility_of_owner(session, user_id=uid),
        needs=await repos.needs_of_user(session, user_id=uid, limit=1000),
        signups=await repos.signups_of_user(session, user_id=uid),
        reminders=await repos.pending_reminders_of_user(session, user_id=uid),
        reports=await repos.reports_of_user(session, user_id=uid),
        questions=await repos.questions_of_user(session, user_id=uid),
    )


async def forget(session: AsyncSession, *, user: User) -> None:
    """Erase the person and what they wrote; keep anonymous records so that counts do not change.

    Kept, unlinked: their needs (category, status, dates, commune), sign-ups (signed up or not), report
    figures and sent messages (status only). Erased: name, phone, account and every channel identity, open
    form, pending reminders and messages, and free text that may describe them (their own needs'
    descriptions and attachments, sign-up answers, report notes, questions to the centre and their answers),
    which becomes the ERASED marker; a question still open is closed.
    """
    user_id = user.id or 0
    addresses = [(i.channel, i.external_id) for i in await repos.identities_of(session, user_id=user_id)]
    await repos.anonymise_facilities_of(session, user_id=user_id)
    await repos.erase_need_texts_of(session, registrant_id=user_id, marker=ERASED)
    await repos.unlink_needs_of(session, user_id=user_id)
    await repos.erase_signups_of(session, user_id=user_id, marker=ERASED)
    await repos.erase_reports_of(session, user_id=user_id, marker=ERASED)
    await repos.erase_questions_of(session, user_id=user_id, marker=ERASED)
    await repos.anonymise_outbox_of(session, user_id=user_id)
    await repos.delete_conversation(session, user_id=user_id)
    await repos.delete_pending_menus_of(session, identities=addresses)
    await repos.delete_link_attempts(session, identities=addresses)
    # Every identity, pending reminders and link codes go with the person (ON DELETE CASCADE).
    await repos.delete_user(session, user_id=user_id)
