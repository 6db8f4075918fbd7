"""Collaborators and staff in the console: invitations (the Telegram link, the code typed on Zalo), who
covers which commune with their last periodic report, the communes nobody covers, and taking access away.
The chat's own services (`accounts`) do the work; every staff action here is written to the audit log."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.domain import Role
from bot.errors import DomainError, NotFound
from bot.i18n_marker import N_
from bot.services import accounts
from bot.services.accounts import Address, Translator
from bot.services.communes import Commune, CommuneDirectory
from bot.services.staff_auth import audit
from storage import console_repos, repos
from storage.models import Invite, User

NO_COMMUNE = N_("Choose the commune or ward the collaborator will work in.")


@dataclass(frozen=True)
class InviteLinks:
    """How an invitation reaches its person: the deep link opens the bot on Telegram with the code; on Zalo
    they open the bot's address and type the code."""

    code: str
    telegram: str | None
    zalo: str | None


def invite_links(code: str, *, bot_username: str | None, zalo_token: str | None) -> InviteLinks:
    bot_id = (zalo_token or "").partition(":")[0]
    return InviteLinks(code=code, telegram=f"https://t.me/{bot_username}?start={code}" if bot_username else None,
                       zalo=f"https://zalo.me/{bot_id}" if bot_id else None)


@dataclass(frozen=True)
class Collaborator:
    user: User
    channels: list[str]
    last_report: datetime | None


@dataclass
class CommuneRow:
    commune: Commune
    collaborators: list[Collaborator] = field(default_factory=list)


@dataclass(frozen=True)
class PeopleView:
    covered: list[CommuneRow]  # communes with at least one collaborator, in the directory's order
    uncovered: list[Commune]  # communes with none
    elsewhere: list[Collaborator]  # collaborators whose commune is not one of the province's units
    staff: list[tuple[User, bool]]  # staff members, and whether the settings (ADMIN_IDS) make them staff
    invites: list[Invite]  # pending, oldest first

    @property
    def collaborator_count(self) -> int:
        return sum(len(row.collaborators) for row in self.covered) + len(self.elsewhere)


async def overview(session: AsyncSession, *, clock: Clock, communes: CommuneDirectory, admin_ids: Collection[int],
                   staff: Collection[Address] = ()) -> PeopleView:
    people = await accounts.collaborators(session)
    ids = [p.id for p in people if p.id is not None]
    reports = await console_repos.last_reports(session, user_ids=ids)
    channels = await console_repos.channels_of(session, user_ids=ids)
    rows = {c.code: CommuneRow(c) for c in communes.all()}
    elsewhere: list[Collaborator] = []
    for person in sorted(people, key=lambda p: (p.full_name or "", p.id or 0)):
        entry = Collaborator(person, channels.get(person.id or 0) or [person.channel], reports.get(person.id or 0))
        row = rows.get(person.commune_code or 0)
        (row.collaborators if row is not None else elsewhere).append(entry)
    return PeopleView(
        covered=[row for row in rows.values() if row.collaborators],
        uncovered=[row.commune for row in rows.values() if not row.collaborators],
        elsewhere=elsewhere,
        staff=await accounts.staff_members(session, admin_ids=admin_ids, staff=staff),
        invites=await accounts.pending_invites(session, clock=clock),
    )


async def create_invite(session: AsyncSession, *, clock: Clock, actor: User, role: Role, commune_code: int | None,
                        communes: CommuneDirectory) -> Invite:
    """A one-time invitation (7 days) for a collaborator of a commune or a staff member, audited."""
    if role is Role.COLLABORATOR and communes.get(commune_code) is None:
        raise DomainError(NO_COMMUNE)
    if role not in (Role.COLLABORATOR, Role.STAFF):
        raise NotFound()
    code = commune_code if role is Role.COLLABORATOR else None
    invite = await accounts.create_invite(session, clock=clock, creator=actor, role=role, commune_code=code)
    await audit(session, clock=clock, actor=actor, action="invite", target_kind="invite",
                detail={"role": role.value, "commune": code})
    return invite


async def pending_invite(session: AsyncSession, *, clock: Clock, token: str) -> Invite | None:
    """The invitation behind this code while it can still be used (for its page and its printed card)."""
    invite = await repos.get_invite(session, token=token) if 0 < len(token) <= 64 else None
    if invite is None or invite.used_at is not None or invite.expires_at <= clock.now():
        return None
    return invite


async def pending_collaborator_invites(session: AsyncSession, *, clock: Clock,
                                       communes: CommuneDirectory) -> list[Invite]:
    """Pending collaborators' invitations in the communes' order (the printed cards, one per commune)."""
    order = {c.code: index for index, c in enumerate(communes.all())}
    invites = [i for i in await accounts.pending_invites(session, clock=clock) if i.role == Role.COLLABORATOR]
    return sorted(invites, key=lambda i: (order.get(i.commune_code or 0, len(order)), i.created_at))


async def cancel_invite(session: AsyncSession, *, clock: Clock, actor: User, token: str) -> Invite:
    invite = await accounts.cancel_invite(session, clock=clock, token=token)
    await audit(session, clock=clock, actor=actor, action="invite_cancel", target_kind="invite",
                detail={"role": invite.role, "commune": invite.commune_code})
    return invite


async def revoke(session: AsyncSession, *, clock: Clock, actor: User, user_id: int, admin_ids: Collection[int],
                 translate: Translator, staff: Collection[Address] = ()) -> tuple[User, Role]:
    """Take a collaborator's or a staff member's access away (they are told in the chat); a staff member's
    open console sessions end now."""
    person, role = await accounts.revoke_access(session, clock=clock, actor=actor, user_id=user_id,
                                                admin_ids=admin_ids, translate=translate, staff=staff)
    await console_repos.end_sessions_of(session, user_id=user_id, now=clock.now())
    await audit(session, clock=clock, actor=actor, action="revoke", target_kind="person", target_id=user_id,
                detail={"name": person.full_name or "", "role": role.value})
    return person, role
