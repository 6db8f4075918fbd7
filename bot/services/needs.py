"""Needs: filing, listing, withdrawal, the staff review workflow, notifications and export."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.conversation.replies import Block, Bold, Reply
from bot.domain import (
    CATEGORY_LABELS,
    SECTOR_LABELS,
    STATUS_LABELS,
    STATUS_NEXT,
    TRANSITIONS,
    NeedCategory,
    NeedStatus,
    Role,
    shown,
)
from bot.errors import Conflict, DomainError, NotFound, PermissionDenied
from bot.i18n_marker import N_
from bot.services import exports, outbox
from bot.services.communes import CommuneDirectory
from bot.services.forms import Choice
from bot.services.forms.definitions import NEW_FACILITY
from bot.services.validation import ascii_int, fold, format_date, format_million, format_month, format_phone
from storage import repos
from storage.models import Facility, Need, NeedEvent, User

Translator = Callable[[str, str], str]  # (message id, locale) → text
MOVED_ON = N_("This need has already moved on, so that step is no longer possible. Please open it again.")


@dataclass(frozen=True)
class Actor:
    user: User
    role: Role


def need_ref(need: Need, tz: ZoneInfo) -> str:
    return f"NC-{need.created_at.astimezone(tz).year}-{need.id:04d}"


class FacilityLookup:
    """LookupProvider: the facilities of a collaborator's commune, plus “new facility”."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _new() -> Choice:
        return Choice(NEW_FACILITY, N_("➕ New facility"))

    async def search(self, query: str, context: Mapping[str, Any]) -> Sequence[Choice]:
        facilities = await repos.facilities_in_commune(self.session, commune_code=context["commune_code"])
        q = fold(query)
        return [Choice(str(f.id), f.name, translate=False) for f in facilities if q in fold(f.name)]

    async def get(self, value: str, context: Mapping[str, Any]) -> Choice | None:
        if value == NEW_FACILITY:
            return self._new()
        facility_id = ascii_int(value)
        facility = await repos.get_facility(self.session, facility_id=facility_id) if facility_id is not None else None
        if facility is None or facility.commune_code != context["commune_code"]:
            return None
        return Choice(str(facility.id), facility.name, translate=False)

    async def browse(self, context: Mapping[str, Any]) -> Sequence[Choice]:
        facilities = await repos.facilities_in_commune(self.session, commune_code=context["commune_code"])
        return [self._new(), *(Choice(str(f.id), f.name, translate=False) for f in facilities)]


async def file_need(
    session: AsyncSession, *, clock: Clock, tz: ZoneInfo, actor: Actor, data: Mapping[str, Any]
) -> Need:
    """Store a need from the need form (own facility) or the on-behalf form (collaborator)."""
    now = clock.now()
    filed_by: int | None = None
    if "facility" in data:
        if actor.role is not Role.COLLABORATOR or actor.user.commune_code is None:
            raise PermissionDenied(N_("Only collaborators can file needs on behalf of a facility."))
        filed_by = actor.user.id
        if data["facility"] == NEW_FACILITY:
            facility = await repos.add(session, obj=Facility(
                name=data["new_name"], owner_name=data["new_owner"], phone=data.get("new_phone"),
                commune_code=actor.user.commune_code, sector=data["new_sector"],
                created_by_user_id=actor.user.id, created_at=now, updated_at=now,
            ))
        else:
            facility = await repos.get_facility(session, facility_id=int(data["facility"]))
            if facility is None or facility.commune_code != actor.user.commune_code:
                raise NotFound()
    else:
        facility = await repos.facility_of_owner(session, user_id=actor.user.id or 0)
        if facility is None:
            raise DomainError(N_("Please register your facility first with /start."))
    attachment = data.get("attachment") or {}
    need = Need(
        facility_id=facility.id,
        commune_code=facility.commune_code,
        category=data["category"],
        description=data["description"],
        machine=data.get("machine"),
        est_cost_million=Decimal(data["est_cost"]) if data.get("est_cost") else None,
        own_contribution_million=(Decimal(data["own_contribution"]) if data.get("own_contribution") is not None
                                  else None),
        desired_month=date.fromisoformat(data["desired_month"]) if data.get("desired_month") else None,
        attachment_file_id=attachment.get("file_id"),
        attachment_kind=attachment.get("kind"),
        attachment_name=attachment.get("name"),
        status=NeedStatus.RECEIVED,
        registrant_user_id=facility.owner_user_id,
        filed_by_user_id=filed_by,
        created_at=now,
        updated_at=now,
    )
    await repos.add(session, obj=need)
    need.ref = need_ref(need, tz)
    session.add(NeedEvent(need_id=need.id or 0, from_status=None, to_status=NeedStatus.RECEIVED,
                          actor_user_id=actor.user.id, created_at=now))
    await session.flush()
    return need


async def my_needs(session: AsyncSession, *, user: User) -> list[tuple[Need, Facility | None]]:
    needs = await repos.needs_of_user(session, user_id=user.id or 0)
    out = []
    for need in needs:
        facility = await repos.get_facility(session, facility_id=need.facility_id) if need.facility_id else None
        out.append((need, facility))
    return out


async def withdraw(session: AsyncSession, *, clock: Clock, user: User, need_id: int) -> Need:
    """The registrant (or filing collaborator) withdraws a need that is still only received."""
    need = await repos.get_need(session, need_id=need_id)
    if need is None or user.id not in (need.registrant_user_id, need.filed_by_user_id):
        raise NotFound()
    if need.status != NeedStatus.RECEIVED:
        raise Conflict(N_("Only a need that is still “Received” can be withdrawn. This one is already being handled."))
    await _move(session, clock=clock, need=need, to=NeedStatus.WITHDRAWN, actor=user, note=None)
    await _project_follows(session, clock=clock, actor=user, need=need, before=NeedStatus.RECEIVED, reason=None)
    return need


async def _project_follows(session: AsyncSession, *, clock: Clock, actor: User, need: Need, before: str,
                           reason: str | None) -> None:
    """A need of a project that stops (or starts again) counting there is noted in the project's log."""
    from bot.services import projects  # projects imports the console services, which import this module

    await projects.note_status_change(session, clock=clock, actor=actor, need=need, before=before, reason=reason)


async def _move(session: AsyncSession, *, clock: Clock, need: Need, to: NeedStatus, actor: User,
                note: str | None) -> None:
    """Compare-and-set the status so two staff pressing at once cannot both move it."""
    now = clock.now()
    before = need.status  # the UPDATE below also refreshes the object in the session
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to == NeedStatus.DECLINED:
        values["decline_reason"] = note
    result = await session.exec(
        update(Need).where(col(Need.id) == need.id, col(Need.status) == before).values(**values)  # type: ignore[call-overload]
    )
    if not result.rowcount:
        raise Conflict()
    session.add(NeedEvent(need_id=need.id or 0, from_status=before, to_status=to,
                          actor_user_id=actor.id, note=note, created_at=now))
    await session.refresh(need)


def has_recipient(need: Need) -> bool:
    """Someone to tell about this need: False once the registrant (and any filing collaborator) used /forget."""
    return bool(need.registrant_user_id or need.filed_by_user_id)


def require_staff(actor: Actor) -> None:
    if actor.role is not Role.STAFF:
        raise PermissionDenied()


async def get_for_staff(session: AsyncSession, *, actor: Actor, need_id: int) -> tuple[Need, Facility | None]:
    require_staff(actor)
    need = await repos.get_need(session, need_id=need_id)
    if need is None:
        raise NotFound()
    facility = await repos.get_facility(session, facility_id=need.facility_id) if need.facility_id else None
    return need, facility


async def change_status(
    session: AsyncSession, *, clock: Clock, actor: Actor, need_id: int, to: NeedStatus,
    reason: str | None = None, translate: Translator, contact: tuple[str, str] = ("", ""),
) -> Need:
    """Staff move a need along the workflow; the registrant and filing collaborator are told (with the centre's
    phone and address, `contact`)."""
    need, _ = await get_for_staff(session, actor=actor, need_id=need_id)
    if to not in TRANSITIONS[NeedStatus(need.status)]:
        raise Conflict(MOVED_ON)
    if to == NeedStatus.DECLINED and not reason:
        raise DomainError(N_("A reason is required to decline a need."))
    before = need.status
    await _move(session, clock=clock, need=need, to=to, actor=actor.user, note=reason)
    await _project_follows(session, clock=clock, actor=actor.user, need=need, before=before, reason=reason)
    await _notify_status(session, clock=clock, need=need, actor=actor.user, translate=translate, contact=contact)
    return need


REOPENABLE = (NeedStatus.DECLINED,)


async def reopen(session: AsyncSession, *, clock: Clock, actor: Actor, need_id: int, reason: str,
                 translate: Translator, contact: tuple[str, str] = ("", "")) -> Need:
    """Staff take a declined need back to “Received” (with a reason); the registrant is told."""
    need, _ = await get_for_staff(session, actor=actor, need_id=need_id)
    if need.status not in REOPENABLE:
        raise Conflict(N_("Only a declined need can be reopened."))
    if not reason.strip():
        raise DomainError(N_("A reason is required to reopen a need."))
    await _move(session, clock=clock, need=need, to=NeedStatus.RECEIVED, actor=actor.user, note=reason.strip())
    need.decline_reason = None
    session.add(need)
    await _notify_status(session, clock=clock, need=need, actor=actor.user, translate=translate, contact=contact)
    return need


async def _notify_status(session: AsyncSession, *, clock: Clock, need: Need, actor: User,
                         translate: Translator, contact: tuple[str, str]) -> None:
    recipients = {uid for uid in (need.registrant_user_id, need.filed_by_user_id) if uid and uid != actor.id}
    # A reopened need can reach a status a second time: that notification needs its own key.
    await session.flush()  # the event just added is counted
    times = sum(1 for e in await repos.need_events(session, need_id=need.id or 0) if e.to_status == need.status)
    again = f":{times}" if times > 1 else ""
    facility = await repos.get_facility(session, facility_id=need.facility_id) if need.facility_id else None
    for uid in sorted(recipients):
        user = await repos.get_user_by_id(session, user_id=uid)
        if user is None:
            continue
        filed_for_another = uid == need.filed_by_user_id and uid != need.registrant_user_id
        reply = status_reply(need, facility if filed_for_another else None, user.locale, translate, contact)
        await outbox.enqueue(session, clock=clock, user=user, kind="need_status", reply=reply,
                             dedupe_key=f"need:{need.id}:{need.status}{again}:{uid}")


def status_reply(need: Need, facility: Facility | None, loc: str, translate: Translator,
                 contact: tuple[str, str]) -> Reply:
    """What the new status means for the owner and what happens next; a collaborator who filed it is told
    which facility it is for; the reason of a decline as it was typed; the centre's phone and address."""
    category = translate(CATEGORY_LABELS[NeedCategory(need.category)], loc)
    status = translate(STATUS_LABELS[NeedStatus(need.status)], loc)
    if facility is not None:
        head = translate(N_("The need {ref} ({category}) you filed for {facility} is now: {status}."), loc).format(
            ref=need.ref, category=category, facility=facility.name, status=status)
    else:
        head = translate(N_("Your need {ref} ({category}) is now: {status}."), loc).format(
            ref=need.ref, category=category, status=status)
    blocks = [Block(Bold(head))]
    if need.status == NeedStatus.DECLINED and need.decline_reason:
        blocks.append(Block(translate(N_("Reason: {reason}"), loc).format(reason=need.decline_reason)))
    blocks.append(Block(translate(STATUS_NEXT[NeedStatus(need.status)], loc)))
    blocks += contact_blocks(contact, translate, loc)
    return Reply.of(*blocks)


def contact_blocks(contact: tuple[str, str], translate: Translator, loc: str) -> list[Block]:
    """The centre's phone and address (CENTRE_PHONE, CENTRE_ADDRESS) as the last block of a message to a
    person; none when neither is set."""
    phone, address = contact
    if not (phone or address):
        return []
    lines = [translate(N_("Phone: {phone}"), loc).format(phone=phone)] if phone else []
    lines += [translate(N_("Address: {address}"), loc).format(address=address)] if address else []
    return [Block(Bold(translate(N_("Khuyến công centre"), loc)), "\n", "\n".join(lines))]


# --- export ---

EXPORT_COLUMNS = (
    N_("Reference"), N_("Date received"), N_("Facility"), N_("Owner"), N_("Phone"), N_("Commune/ward"),
    N_("Sector"), N_("Kind of need"), N_("Description"), N_("Machine/equipment"),
    N_("Estimated cost (million đồng)"), N_("Own contribution (million đồng)"), N_("Desired time"), N_("Status"),
    N_("Decline reason"), N_("Filed by a collaborator"),
)


@dataclass(frozen=True)
class InboxFilter:
    """What the staff inbox (and its export) is narrowed to; empty values mean "all"."""

    status: str = ""
    category: str = ""
    commune: int = 0

    @property
    def narrowed(self) -> bool:
        return bool(self.status or self.category or self.commune)


def export_name(filters: InboxFilter, *, communes: CommuneDirectory, translate: Callable[[str], str],
                today: date) -> str:
    """A file name that says what is in it: nhu-cau_da-duyet_phuong-long-xuyen_2026-03-02.csv."""
    parts = [translate(N_("needs"))]
    if filters.status:
        parts.append(translate(STATUS_LABELS[NeedStatus(filters.status)]))
    if filters.category:
        parts.append(translate(CATEGORY_LABELS[NeedCategory(filters.category)]))
    if filters.commune:
        parts.append(communes.name(filters.commune))
    if not filters.narrowed:
        parts.append(translate(N_("all")))
    return exports.file_name(*parts, today.isoformat())


async def export_csv(session: AsyncSession, *, actor: Actor, communes: CommuneDirectory, tz: ZoneInfo,
                     translate: Callable[[str], str], filters: InboxFilter = InboxFilter()) -> bytes:
    """The needs the inbox shows with these filters (all by default) as CSV for Excel."""
    require_staff(actor)
    rows = []
    found = await repos.all_needs_with_facility(session, status=filters.status or None,
                                                category=filters.category or None,
                                                commune_code=filters.commune or None)
    for need, facility in found:
        rows.append([
            need.ref,
            format_date(need.created_at.astimezone(tz)),
            facility.name if facility else "",
            (facility.owner_name or "") if facility else "",
            exports.Phone(format_phone(facility.phone)) if facility else "",
            communes.name(need.commune_code),
            translate(SECTOR_LABELS.get(facility.sector, "")) if facility and facility.sector in SECTOR_LABELS else "",
            translate(CATEGORY_LABELS[NeedCategory(need.category)]),
            shown(need.description, translate),
            need.machine or "",
            format_million(need.est_cost_million),
            format_million(need.own_contribution_million),
            format_month(need.desired_month),
            translate(STATUS_LABELS[NeedStatus(need.status)]),
            need.decline_reason or "",
            translate(N_("yes")) if need.filed_by_user_id else "",
        ])
    return exports.csv_bytes([translate(h) for h in EXPORT_COLUMNS], rows)
