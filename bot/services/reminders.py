"""Reminders as rows: planned from announcements and report schedules, turned into outbox messages by
a tick. The database is the only source of truth, so a restart loses nothing and repeats nothing.

* Deadline reminders: `reminder_days` before the deadline at 08:00 local, to people who signed up but
  have not finished (a competition's dossier), and — if staff choose — to recipients who have not answered.
* Fair eve: the day before a fair opens, 08:00, to those signed up.
* Collaborator reports: before each report deadline, to collaborators who have not reported.
* Quiet hours: nothing is queued between QUIET_START and QUIET_END local; it waits for morning.
* Downtime: a reminder found due after its deadline has passed is recorded as missed, not sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.conversation import actions
from bot.conversation.replies import Choice, Reply, html_reply
from bot.domain import AnnouncementKind, AnnouncementStatus, OutboxStatus, ParticipantStatus, Priority, Role
from bot.errors import NotFound
from bot.i18n_marker import N_
from bot.services import announcements, outbox
from bot.services.announcements import QuietHours
from bot.services.signups import places_of
from bot.services.validation import format_date
from storage import repos, signup_repos
from storage.models import (
    Announcement,
    DigestRun,
    Need,
    OutboxMessage,
    Reminder,
    ReportSchedule,
    ReportSubmission,
    Signup,
    User,
)

Translator = Callable[[str, str], str]
SEND_AT = time(8, 0)
DIGEST_AT = time(7, 30)
DOSSIER_KINDS = frozenset({AnnouncementKind.COMPETITION})
QUIET_HOURS = QuietHours()  # 21:00–07:00; the scheduler passes QUIET_START, QUIET_END


def at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time as an aware datetime (stored as UTC by the column type)."""
    return datetime.combine(day, at, tzinfo=tz)


# --- planning: announcements ------------------------------------------------------------------------


def needs_completion(ann: Announcement) -> bool:
    return ann.kind in DOSSIER_KINDS


async def plan_announcement(session: AsyncSession, *, clock: Clock, tz: ZoneInfo, ann: Announcement,
                            user_ids: Iterable[int] | None = None) -> int:
    """(Re)build the pending reminders of an announcement — all of them, or only for `user_ids`.

    Pending rows are replaced, so moving the deadline moves them and a finished or declined person
    loses theirs; rows already queued stay as history.
    """
    scope = set(user_ids) if user_ids is not None else None
    stmt = delete(Reminder).where(col(Reminder.announcement_id) == ann.id, col(Reminder.status) == "pending")
    if scope is not None:
        stmt = stmt.where(col(Reminder.user_id).in_(scope))
    await session.exec(stmt)  # type: ignore[call-overload]
    if ann.status not in (AnnouncementStatus.SENDING, AnnouncementStatus.SENT):
        return 0
    now = clock.now()
    signups = (await session.exec(select(Signup).where(Signup.announcement_id == ann.id))).all()
    answered = {s.user_id for s in signups}
    signed_open = [s.user_id for s in signups if s.status == "signed_up" and s.user_id is not None
                   and (s.completed_at is None and needs_completion(ann))]
    signed_all = [s.user_id for s in signups if s.status == "signed_up" and s.user_id is not None]
    unanswered: list[int] = []
    if ann.remind_unanswered:
        recipients = (await session.exec(select(OutboxMessage.user_id).where(
            OutboxMessage.announcement_id == ann.id, OutboxMessage.status == OutboxStatus.SENT))).all()
        unanswered = [u for u in recipients if u is not None and u not in answered]
    rows: list[dict[str, Any]] = []

    def add(kind: str, user_id: int, due: datetime, days: int, audience: str) -> None:
        if due <= now or (scope is not None and user_id not in scope):
            return
        rows.append({"kind": kind, "user_id": user_id, "announcement_id": ann.id, "days_before": days,
                     "audience": audience, "due_at": due, "status": "pending", "created_at": now,
                     "dedupe_key": f"ann:{ann.id}:{kind}:{days}:{user_id}:{due.date().isoformat()}"})

    if ann.deadline_on:
        for days in ann.reminder_days:
            due = at_local(ann.deadline_on - timedelta(days=days), SEND_AT, tz)
            for uid in signed_open:
                add("deadline", uid, due, days, "signed_up")
            for uid in unanswered:
                add("deadline", uid, due, days, "unanswered")
    if ann.kind == AnnouncementKind.FAIR and ann.starts_on:
        due = at_local(ann.starts_on - timedelta(days=1), SEND_AT, tz)
        for uid in signed_all:
            add("eve", uid, due, 1, "signed_up")
    await repos.bulk_insert(session, model=Reminder, rows=rows)
    return len(rows)


async def cancel_announcement(session: AsyncSession, *, ann_id: int) -> None:
    await session.exec(
        update(Reminder).where(col(Reminder.announcement_id) == ann_id, col(Reminder.status) == "pending")  # type: ignore[call-overload]
        .values(status="cancelled")
    )


# --- planning: collaborator reports -----------------------------------------------------------------


def next_deadline(schedule: ReportSchedule, today: date) -> date:
    """The schedule's next deadline on or after `today` (quarterly: in March, June, September, December)."""
    year, month = today.year, today.month
    for _ in range(15):
        if schedule.frequency == "monthly" or month % 3 == 0:
            candidate = date(year, month, schedule.day)
            if candidate >= today:
                return candidate
        month += 1
        if month > 12:
            year, month = year + 1, 1
    raise AssertionError("unreachable")


def period_of(schedule: ReportSchedule, deadline: date) -> str:
    if schedule.frequency == "quarterly":
        return f"{deadline.year}-Q{(deadline.month - 1) // 3 + 1}"
    return f"{deadline.year}-{deadline.month:02d}"


async def plan_reports(session: AsyncSession, *, clock: Clock, tz: ZoneInfo) -> int:
    """Make sure every active collaborator has reminders before the next deadline of each schedule."""
    now = clock.now()
    today = now.astimezone(tz).date()
    collaborators = (await session.exec(select(User).where(User.role == Role.COLLABORATOR))).all()
    created = 0
    for schedule in (await session.exec(select(ReportSchedule).where(col(ReportSchedule.active).is_(True)))).all():
        deadline = next_deadline(schedule, today)
        period = period_of(schedule, deadline)
        done = set((await session.exec(select(ReportSubmission.user_id).where(
            ReportSubmission.schedule_id == schedule.id, ReportSubmission.period == period))).all())
        existing = set((await session.exec(select(Reminder.dedupe_key).where(
            Reminder.schedule_id == schedule.id, Reminder.period == period))).all())
        rows = []
        for user in collaborators:
            if user.id in done:
                continue
            for days in schedule.reminder_days:
                due = at_local(deadline - timedelta(days=days), SEND_AT, tz)
                key = f"report:{schedule.id}:{period}:{days}:{user.id}"
                if due > now and key not in existing:
                    rows.append({"kind": "report", "user_id": user.id, "schedule_id": schedule.id, "period": period,
                                 "days_before": days, "audience": "collaborator", "due_at": due, "status": "pending",
                                 "created_at": now, "dedupe_key": key})
        await repos.bulk_insert(session, model=Reminder, rows=rows)
        created += len(rows)
    return created


# --- the tick ---------------------------------------------------------------------------------------


@dataclass
class TickResult:
    queued: int = 0
    missed: int = 0
    cancelled: int = 0


async def tick(session_maker: Any, *, clock: Clock, tz: ZoneInfo, translate: Translator, default_locale: str,
               quiet: QuietHours = QUIET_HOURS, batch: int = 2000) -> TickResult:
    """Turn due reminders into outbox messages, batch by batch, each batch in one transaction."""
    result = TickResult()
    now = clock.now()
    if quiet.contains(now.astimezone(tz)):
        return result
    while True:
        async with session_maker() as session:
            # Plain rows, not ORM objects: the tick handles thousands at once (see bench/reminders.py).
            query = (select(*Reminder.__table__.c).where(Reminder.status == "pending", col(Reminder.due_at) <= now)
                     .order_by(col(Reminder.due_at), col(Reminder.id)).limit(batch))
            if session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = list((await session.exec(query)).all())
            if not due:
                return result
            await _handle_batch(session, due, now=now, tz=tz, translate=translate, default_locale=default_locale,
                                result=result)
            await session.commit()


async def _handle_batch(session: AsyncSession, due: Sequence[Reminder], *, now: datetime, tz: ZoneInfo,
                        translate: Translator, default_locale: str, result: TickResult) -> None:
    today = now.astimezone(tz).date()
    ann_ids = {r.announcement_id for r in due if r.announcement_id}
    sched_ids = {r.schedule_id for r in due if r.schedule_id}
    user_ids = {r.user_id for r in due}
    anns = {a.id: a for a in (await session.exec(select(Announcement).where(col(Announcement.id).in_(ann_ids))))
            .all()} if ann_ids else {}
    # Users and sign-ups as plain rows too (attribute access works the same).
    schedules = {s.id: s for s in (await session.exec(select(ReportSchedule).where(
        col(ReportSchedule.id).in_(sched_ids)))).all()} if sched_ids else {}
    users = {u.id: u for u in (await session.exec(select(*User.__table__.c).where(col(User.id).in_(user_ids)))).all()}
    signups: dict[tuple[int, int], Signup] = {}
    if ann_ids:
        for s in (await session.exec(select(*Signup.__table__.c).where(
                col(Signup.announcement_id).in_(ann_ids), col(Signup.user_id).in_(user_ids)))).all():
            signups[(s.announcement_id, s.user_id or 0)] = s
    placed = await _place_holders(session, due, anns)
    reported: set[tuple[int, str, int]] = set()
    if sched_ids:
        for sub in (await session.exec(select(ReportSubmission).where(
                col(ReportSubmission.schedule_id).in_(sched_ids)))).all():
            reported.add((sub.schedule_id, sub.period, sub.user_id or 0))

    outcome: dict[str, list[int]] = defaultdict(list)
    outbox_rows: list[dict[str, Any]] = []
    cache: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rem in due:
        user = users.get(rem.user_id)
        status = _judge(rem, user, anns, schedules, signups, reported, today, placed)
        if status == "queued" and user is not None:
            locale = user.locale or default_locale
            key = (rem.kind, rem.announcement_id, rem.schedule_id, rem.period, rem.audience, rem.days_before, locale)
            if key not in cache:
                cache[key] = outbox.stored(_render(rem, anns, schedules, lambda m, loc=locale: translate(m, loc)))
            outbox_rows.append({
                "channel": user.channel, "chat_id": user.external_id, "user_id": user.id, "kind": "reminder",
                "priority": Priority.REMINDER,
                **cache[key], "status": OutboxStatus.PENDING, "attempts": 0,
                "next_attempt_at": now, "dedupe_key": f"rem:{rem.id}", "announcement_id": None, "created_at": now,
            })
        outcome[status].append(rem.id or 0)
    if outbox_rows:
        await repos.bulk_insert(session, model=OutboxMessage, rows=outbox_rows)
        session.info["outbox_dirty"] = True
    for status, ids in outcome.items():
        for chunk in range(0, len(ids), 900):
            await session.exec(update(Reminder).where(col(Reminder.id).in_(ids[chunk:chunk + 900]))  # type: ignore[call-overload]
                               .values(status=status, handled_at=now)
                               .execution_options(synchronize_session=False))
    result.queued += len(outcome["queued"])
    result.missed += len(outcome["missed"])
    result.cancelled += len(outcome["cancelled"])


async def _place_holders(session: AsyncSession, due: Sequence[Reminder],
                         anns: dict[Any, Announcement]) -> dict[int, frozenset[int]]:
    """For the announcements of due "eve" reminders: the sign-ups holding a place (not those on the waiting
    list, nor those the centre did not accept)."""
    placed: dict[int, frozenset[int]] = {}
    for ann_id in {r.announcement_id for r in due if r.kind == "eve" and r.announcement_id in anns}:
        ann = anns[ann_id]
        placed[ann_id] = frozenset(places_of(ann.capacity, await signup_repos.signed_up(session,
                                                                                      ann_id=ann_id)).holders)
    return placed


def _judge(rem: Reminder, user: User | None, anns: dict[Any, Announcement], schedules: dict[Any, ReportSchedule],
           signups: dict[tuple[int, int], Signup], reported: set[tuple[int, str, int]], today: date,
           placed: dict[int, frozenset[int]] | None = None) -> str:
    """queued (send it), missed (no longer useful: its date has passed) or cancelled (no longer wanted).
    "Opens tomorrow" goes only to those holding a place: someone on the waiting list would come to a fair
    with no booth. The dossier's deadline still reaches the waiting list (a place may free up), but not
    those the centre did not accept."""
    if user is None:
        return "cancelled"
    if rem.announcement_id is not None:
        ann = anns.get(rem.announcement_id)
        if ann is None or ann.status in (AnnouncementStatus.CANCELLED, AnnouncementStatus.STOPPED):
            return "cancelled"
        last_useful = ann.deadline_on if rem.kind == "deadline" else ann.starts_on
        if last_useful is None or today > last_useful:
            return "missed"
        signup = signups.get((ann.id or 0, user.id or 0))
        if rem.audience == "unanswered":
            return "cancelled" if signup is not None or user.announcements_off else "queued"
        return "queued" if _still_wanted(rem, signup, placed.get(ann.id or 0) if placed else None) else "cancelled"
    schedule = schedules.get(rem.schedule_id)
    if schedule is None or not schedule.active or user.role != Role.COLLABORATOR:
        return "cancelled"
    if (schedule.id or 0, rem.period or "", user.id or 0) in reported:
        return "cancelled"
    deadline = next_deadline(schedule, rem.due_at.date())
    if today > deadline:
        return "missed"
    return "queued"


def _still_wanted(rem: Reminder, signup: Signup | None, holders: frozenset[int] | None) -> bool:
    """A signed-up person's reminder: not after they finished the dossier (deadline), nor when the centre did not
    accept them, nor "opens tomorrow" without a place (`holders`: the sign-ups holding one)."""
    if signup is None or signup.status != "signed_up" or (rem.kind == "deadline" and signup.completed_at):
        return False
    if signup.participant_status == ParticipantStatus.REJECTED:
        return False
    return not (rem.kind == "eve" and holders is not None and signup.id not in holders)


def _d(value: date | None) -> str:
    return format_date(value)


def _render(rem: Reminder, anns: dict[Any, Announcement], schedules: dict[Any, ReportSchedule],
            t: Callable[[str], str]) -> Reply:
    buttons: list[list[Choice]] = []
    if rem.announcement_id is not None:
        ann = anns[rem.announcement_id]
        title = escape(ann.title)
        if rem.kind == "eve":
            text = t(N_("⏰ Reminder: <b>{title}</b> opens tomorrow, {date}.")).format(title=title,
                                                                                      date=_d(ann.starts_on))
            if ann.place:
                text += "\n" + t(N_("📍 Place: {place}")).format(place=escape(ann.place))
        elif rem.audience == "unanswered":
            text = t(N_("⏰ Reminder: the deadline for <b>{title}</b> is {date} ({days} days left). "
                        "Would you like to take part?")).format(title=title, date=_d(ann.deadline_on),
                                                                 days=rem.days_before)
            buttons = announcements.choices(ann, Role.USER, t)
        else:
            text = t(N_("⏰ Reminder: the deadline for <b>{title}</b> is {date} ({days} days left). "
                        "Please hand in your dossier in time.")).format(title=title, date=_d(ann.deadline_on),
                                                                       days=rem.days_before)
            buttons = [[Choice(t(N_("📨 I have handed in my dossier")), actions.ANNOUNCEMENT,
                               actions.announcement_arg("done", ann.id))]]
        return html_reply(text, choices=buttons)
    schedule = schedules[rem.schedule_id]
    text = t(N_("⏰ Reminder: your report “{title}” for {period} is due in {days} days. Send it with /report.")
             ).format(title=escape(schedule.title), period=rem.period, days=rem.days_before)
    return html_reply(text)


# --- reports ----------------------------------------------------------------------------------------


async def create_schedule(session: AsyncSession, *, clock: Clock, author: User, data: dict[str, Any]
                          ) -> ReportSchedule:
    schedule = ReportSchedule(title=data["title"], frequency=data["frequency"], day=int(data["day"]),
                              reminder_days=list(data["reminder_days"]), created_by_user_id=author.id,
                              created_at=clock.now())
    session.add(schedule)
    await session.flush()
    return schedule


async def get_schedule(session: AsyncSession, *, schedule_id: int) -> ReportSchedule:
    schedule = await session.get(ReportSchedule, schedule_id)
    if schedule is None:
        raise NotFound()
    return schedule


async def active_schedules(session: AsyncSession) -> Sequence[ReportSchedule]:
    return (await session.exec(select(ReportSchedule).where(col(ReportSchedule.active).is_(True))
                               .order_by(col(ReportSchedule.id)))).all()


async def submit_report(session: AsyncSession, *, clock: Clock, tz: ZoneInfo, user: User, schedule_id: int,
                        data: dict[str, Any]) -> ReportSubmission:
    """A collaborator's report for the schedule's current period; their pending reminders for it end."""
    schedule = await get_schedule(session, schedule_id=schedule_id)
    period = period_of(schedule, next_deadline(schedule, clock.now().astimezone(tz).date()))
    existing = (await session.exec(select(ReportSubmission).where(
        ReportSubmission.schedule_id == schedule_id, ReportSubmission.period == period,
        ReportSubmission.user_id == user.id))).first()
    sub = existing or ReportSubmission(schedule_id=schedule_id, period=period, user_id=user.id,
                                       created_at=clock.now())
    sub.commune_code = user.commune_code
    sub.facilities_visited = int(data["facilities_visited"])
    sub.needs_collected = int(data["needs_collected"])
    sub.notes = data.get("notes")
    session.add(sub)
    await session.exec(
        update(Reminder).where(col(Reminder.schedule_id) == schedule_id, col(Reminder.period) == period,  # type: ignore[call-overload]
                               col(Reminder.user_id) == user.id, col(Reminder.status) == "pending")
        .values(status="cancelled", handled_at=clock.now())
    )
    await session.flush()
    return sub


async def report_status(session: AsyncSession, *, schedule: ReportSchedule, today: date
                        ) -> tuple[str, date, list[tuple[User, ReportSubmission | None]]]:
    deadline = next_deadline(schedule, today)
    period = period_of(schedule, deadline)
    subs = {s.user_id: s for s in (await session.exec(select(ReportSubmission).where(
        ReportSubmission.schedule_id == schedule.id, ReportSubmission.period == period))).all()}
    collaborators = (await session.exec(select(User).where(User.role == Role.COLLABORATOR)
                                        .order_by(col(User.commune_code), col(User.full_name)))).all()
    return period, deadline, [(u, subs.get(u.id)) for u in collaborators]


# --- staff digest -----------------------------------------------------------------------------------


async def digest(session: AsyncSession, *, clock: Clock, tz: ZoneInfo, translate: Translator, default_locale: str,
                 admin_ids: frozenset[int] = frozenset(), at: time = DIGEST_AT) -> int:
    """On working days at 07:30 local, one summary per staff member; nothing when there is nothing to say.

    Returns the number of messages queued. Recorded per day, so a restart never sends it twice.
    """

    now = clock.now()
    local = now.astimezone(tz)
    if local.weekday() >= 5 or local.time() < at:
        return 0
    if await session.get(DigestRun, local.date()) is not None:
        return 0
    last = (await session.exec(select(DigestRun).order_by(col(DigestRun.day).desc()).limit(1))).first()
    since = last.covered_until if last else now - timedelta(days=1)
    new_needs = (await session.exec(select(Need).where(col(Need.created_at) > since, col(Need.created_at) <= now)
                                    .order_by(col(Need.id)))).all()
    new_signups = (await session.exec(select(Signup).where(
        col(Signup.created_at) > since, col(Signup.created_at) <= now, Signup.status == "signed_up"))).all()
    soon = (await session.exec(select(Announcement).where(
        col(Announcement.status).in_([AnnouncementStatus.SENDING, AnnouncementStatus.SENT]),
        col(Announcement.deadline_on) >= local.date(),
        col(Announcement.deadline_on) <= local.date() + timedelta(days=7)).order_by(col(Announcement.deadline_on)))
    ).all()
    missing: list[tuple[ReportSchedule, str, int]] = []
    for schedule in await active_schedules(session):
        period, deadline, rows = await report_status(session, schedule=schedule, today=local.date())
        if deadline <= local.date() + timedelta(days=7):
            late = sum(1 for _u, sub in rows if sub is None)
            if late:
                missing.append((schedule, period, late))
    session.add(DigestRun(day=local.date(), covered_until=now, created_at=now))
    if not (new_needs or new_signups or soon or missing):
        return 0
    staff = await repos.staff_users(session, settings_staff=[("telegram", str(i)) for i in sorted(admin_ids)])
    sent = 0
    for person in staff:
        loc = person.locale or default_locale

        def t(m: str, loc: str = loc) -> str:
            return translate(m, loc)

        lines = [t(N_("☀️ <b>Good morning! Today's summary</b>"))]
        if new_needs:
            lines.append(t(N_("New needs: {n}")).format(n=len(new_needs)) + " — " + ", ".join(
                n.ref or "" for n in new_needs[:10]) + ("…" if len(new_needs) > 10 else ""))
        if new_signups:
            lines.append(t(N_("New sign-ups: {n}")).format(n=len(new_signups)))
        for ann in soon:
            lines.append(t(N_("Deadline {date}: {title}")).format(date=_d(ann.deadline_on), title=escape(ann.title)))
        for schedule, period, late in missing:
            lines.append(t(N_("Reports missing for “{title}” ({period}): {n}")).format(
                title=escape(schedule.title), period=period, n=late))
        lines.append(t(N_("Open /inbox to review needs.")))
        await outbox.enqueue(session, clock=clock, user=person, kind="digest", reply=html_reply("\n".join(lines)),
                             dedupe_key=f"digest:{local.date().isoformat()}:{person.id}", priority=Priority.REMINDER)
        sent += 1
    return sent
