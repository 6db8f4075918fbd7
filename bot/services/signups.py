"""Sign-ups to fairs and competitions as staff manage them: places and the waiting list, participant status,
the console's table and its exports (XLSX, CSV).

Places are computed, never stored: the standing sign-ups that are not "not accepted", in the order they
became sign-ups (`signed_up_at`, then id); the first `capacity` hold a place, the rest wait in that order.
A cancellation, a "not accepted" or a larger capacity frees places: whoever moves from the waiting list to a
place is told through the outbox, in their language, in the same transaction. Nobody ever loses a place: the
capacity cannot go below the places taken, "not accepted" is final and a new sign-up joins the end.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.conversation.replies import Block, Bold, Reply
from bot.domain import (
    CERTIFIABLE_STATUSES,
    PARTICIPANT_STATUS_LABELS,
    PARTICIPANT_STATUS_NEXT,
    PARTICIPANT_TRANSITIONS,
    SIGNUP_KINDS,
    AnnouncementKind,
    ParticipantStatus,
    shown,
)
from bot.errors import Conflict, DomainError, NotFound
from bot.i18n_marker import N_
from bot.services import exports, outbox
from bot.services.communes import CommuneDirectory
from bot.services.needs import Actor, Translator, contact_blocks, require_staff
from bot.services.staff_auth import audit
from bot.services.validation import ascii_int, format_phone
from storage import console_repos, repos, signup_repos
from storage.models import Announcement, AuditEntry, CertifiedProduct, Facility, Signup, User

Gettext = Callable[[str], str]
WAITING = "waiting"  # the table's filter for the waiting list (not a status)
FILTERS = (*(s.value for s in ParticipantStatus), WAITING)
MAX_CAPACITY = 100_000
REASON_MAX = 500
MOVED_ON = N_("This sign-up has already moved on, so that step is no longer possible. Please open the page again.")


# --- places and the waiting list ---


@dataclass(frozen=True)
class Places:
    """Who holds a place and who waits (sign-up ids, in order); `capacity` None means no limit."""

    capacity: int | None
    holders: tuple[int, ...]
    waiting: tuple[int, ...]

    def position(self, signup_id: int | None) -> int | None:
        """The place on the waiting list (1 = next to move up); None for anyone not waiting."""
        return self.waiting.index(signup_id) + 1 if signup_id in self.waiting else None


def places_of(capacity: int | None, signups: Sequence[Signup]) -> Places:
    """`signups`: the standing sign-ups in the order of places (see `signup_repos.signed_up`)."""
    ids = tuple(s.id or 0 for s in signups if s.participant_status != ParticipantStatus.REJECTED)
    if capacity is None:
        return Places(capacity=None, holders=ids, waiting=())
    return Places(capacity=capacity, holders=ids[:capacity], waiting=ids[capacity:])


async def places(session: AsyncSession, *, ann: Announcement) -> Places:
    return places_of(ann.capacity, await signup_repos.signed_up(session, ann_id=ann.id or 0))


async def lock(session: AsyncSession, *, ann_id: int) -> Announcement:
    """The announcement, locked while its places move (PostgreSQL); NotFound when there is none."""
    ann = await signup_repos.lock_announcement(session, ann_id=ann_id)
    if ann is None:
        raise NotFound()
    return ann


def mark_signed_up(signup: Signup, now: datetime) -> None:
    """A sign-up that (again) becomes one: it joins the end of the line as "registered"."""
    signup.signed_up_at = now
    signup.participant_status = ParticipantStatus.REGISTERED
    signup.participant_changed_at = None
    signup.participant_changed_by_user_id = None
    signup.participant_reason = None


async def promote(session: AsyncSession, *, clock: Clock, ann: Announcement, before: Places,
                  translate: Translator) -> list[Signup]:
    """After a change: everyone who moved from the waiting list to a place is told so (outbox)."""
    await session.flush()
    after = await places(session, ann=ann)
    moved = [sid for sid in after.holders if sid in before.waiting]
    out = []
    for signup_id in moved:
        signup = await signup_repos.get_signup(session, signup_id=signup_id)
        user = await repos.get_user_by_id(session, user_id=signup.user_id) if signup and signup.user_id else None
        if signup is None or user is None:
            continue
        stamp = (signup.signed_up_at or signup.created_at).isoformat()
        await outbox.enqueue(session, clock=clock, user=user, kind="signup_place",
                             reply=place_reply(ann, user.locale, translate),
                             dedupe_key=f"signup:{signup.id}:place:{stamp}")
        out.append(signup)
    return out


def place_reply(ann: Announcement, loc: str, translate: Translator) -> Reply:
    return Reply.of(
        Block(Bold(translate(N_("🎉 A place has freed up: you now have a place at “{title}”."), loc).format(
            title=ann.title))),
        Block(translate(N_("You are no longer on the waiting list. The centre will contact you."), loc)))


# --- staff: participant status and capacity ---


async def _standing(session: AsyncSession, *, ann_id: int, signup_id: int) -> Signup:
    signup = await signup_repos.get_signup(session, signup_id=signup_id)
    if signup is None or signup.announcement_id != ann_id or signup.status != signup_repos.SIGNED_UP:
        raise NotFound()
    return signup


async def change_status(session: AsyncSession, *, clock: Clock, actor: Actor, ann_id: int, signup_id: int,
                        to: str, reason: str = "", translate: Translator,
                        contact: tuple[str, str] = ("", "")) -> Signup:
    """Staff move a sign-up along registered → dossier received → accepted / not accepted (with an optional
    reason); the person is told in their language, a freed place goes to the first waiting, and it is audited."""
    require_staff(actor)
    ann = await lock(session, ann_id=ann_id)
    signup = await _standing(session, ann_id=ann_id, signup_id=signup_id)
    try:
        target = ParticipantStatus(to)
    except ValueError:
        raise DomainError() from None
    before_status = ParticipantStatus(signup.participant_status)
    if target not in PARTICIPANT_TRANSITIONS[before_status]:
        raise Conflict(MOVED_ON)
    before = await places(session, ann=ann)
    if target is ParticipantStatus.ACCEPTED and signup.id in before.waiting:
        raise DomainError(N_("This person is on the waiting list: they can be accepted once they have a place "
                             "(when a place frees up, or with a larger capacity)."))
    now = clock.now()
    signup.participant_status = target
    signup.participant_changed_at, signup.participant_changed_by_user_id = now, actor.user.id
    signup.participant_reason = reason.strip()[:REASON_MAX] or None
    signup.updated_at = now
    session.add(signup)
    await _notify_status(session, clock=clock, ann=ann, signup=signup, translate=translate, contact=contact)
    await promote(session, clock=clock, ann=ann, before=before, translate=translate)
    await audit(session, clock=clock, actor=actor.user, action="signup_status", target_kind="announcement",
                target_id=ann_id, detail={"signup": signup.id, "from": before_status.value, "to": target.value,
                                          "reason": signup.participant_reason or ""})
    return signup


async def _notify_status(session: AsyncSession, *, clock: Clock, ann: Announcement, signup: Signup,
                         translate: Translator, contact: tuple[str, str]) -> None:
    user = await repos.get_user_by_id(session, user_id=signup.user_id) if signup.user_id else None
    if user is None:
        return  # the person erased their data: nobody to tell
    stamp = (signup.signed_up_at or signup.created_at).isoformat()
    await outbox.enqueue(session, clock=clock, user=user, kind="signup_status",
                         reply=status_reply(ann, signup, user.locale, translate, contact),
                         dedupe_key=f"signup:{signup.id}:{signup.participant_status}:{stamp}")


def status_reply(ann: Announcement, signup: Signup, loc: str, translate: Translator,
                 contact: tuple[str, str]) -> Reply:
    """The new status of the person's sign-up, the reason as staff typed it, what comes next, the centre."""
    status = ParticipantStatus(signup.participant_status)
    head = translate(N_("Your sign-up for “{title}” is now: {status}."), loc).format(
        title=ann.title, status=translate(PARTICIPANT_STATUS_LABELS[status], loc))
    blocks = [Block(Bold(head))]
    if signup.participant_reason:
        blocks.append(Block(translate(N_("Reason: {reason}"), loc).format(reason=signup.participant_reason)))
    blocks.append(Block(translate(PARTICIPANT_STATUS_NEXT[status], loc)))
    return Reply.of(*blocks, *contact_blocks(contact, translate, loc))


def parse_capacity(raw: str) -> int | None:
    """What staff typed as the capacity: empty for no limit, else a whole number of places from 1."""
    text = raw.strip().replace(".", "").replace(",", "").replace(" ", "")
    if not text:
        return None
    value = ascii_int(text)
    if value is None or not 1 <= value <= MAX_CAPACITY:
        raise DomainError(N_("The capacity is a whole number of places from 1 to {n}, typed with the digits 0–9 "
                             "(leave it empty for no limit)."), n=MAX_CAPACITY)
    return value


async def set_capacity(session: AsyncSession, *, clock: Clock, actor: Actor, ann_id: int, raw: str,
                       translate: Translator) -> Announcement:
    """Staff set how many places there are; more places move the first waiting up (and tell them)."""
    require_staff(actor)
    ann = await lock(session, ann_id=ann_id)
    if ann.kind not in SIGNUP_KINDS:
        raise DomainError(N_("Only fairs and competitions take sign-ups."))
    capacity = parse_capacity(raw)
    before = await places(session, ann=ann)
    if capacity is not None and capacity < len(before.holders):
        raise DomainError(N_("{n} people already have a place: the capacity cannot be lower than that."),
                          n=len(before.holders))
    old = ann.capacity
    ann.capacity = capacity
    ann.updated_at = clock.now()
    session.add(ann)
    await promote(session, clock=clock, ann=ann, before=before, translate=translate)
    await audit(session, clock=clock, actor=actor.user, action="capacity", target_kind="announcement",
                target_id=ann_id, detail={"from": old, "to": capacity})
    return ann


# --- the console's table ---


@dataclass(frozen=True)
class SignupRow:
    signup: Signup
    user: User | None
    facility: Facility | None
    position: int | None  # on the waiting list
    next_steps: tuple[ParticipantStatus, ...]

    @property
    def phone(self) -> str:
        raw = (self.user.phone if self.user else None) or (self.facility.phone if self.facility else None)
        return format_phone(raw) if raw else ""


@dataclass
class SignupsView:
    ann: Announcement
    rows: list[SignupRow]  # those the filter shows
    places: Places
    counts: dict[str, int]  # per filter (FILTERS), and "" for all
    status_filter: str
    audit: Sequence[AuditEntry]
    people: dict[int, User]
    # A competition's certified products, per sign-up id (empty for a fair).
    products: dict[int, list[CertifiedProduct]] = field(default_factory=dict)

    @property
    def competition(self) -> bool:
        return self.ann.kind == AnnouncementKind.COMPETITION

    @staticmethod
    def certifiable(row: SignupRow) -> bool:
        return row.signup.participant_status in CERTIFIABLE_STATUSES


async def signups_view(session: AsyncSession, *, actor: Actor, ann_id: int, status_filter: str = "") -> SignupsView:
    require_staff(actor)
    ann = await session.get(Announcement, ann_id)
    if ann is None:
        raise NotFound()
    found = await signup_repos.signed_up_with_people(session, ann_id=ann_id)
    seats = places_of(ann.capacity, [s for s, _u, _f in found])
    rows = [SignupRow(signup=s, user=u, facility=f, position=seats.position(s.id),
                      next_steps=PARTICIPANT_TRANSITIONS[ParticipantStatus(s.participant_status)])
            for s, u, f in found]
    counts = {key: sum(1 for r in rows if _shows(r, key)) for key in ("", *FILTERS)}
    status_filter = status_filter if status_filter in FILTERS else ""
    entries, _ = await console_repos.audit_entries(session, target_kind="announcement", target_id=ann_id)
    products: dict[int, list[CertifiedProduct]] = {}
    if ann.kind == AnnouncementKind.COMPETITION:
        for product in await signup_repos.products_of_announcement(session, ann_id=ann_id):
            products.setdefault(product.signup_id, []).append(product)
    ids = [i for i in (*(e.actor_user_id for e in entries), *(s.participant_changed_by_user_id for s, _u, _f in found),
                       *(p.recorded_by_user_id for ps in products.values() for p in ps)) if i]
    return SignupsView(ann=ann, rows=[r for r in rows if _shows(r, status_filter)], places=seats, counts=counts,
                       status_filter=status_filter, audit=entries,
                       people=await console_repos.users_by_ids(session, ids=ids), products=products)


def _shows(row: SignupRow, key: str) -> bool:
    if key == WAITING:
        return row.position is not None
    return not key or row.signup.participant_status == key


# --- exports ---

FIXED_COLUMNS = (N_("No."), N_("Signed up on"), N_("Name"), N_("Phone"), N_("Facility"), N_("Commune/ward"),
                 N_("Participant status"), N_("Waiting list position"), N_("Reason"))
FIXED_WIDTHS = (6, 13, 24, 15, 30, 24, 18, 12, 30)
QUESTION_WIDTH = 32
DATE_COLUMN, PHONE_COLUMN = 1, 3


def export_header(ann: Announcement, gettext: Gettext) -> list[str]:
    """Vietnamese (the reader's language) headers, then each question as staff wrote it."""
    return [gettext(h) for h in FIXED_COLUMNS] + list(ann.questions)


def export_row(number: int, row: SignupRow, *, ann: Announcement, communes: CommuneDirectory, tz: ZoneInfo,
               gettext: Gettext) -> list[Any]:
    s, user, facility = row.signup, row.user, row.facility
    return [
        number,
        (s.signed_up_at or s.created_at).astimezone(tz).date(),
        (user.full_name or "") if user else "",
        exports.Phone(row.phone) if row.phone else "",
        facility.name if facility else "",
        communes.name(facility.commune_code if facility else (user.commune_code if user else None)),
        gettext(PARTICIPANT_STATUS_LABELS[ParticipantStatus(s.participant_status)]),
        row.position,
        s.participant_reason or "",
        *[shown(s.answers.get(f"q{i}"), gettext) for i in range(1, len(ann.questions) + 1)],
    ]


def xlsx_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], *, sheet: str) -> bytes:
    """One sheet: bold frozen header, widths set, dates as dates, phones as text, every text cell made safe."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.freeze_panes = "A2"
    widths = list(FIXED_WIDTHS) + [QUESTION_WIDTH] * (len(header) - len(FIXED_WIDTHS))
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    head = []
    for text in header:
        c = WriteOnlyCell(ws, value=exports.cell(text))
        c.font = Font(bold=True)
        head.append(c)
    ws.append(head)
    for row in rows:
        ws.append([_xlsx_cell(ws, index, value) for index, value in enumerate(row)])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(ws: Any, index: int, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if value is None or value == "":
        return None
    if isinstance(value, date):
        c = WriteOnlyCell(ws, value=value)
        c.number_format = "DD/MM/YYYY"
        return c
    if index == PHONE_COLUMN:
        c = WriteOnlyCell(ws, value=exports.cell(value))
        c.number_format = "@"
        return c
    return exports.cell(value)


def _csv_value(value: Any) -> Any:
    return value.strftime("%d/%m/%Y") if isinstance(value, date) else value


async def export(session: AsyncSession, *, clock: Clock, actor: Actor, ann_id: int, status_filter: str, kind: str,
                 communes: CommuneDirectory, tz: ZoneInfo, gettext: Gettext) -> tuple[str, bytes]:
    """Exactly the rows the table shows with this filter, as XLSX or CSV (file name, bytes); audited."""
    view = await signups_view(session, actor=actor, ann_id=ann_id, status_filter=status_filter)
    header = export_header(view.ann, gettext)
    rows = [export_row(n, r, ann=view.ann, communes=communes, tz=tz, gettext=gettext)
            for n, r in enumerate(view.rows, start=1)]
    await audit(session, clock=clock, actor=actor.user, action="export", target_kind="announcement",
                target_id=ann_id, detail={"format": kind, "rows": len(rows), "filter": view.status_filter})
    name = exports.file_name(gettext(N_("sign-ups")), view.ann.title, clock.now().astimezone(tz).date().isoformat(),
                             ext=kind)
    if kind == "xlsx":
        return name, xlsx_bytes(header, rows, sheet=gettext(N_("Sign-ups")))
    return name, exports.csv_bytes(header, [[_csv_value(v) for v in row] for row in rows])
