"""Announcements: audience targeting, rendering per language, broadcasting through the outbox,
progress figures, stop/cancel, sign-ups and topic subscriptions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.conversation import actions
from bot.conversation.replies import Block, Bold, Choice, MediaRef, Reply, from_staff_html, plain_text
from bot.domain import (
    KIND_LABELS,
    SIGNUP_KINDS,
    TOPICS,
    AnnouncementKind,
    AnnouncementStatus,
    OutboxStatus,
    Priority,
    Role,
    shown,
)
from bot.errors import Conflict, DomainError, NotFound
from bot.i18n_marker import N_
from bot.services import exports, outbox, usage
from bot.services import signups as places
from bot.services.communes import CommuneDirectory
from bot.services.forms.engine import Field, FieldKind, Form
from bot.services.validation import format_date, format_phone
from storage import repos
from storage.models import Announcement, Facility, OutboxMessage, Signup, User

Translator = Callable[[str, str], str]


@dataclass
class Audience:
    """Who receives an announcement. Empty lists mean "no restriction"."""

    roles: list[str] = field(default_factory=list)  # facility / collaborator / staff
    communes: list[int] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    by_topic: bool = True  # only people following the announcement's topic

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Audience:
        return cls(roles=list(data.get("roles", [])), communes=[int(c) for c in data.get("communes", [])],
                   sectors=list(data.get("sectors", [])), by_topic=bool(data.get("by_topic", True)))

    def as_dict(self) -> dict[str, Any]:
        return {"roles": self.roles, "communes": self.communes, "sectors": self.sectors, "by_topic": self.by_topic}


@dataclass(frozen=True)
class QuietHours:
    """Local hours when people may be asleep (QUIET_START–QUIET_END, 21:00–07:00 by default): reminders and
    digests wait for their end, and staff are warned before a broadcast goes out inside them. `end` is not
    quiet any more; with `start` after `end` they cross midnight; equal times mean no quiet hours."""

    start: time = time(21, 0)
    end: time = time(7, 0)

    def contains(self, local: datetime) -> bool:
        t = local.time()
        return t >= self.start or t < self.end if self.start > self.end else self.start <= t < self.end

    def next_allowed(self, local: datetime) -> datetime:
        """`local` itself outside quiet hours; inside them, the end that follows it (the next 07:00), in
        `local`'s time zone."""
        if not self.contains(local):
            return local
        for days in (0, 1):
            end = datetime.combine(local.date() + timedelta(days=days), self.end, tzinfo=local.tzinfo)
            if end > local:
                return end
        raise AssertionError("quiet hours end within a day")  # pragma: no cover

    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def needs_confirmation(recipients: int, *, above: int) -> bool:
    """A broadcast to more than BROADCAST_CONFIRM_ABOVE people is sent (or scheduled) only once staff confirm
    the number."""
    return recipients > above


def _effective_role(user: User, admin_ids: frozenset[int]) -> Role:
    if user.channel == "telegram" and user.external_id.isdigit() and int(user.external_id) in admin_ids:
        return Role.STAFF
    return Role(user.role)


def _reaches(user: User, facility: Facility | None, role: Role, audience: Audience, kind: str) -> bool:
    """Role, commune, sector and topic narrowing.

    Commune narrowing applies to facility owners (their facility's commune) and collaborators (their
    commune); sector narrowing applies to facility owners; staff are narrowed only by role.
    """
    audience_role = "facility" if role is Role.USER else role.value
    if audience.roles and audience_role not in audience.roles:
        return False
    if audience.communes and role is not Role.STAFF:
        commune = user.commune_code if role is Role.COLLABORATOR else (facility.commune_code if facility else None)
        if commune not in audience.communes:
            return False
    if audience.sectors and role is Role.USER and (facility is None or facility.sector not in audience.sectors):
        return False
    following = user.topics is None or kind in user.topics
    return following or not audience.by_topic or kind not in TOPICS


async def audience_users(session: AsyncSession, *, audience: Audience, kind: str,
                         admin_ids: frozenset[int] = frozenset()) -> list[tuple[User, Role]]:
    """Everyone the announcement reaches, with their effective role; /stop and unreachable people excluded."""
    rows = (await session.exec(
        select(User, Facility)
        .join(Facility, col(Facility.owner_user_id) == col(User.id), isouter=True)
        .where(col(User.announcements_off).is_(False), col(User.unreachable_at).is_(None))
        .order_by(col(User.id))
    )).all()
    out = []
    for user, facility in rows:
        role = _effective_role(user, admin_ids)
        if _reaches(user, facility, role, audience, kind):
            out.append((user, role))
    return out


async def audience_size(session: AsyncSession, *, audience: Audience, kind: str,
                        admin_ids: frozenset[int] = frozenset()) -> int:
    return len(await audience_users(session, audience=audience, kind=kind, admin_ids=admin_ids))


async def audience_channels(session: AsyncSession, *, audience: Audience, kind: str,
                            admin_ids: frozenset[int] = frozenset()) -> Counter[str]:
    """The audience by the channel each person is sent to (their notification identity's)."""
    return Counter(user.channel for user, _role in
                   await audience_users(session, audience=audience, kind=kind, admin_ids=admin_ids))


async def quota_shortfall(session: AsyncSession, *, channels: Mapping[str, int], quota: int, moment: datetime,
                          tz: ZoneInfo) -> usage.Usage | None:
    """The month's Zalo figures when the audience has more Zalo people than the month's quota (ZALO_MONTHLY_QUOTA)
    has messages left — staff are asked before such a broadcast; None when it fits or there is no quota."""
    on_zalo = channels.get("zalo", 0)
    if not on_zalo or not quota:
        return None
    used = await usage.of_month(session, channel="zalo", moment=moment, quota=quota, tz=tz)
    return used if used.left is not None and on_zalo > used.left else None


@dataclass(frozen=True)
class SendCheck:
    """What staff must answer before a broadcast goes (now, or at a time): the end of the quiet hours when the
    time falls in them (local), the audience's size and whether it needs confirming, the Zalo quota's figures
    when the Zalo recipients exceed what is left."""

    when_local: datetime
    quiet_until: datetime | None
    channels: Mapping[str, int]
    confirm_size: bool
    zalo: usage.Usage | None

    @property
    def size(self) -> int:
        return sum(self.channels.values())


async def send_check(session: AsyncSession, *, ann: Announcement, when: datetime | None, now: datetime,
                     tz: ZoneInfo, quiet: QuietHours, confirm_above: int, zalo_quota: int,
                     admin_ids: frozenset[int] = frozenset()) -> SendCheck:
    local = (when or now).astimezone(tz)
    channels = await audience_channels(session, audience=Audience.of(ann.audience), kind=ann.kind,
                                       admin_ids=admin_ids)
    return SendCheck(
        when_local=local, quiet_until=quiet.next_allowed(local) if quiet.contains(local) else None,
        channels=dict(channels), confirm_size=needs_confirmation(sum(channels.values()), above=confirm_above),
        zalo=await quota_shortfall(session, channels=channels, quota=zalo_quota, moment=now, tz=tz))


def estimated_seconds(recipients: int, rate: float) -> int:
    return int(recipients / rate) + (1 if recipients else 0)


def eta_text(seconds: int, translate: Callable[[str], str]) -> str:
    if seconds < 60:
        return translate(N_("{n} seconds")).format(n=seconds)
    return translate(N_("{n} minutes")).format(n=(seconds + 59) // 60)


def progress_text(ann: Announcement, counts: Mapping[str, int], rate: float, translate: Callable[[str], str],
                  *, paused: bool = False) -> str:
    """The staff member's progress message (while sending; `paused` while Telegram is unreachable) or
    final report."""
    t = translate
    title = ann.title  # plain words: the channel's renderer escapes them
    figures_ = [
        t(N_("Sent: {sent} of {total}")).format(sent=counts["sent"], total=counts["total"]),
        t(N_("Blocked the bot: {n}")).format(n=counts["blocked"]),
        t(N_("Failed: {n}")).format(n=counts["failed"]),
    ]
    if counts["unknown"]:
        # The request may have left (timeout, dropped connection, crash): not resent, so not "failed".
        figures_.append(t(N_("Delivery unknown (not resent, to avoid a second copy): {n}")).format(n=counts["unknown"]))
    if ann.status == AnnouncementStatus.SENT:
        head = N_("⚠️ Finished “{title}”, but not every message is known to have arrived.") if (
            counts["failed"] or counts["unknown"]) else N_("✅ Finished “{title}”.")
        return "\n".join([t(head).format(title=title), *figures_])
    if ann.status == AnnouncementStatus.STOPPED:
        return "\n".join([t(N_("⏹ Stopped “{title}”.")).format(title=title), *figures_,
                          t(N_("Cancelled: {n}")).format(n=counts["cancelled"])])
    left = counts["pending"] + counts["sending"]
    if paused:
        return "\n".join([t(N_("⏸ Paused: Telegram unreachable. “{title}” resumes by itself.")).format(title=title),
                          *figures_, t(N_("Waiting: {n}")).format(n=left)])
    return "\n".join([t(N_("📨 Sending “{title}”…")).format(title=title), *figures_,
                      t(N_("About {eta} left.")).format(eta=eta_text(estimated_seconds(left, rate), t))])


# --- rendering -----------------------------------------------------------------------------------


def _d(value: date | None) -> str:
    return format_date(value)


def render_plain(ann: Announcement, translate: Callable[[str], str]) -> str:
    """A short plain-text version a collaborator can forward by SMS or Zalo: the words of `reply_of`."""
    reply = reply_of(ann, Role.USER, translate)
    return "\n\n".join(plain_text(block.parts) for block in reply.blocks).replace("📢 ", "")


def choices(ann: Announcement, role: Role, translate: Callable[[str], str], *,
            inert: bool = False) -> list[list[Choice]]:
    """Sign-up for fairs and competitions (typed as "DK <id>" on a text channel), share for collaborators.
    `inert`: a staff member's test copy, whose choices only say they do nothing."""
    rows: list[list[Choice]] = []
    if inert and ann.kind in SIGNUP_KINDS:
        return [[Choice(translate(N_("✅ Sign up")), actions.ANNOUNCEMENT, actions.announcement_arg("pv", ann.id)),
                 Choice(translate(N_("Not interested")), actions.ANNOUNCEMENT, actions.announcement_arg("pv", ann.id))]]
    if ann.kind in SIGNUP_KINDS:
        keyword = f"{actions.SIGNUP_KEYWORD} {ann.id}"
        rows.append([Choice(translate(N_("✅ Sign up")), actions.ANNOUNCEMENT, actions.announcement_arg("s", ann.id),
                            typed=translate(N_("To sign up, type: {keyword}")).format(keyword=keyword)),
                     Choice(translate(N_("Not interested")), actions.ANNOUNCEMENT,
                            actions.announcement_arg("n", ann.id))])
    if role is Role.COLLABORATOR:
        rows.append([Choice(translate(N_("📤 Share (plain text)")), actions.ANNOUNCEMENT,
                            actions.announcement_arg("sh", ann.id))])
    return rows


def reply_of(ann: Announcement, role: Role, translate: Callable[[str], str], *,
             heading: str | None = None, inert: bool = False) -> Reply:
    """The announcement as a neutral reply: the words of `render`, its choices and its file."""
    blocks = [Block(heading)] if heading else []
    blocks.append(Block("📢 ", Bold(translate(KIND_LABELS[AnnouncementKind(ann.kind)])), "\n", Bold(ann.title)))
    blocks += [Block(*from_staff_html(part)) for part in ann.body.split("\n\n") if part.strip()]
    details = []
    if ann.place:
        details.append(translate(N_("📍 Place: {place}")).format(place=ann.place))
    if ann.starts_on:
        dates = _d(ann.starts_on) if not ann.ends_on or ann.ends_on == ann.starts_on else \
            f"{_d(ann.starts_on)} – {_d(ann.ends_on)}"
        details.append(translate(N_("📅 Dates: {dates}")).format(dates=dates))
    if ann.deadline_on:
        details.append(translate(N_("⏰ Deadline: {date}")).format(date=_d(ann.deadline_on)))
    if details:
        blocks.append(Block("\n".join(details)))
    media = MediaRef(ann.attachment_file_id, ann.attachment_kind or "document") if ann.attachment_file_id else None
    return Reply.of(*blocks, choices=choices(ann, role, translate, inert=inert), media=media)


# --- lifecycle -----------------------------------------------------------------------------------


def _apply(ann: Announcement, data: Mapping[str, Any]) -> None:
    """Copy the announce form's answers onto an announcement."""
    attachment = data.get("attachment") or {}
    ann.kind = data["kind"]
    ann.title = data["title"]
    ann.body = data["body"]
    ann.place = data.get("place")
    ann.starts_on = date.fromisoformat(data["starts_on"]) if data.get("starts_on") else None
    ann.ends_on = date.fromisoformat(data["ends_on"]) if data.get("ends_on") else None
    ann.deadline_on = date.fromisoformat(data["deadline_on"]) if data.get("deadline_on") else None
    ann.attachment_file_id = attachment.get("file_id")
    ann.attachment_kind = attachment.get("kind")
    ann.questions = [q.strip() for q in (data.get("questions") or "").splitlines() if q.strip()][:5]
    ann.capacity = int(data["capacity"]) if data.get("capacity") and ann.kind in SIGNUP_KINDS else None


async def create(session: AsyncSession, *, clock: Clock, author: User, data: Mapping[str, Any]) -> Announcement:
    now = clock.now()
    ann = Announcement(kind="", title="", body="", audience=Audience().as_dict(), status=AnnouncementStatus.DRAFT,
                       created_by_user_id=author.id, created_at=now, updated_at=now)
    _apply(ann, data)
    return await repos.add(session, obj=ann)


def unsaved(data: Mapping[str, Any]) -> Announcement:
    """An announcement from the form's answers that is not stored (the console's live preview)."""
    ann = Announcement(kind="", title="", body="", audience=Audience().as_dict(), status=AnnouncementStatus.DRAFT)
    _apply(ann, data)
    return ann


def form_data(ann: Announcement) -> dict[str, Any]:
    """A draft as answers of the announce form, to edit it."""
    data: dict[str, Any] = {"kind": ann.kind, "title": ann.title, "body": ann.body, "place": ann.place,
                            "starts_on": ann.starts_on.isoformat() if ann.starts_on else None,
                            "ends_on": ann.ends_on.isoformat() if ann.ends_on else None,
                            "deadline_on": ann.deadline_on.isoformat() if ann.deadline_on else None,
                            "attachment": ({"file_id": ann.attachment_file_id, "kind": ann.attachment_kind,
                                            "name": None} if ann.attachment_file_id else None),
                            "questions": "\n".join(ann.questions) or None, "capacity": ann.capacity}
    return data


async def update_content(session: AsyncSession, *, clock: Clock, ann_id: int, data: Mapping[str, Any]) -> Announcement:
    ann = await get_editable(session, ann_id=ann_id)
    _apply(ann, data)
    ann.updated_at = clock.now()
    return await repos.add(session, obj=ann)


async def get(session: AsyncSession, *, ann_id: int) -> Announcement:
    ann = await session.get(Announcement, ann_id)
    if ann is None:
        raise NotFound()
    return ann


async def get_editable(session: AsyncSession, *, ann_id: int) -> Announcement:
    ann = await get(session, ann_id=ann_id)
    if ann.status not in (AnnouncementStatus.DRAFT, AnnouncementStatus.SCHEDULED):
        raise Conflict(N_("This announcement has already started sending; it can no longer be changed."))
    return ann


async def set_audience(session: AsyncSession, *, clock: Clock, ann_id: int, audience: Audience) -> Announcement:
    ann = await get_editable(session, ann_id=ann_id)
    ann.audience = audience.as_dict()
    ann.updated_at = clock.now()
    session.add(ann)
    return ann


def check_future(when: datetime, *, now: datetime) -> None:
    """A broadcast can be scheduled only for a time still ahead."""
    if when <= now:
        raise DomainError(N_("That time has already passed. Please choose a time in the future."))


async def schedule(session: AsyncSession, *, clock: Clock, ann_id: int, when: datetime) -> Announcement:
    ann = await get_editable(session, ann_id=ann_id)
    check_future(when, now=clock.now())
    ann.status = AnnouncementStatus.SCHEDULED
    ann.scheduled_at = when
    ann.updated_at = clock.now()
    session.add(ann)
    return ann


async def send_test_copy(session: AsyncSession, *, clock: Clock, ann_id: int, staff: User,
                         translate: Callable[[str], str]) -> OutboxMessage:
    """A copy to the staff member's own chat, marked as a test; its choices do nothing (no real sign-up)."""
    ann = await get(session, ann_id=ann_id)
    return await outbox.enqueue(session, clock=clock, user=staff, kind="announcement_test",
                                reply=reply_of(ann, Role.USER, translate, heading=translate(N_("🧪 Test copy")),
                                               inert=True))


async def copy(session: AsyncSession, *, clock: Clock, ann_id: int, author: User) -> Announcement:
    """A new draft with a past announcement's words, dates, attachment, questions and audience."""
    source = await get(session, ann_id=ann_id)
    ann = await create(session, clock=clock, author=author, data=form_data(source))
    ann.audience = dict(source.audience)
    ann.reminder_days = list(source.reminder_days)
    ann.remind_unanswered = source.remind_unanswered
    return await repos.add(session, obj=ann)


async def cancel(session: AsyncSession, *, clock: Clock, ann_id: int) -> Announcement:
    ann = await get_editable(session, ann_id=ann_id)
    ann.status = AnnouncementStatus.CANCELLED
    ann.updated_at = clock.now()
    session.add(ann)
    return ann


async def start(
    session: AsyncSession, *, clock: Clock, ann_id: int, translate: Translator, default_locale: str,
    admin_ids: frozenset[int] = frozenset(), progress: tuple[str, int | None] | None = None,
) -> Announcement:
    """Expand the audience into one outbox row per recipient (idempotent by dedupe key) and start sending."""
    query = select(Announcement).where(Announcement.id == ann_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    ann = (await session.exec(query)).first()
    if ann is None:
        raise NotFound()
    if ann.status not in (AnnouncementStatus.DRAFT, AnnouncementStatus.SCHEDULED):
        raise Conflict(N_("This announcement has already started sending; it can no longer be changed."))
    users = await audience_users(session, audience=Audience.of(ann.audience), kind=ann.kind, admin_ids=admin_ids)
    now = clock.now()
    cache: dict[tuple[str, Role], dict[str, Any]] = {}
    rows = []
    for user, role in users:
        locale = user.locale or default_locale
        key = (locale, role)
        if key not in cache:
            tr = lambda m, loc=locale: translate(m, loc)  # noqa: E731
            cache[key] = outbox.stored(reply_of(ann, role, tr))
        rows.append({
            "channel": user.channel, "chat_id": user.external_id, "user_id": user.id, "kind": "announcement",
            "priority": Priority.BULK,
            **cache[key], "status": OutboxStatus.PENDING, "attempts": 0,
            "next_attempt_at": now, "dedupe_key": f"ann:{ann.id}:{user.id}", "announcement_id": ann.id,
            "created_at": now,
        })
    await repos.bulk_insert(session, model=OutboxMessage, rows=rows)
    ann.status = AnnouncementStatus.SENDING
    ann.started_at = now
    ann.recipients = len(rows)
    if progress:
        ann.progress_chat_id, ann.progress_message_id = progress
    ann.updated_at = now
    session.add(ann)
    session.info["outbox_dirty"] = True
    return ann


async def stop(session: AsyncSession, *, clock: Clock, ann_id: int) -> int:
    """Stop a running broadcast: the remaining sends are cancelled; returns how many."""
    ann = await get(session, ann_id=ann_id)
    if ann.status != AnnouncementStatus.SENDING:
        raise Conflict(N_("This broadcast is not running."))
    result = await session.exec(
        update(OutboxMessage)  # type: ignore[call-overload]
        .where(col(OutboxMessage.announcement_id) == ann_id, col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED, last_error="broadcast stopped")
    )
    ann.status = AnnouncementStatus.STOPPED
    ann.finished_at = clock.now()
    session.add(ann)
    return int(result.rowcount or 0)


async def resend(session: AsyncSession, *, clock: Clock, ann_id: int, include_unknown: bool = False) -> int:
    """Queue again the messages of a finished broadcast that failed (and, only when asked explicitly, those
    whose delivery is unknown — some of these people may get a second copy); returns how many."""
    ann = await get(session, ann_id=ann_id)
    if ann.status != AnnouncementStatus.SENT:
        raise Conflict(N_("Only a finished broadcast can be resent."))
    wanted = [OutboxStatus.FAILED, *([OutboxStatus.UNKNOWN] if include_unknown else [])]
    now = clock.now()
    result = await session.exec(
        update(OutboxMessage)  # type: ignore[call-overload]
        .where(col(OutboxMessage.announcement_id) == ann_id, col(OutboxMessage.status).in_(wanted))
        .values(status=OutboxStatus.PENDING, next_attempt_at=now, retry_from=now, attempts=0, last_error=None)
    )
    count = int(result.rowcount or 0)
    if count:
        ann.status = AnnouncementStatus.SENDING  # the tick closes it again, with a new final report
        ann.finished_at = None
        ann.updated_at = now
        session.add(ann)
        session.info["outbox_dirty"] = True
    return count


async def figures(session: AsyncSession, *, ann_id: int) -> dict[str, int]:
    """Outbox counts by status for one broadcast."""
    rows = (await session.exec(
        select(OutboxMessage.status, func.count()).where(OutboxMessage.announcement_id == ann_id)
        .group_by(OutboxMessage.status))).all()
    counts = {s.value: 0 for s in OutboxStatus}
    counts.update({status: int(n) for status, n in rows})
    counts["total"] = sum(counts[s.value] for s in OutboxStatus)
    return counts


async def due_scheduled(session: AsyncSession, *, now: datetime) -> Sequence[Announcement]:
    return (await session.exec(select(Announcement).where(
        Announcement.status == AnnouncementStatus.SCHEDULED, col(Announcement.scheduled_at) <= now))).all()


async def lock_scheduled(session: AsyncSession, *, ann_id: int) -> Announcement | None:
    """A scheduled broadcast, row-locked (PostgreSQL) until the caller commits; None once another process
    has started it (it waited on the lock, then sees the new status)."""
    query = select(Announcement).where(Announcement.id == ann_id).execution_options(populate_existing=True)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    ann = (await session.exec(query)).first()
    return ann if ann is not None and ann.status == AnnouncementStatus.SCHEDULED else None


async def running(session: AsyncSession) -> Sequence[Announcement]:
    return (await session.exec(select(Announcement).where(Announcement.status == AnnouncementStatus.SENDING))).all()


async def finish_if_done(session: AsyncSession, *, clock: Clock, tz: ZoneInfo, ann: Announcement) -> bool:
    """Close a broadcast whose rows are all settled, and plan its reminders (now that we know who got it)."""
    from bot.services import reminders

    counts = await figures(session, ann_id=ann.id or 0)
    if counts["pending"] or counts["sending"]:
        return False
    ann.status = AnnouncementStatus.SENT
    ann.finished_at = clock.now()
    session.add(ann)
    await reminders.plan_announcement(session, clock=clock, tz=tz, ann=ann)
    return True


async def recent(session: AsyncSession, *, limit: int = 10) -> Sequence[Announcement]:
    return (await session.exec(select(Announcement).order_by(col(Announcement.id).desc()).limit(limit))).all()


# --- recipients ----------------------------------------------------------------------------------


def signup_open(ann: Announcement, today: date) -> bool:
    return ann.kind in SIGNUP_KINDS and ann.status in (AnnouncementStatus.SENDING, AnnouncementStatus.SENT) and (
        ann.deadline_on is None or today <= ann.deadline_on)


def signup_form(key: str, context: Mapping[str, Any]) -> Form | None:
    """An announcement's follow-up questions (copied into the form's context) as a form of free-text answers.

    The questions are staff's own words, so they are shown as written rather than translated.
    """
    questions = context.get("questions") or []
    if not questions:
        return None
    fields = tuple(
        Field(f"q{i}", FieldKind.TEXT, prompt=question, label=question, max_length=500, translate=False,
              multiline=True)
        for i, question in enumerate(questions, start=1)
    )
    return Form(f"signup.{key}", N_("Sign-up"), fields)


async def for_recipient(session: AsyncSession, *, ann_id: int, user: User | None, role: Role) -> Announcement:
    """The announcement behind a recipient's button, if this person may act on it: staff may see any; anyone
    else only one they were sent. Otherwise "not found", exactly as for an id that does not exist."""
    ann = await session.get(Announcement, ann_id)
    if ann is None or (role is not Role.STAFF and (
            user is None or not await repos.got_announcement(session, ann_id=ann_id, user_id=user.id or 0))):
        raise NotFound()
    return ann


async def check_signup(session: AsyncSession, *, ann_id: int, today: date) -> Announcement:
    ann = await get(session, ann_id=ann_id)
    if ann.kind not in SIGNUP_KINDS:
        raise NotFound()
    if not signup_open(ann, today):
        raise DomainError(N_("Sign-up for this announcement closed on {date}."), date=_d(ann.deadline_on))
    return ann


async def answer(session: AsyncSession, *, clock: Clock, tz: ZoneInfo, ann_id: int, user: User, status: str,
                 translate: Translator, answers: Mapping[str, Any] | None = None) -> Signup:
    """Record a sign-up or a "not interested" (the latest answer wins); their reminders follow. A new sign-up
    joins the end of the line (a place, or the waiting list when the capacity is reached); a cancelled one
    frees its place for the first waiting, who is told in their language (`translate`)."""
    from bot.services import reminders

    await places.lock(session, ann_id=ann_id)  # places move one change at a time
    ann = await check_signup(session, ann_id=ann_id, today=clock.now().astimezone(tz).date())
    before = await places.places(session, ann=ann)
    existing = (await session.exec(select(Signup).where(
        Signup.announcement_id == ann.id, Signup.user_id == user.id))).first()
    now = clock.now()
    if existing is None:
        existing = Signup(announcement_id=ann.id or 0, user_id=user.id, status=status, created_at=now, updated_at=now)
    if status == "signed_up" and (existing.id is None or existing.status != "signed_up"):
        places.mark_signed_up(existing, now)
    existing.status = status
    existing.answers = dict(answers or {})
    existing.updated_at = now
    await repos.add(session, obj=existing)
    await places.promote(session, clock=clock, ann=ann, before=before, translate=translate)
    await reminders.plan_announcement(session, clock=clock, tz=tz, ann=ann, user_ids=[user.id or 0])
    return existing


async def waiting_position(session: AsyncSession, *, ann: Announcement, signup: Signup) -> int | None:
    """The sign-up's place on the waiting list (1 = next to move up); None when it has a place."""
    return (await places.places(session, ann=ann)).position(signup.id)


async def signup_of(session: AsyncSession, *, ann_id: int, user: User) -> Signup | None:
    return (await session.exec(select(Signup).where(
        Signup.announcement_id == ann_id, Signup.user_id == user.id))).first()


async def complete(session: AsyncSession, *, clock: Clock, tz: ZoneInfo, ann_id: int, user: User) -> Signup:
    """The participant has done what the announcement requires (handed in the dossier): no more deadline reminders."""
    from bot.services import reminders

    ann = await get(session, ann_id=ann_id)
    signup = (await session.exec(select(Signup).where(
        Signup.announcement_id == ann_id, Signup.user_id == user.id, Signup.status == "signed_up"))).first()
    if signup is None:
        raise NotFound()
    signup.completed_at = signup.completed_at or clock.now()
    await repos.add(session, obj=signup)
    await reminders.plan_announcement(session, clock=clock, tz=tz, ann=ann, user_ids=[user.id or 0])
    return signup


async def change_reminders(session: AsyncSession, *, clock: Clock, tz: ZoneInfo, ann_id: int,
                           deadline_on: date | None = None, reminder_days: list[int] | None = None,
                           remind_unanswered: bool | None = None) -> Announcement:
    """Staff move the deadline or change who is reminded when; pending reminders are rebuilt."""
    from bot.services import reminders

    ann = await get(session, ann_id=ann_id)
    if ann.status in (AnnouncementStatus.CANCELLED, AnnouncementStatus.STOPPED):
        raise Conflict(N_("This announcement was cancelled or stopped."))
    if deadline_on is not None:
        ann.deadline_on = deadline_on
    if reminder_days is not None:
        ann.reminder_days = reminder_days
    if remind_unanswered is not None:
        ann.remind_unanswered = remind_unanswered
    ann.updated_at = clock.now()
    await repos.add(session, obj=ann)
    await reminders.plan_announcement(session, clock=clock, tz=tz, ann=ann)
    return ann


async def withdraw(session: AsyncSession, *, clock: Clock, ann_id: int) -> Announcement:
    """Cancel an announcement already sent: sign-up closes and its reminders are removed."""
    from bot.services import reminders

    ann = await get(session, ann_id=ann_id)
    if ann.status not in (AnnouncementStatus.SENT, AnnouncementStatus.SENDING):
        raise Conflict(N_("This announcement has not been sent."))
    await session.exec(
        update(OutboxMessage)  # type: ignore[call-overload]
        .where(col(OutboxMessage.announcement_id) == ann_id, col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED, last_error="announcement cancelled")
    )
    ann.status = AnnouncementStatus.CANCELLED
    ann.finished_at = ann.finished_at or clock.now()
    ann.updated_at = clock.now()
    await repos.add(session, obj=ann)
    await reminders.cancel_announcement(session, ann_id=ann_id)
    return ann


async def signups(session: AsyncSession, *, ann_id: int) -> Sequence[tuple[Signup, User | None, Facility | None]]:
    return (await session.exec(
        select(Signup, User, Facility)
        .join(User, col(Signup.user_id) == col(User.id), isouter=True)
        .join(Facility, col(Facility.owner_user_id) == col(User.id), isouter=True)
        .where(Signup.announcement_id == ann_id).order_by(col(Signup.created_at)))).all()


async def signups_csv(session: AsyncSession, *, ann: Announcement, communes: CommuneDirectory, tz: ZoneInfo,
                      translate: Callable[[str], str]) -> bytes:
    header = [translate(N_("Answer")), translate(N_("Date")), translate(N_("Name")), translate(N_("Phone")),
              translate(N_("Facility")), translate(N_("Commune/ward")), *ann.questions]
    rows = []
    for signup, user, facility in await signups(session, ann_id=ann.id or 0):
        rows.append([
            translate(N_("Signed up")) if signup.status == "signed_up" else translate(N_("Not interested")),
            format_date(signup.created_at.astimezone(tz)),
            (user.full_name or "") if user else "", format_phone(user.phone) if user else "",
            facility.name if facility else "",
            communes.name(facility.commune_code if facility else (user.commune_code if user else None)),
            *[shown(signup.answers.get(f"q{i}"), translate) for i in range(1, len(ann.questions) + 1)],
        ])
    return exports.csv_bytes(header, rows)


async def set_topics(session: AsyncSession, *, clock: Clock, user: User, topics: list[str] | None) -> None:
    user.topics = topics
    user.updated_at = clock.now()
    session.add(user)


async def set_announcements_off(session: AsyncSession, *, clock: Clock, user: User, off: bool) -> None:
    user.announcements_off = off
    user.updated_at = clock.now()
    session.add(user)
