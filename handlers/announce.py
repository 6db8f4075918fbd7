"""Staff, on any channel: /announce (compose, audience, preview, test copy, send or schedule) and /broadcasts
(progress, stop, cancel, reminders, resend, sign-ups). The recipients' side is handlers/signup.py.

Every choice is the action `A.ANNOUNCE` with the argument "<verb>:<announcement id>:<value>"; each verb has its
own function in VERBS. On Telegram this packs to the same "an:<verb>:<id>:<value>" as the buttons sent before
the flow moved to the pipeline, so those still work.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from html import escape
from typing import Any

from babel.numbers import format_decimal

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.form_view import answers_under_questions, shorten
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Bold, Choice, FileData, Reply, from_staff_html
from bot.domain import (
    ANNOUNCEMENT_STATUS_LABELS,
    AUDIENCE_ROLE_LABELS,
    AUDIENCE_ROLES,
    KIND_LABELS,
    PARTICIPANT_STATUS_LABELS,
    SECTOR_LABELS,
    SIGNUP_KINDS,
    AnnouncementKind,
    AnnouncementStatus,
    ParticipantStatus,
    Role,
)
from bot.errors import NotFound
from bot.services import announcements as svc
from bot.services import signups as places
from bot.services import usage
from bot.services.needs import Actor
from bot.services.validation import format_date, format_datetime, format_phone
from handlers import forms
from handlers.forms import FormRun, on_complete
from handlers.staff import not_found, staff_actor, whole_number
from storage.models import Announcement

CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo"}
SIGNUPS_SHOWN = 30  # the rest are in the CSV
TITLE_IN_LIST = 40
# What a "send now" ("go") or "send at" ("at") choice carries once staff have answered a question before it:
# the time is in the quiet hours and they keep it (QUIET_OK), the audience's size is confirmed (SIZE_OK), they send
# although the Zalo recipients exceed what is left of the month's Zalo quota (QUOTA_OK).
QUIET_OK, SIZE_OK, QUOTA_OK = "q", "y", "z"
AT_VALUE = re.compile(r"([0-9]{1,11})([a-z]*)")  # "at": the time, seconds since 1970 (UTC), then the answers

Verb = Callable[[Turn, Actor, int, str], Awaitable[None]]


def html(text: str) -> Block:
    """A translated text with <b> tags (user words inside it already escaped)."""
    return Block(*from_staff_html(text))


def choice(label: str, verb: str, ann_id: int, value: str = "") -> Choice:
    return Choice(label, A.ANNOUNCE, f"{verb}:{ann_id}:{value}")


# --- views ---------------------------------------------------------------------------------------


async def audience_view(turn: Turn, ann: Announcement, *, sectors: bool = False, replace: bool = False) -> Reply:
    """Who will get it, with the choices that change it (the sectors' list instead, with `sectors`)."""
    _ = turn._
    aud = svc.Audience.of(ann.audience)
    size = await svc.audience_size(turn.session, audience=aud, kind=ann.kind, admin_ids=turn.app.settings.admin_ids)
    roles = ", ".join(_(AUDIENCE_ROLE_LABELS[r]) for r in aud.roles) if aud.roles else _("everyone")
    communes = ", ".join(turn.app.communes.name(c) for c in aud.communes) if aud.communes else _("all")
    sector_names = ", ".join(_(SECTOR_LABELS[s]) for s in aud.sectors if s in SECTOR_LABELS) if aud.sectors \
        else _("all")
    blocks = [
        html(_("<b>Audience</b> for “{title}”").format(title=escape(ann.title))),
        Block("\n".join([
            _("Who: {roles}").format(roles=roles),
            _("Communes: {communes}").format(communes=communes),
            _("Sectors: {sectors}").format(sectors=sector_names),
            _("Only people following this topic: {answer}").format(answer=_("yes") if aud.by_topic else _("no")),
        ])),
        html(_("👥 <b>{n}</b> people will receive it.").format(n=size)),
    ]
    i = ann.id or 0
    if sectors:
        rows = [[choice(("✓ " if s in aud.sectors else "") + _(label), "s", i, s.value)]
                for s, label in SECTOR_LABELS.items()]
        rows.append([choice(_("◀ Back"), "au", i)])
    else:
        rows = [[choice(("✓ " if r in aud.roles else "") + _(AUDIENCE_ROLE_LABELS[r]), "r", i, r)
                 for r in AUDIENCE_ROLES],
                [choice(_("➕ Add a commune"), "ca", i)]]
        rows += [[choice("✖ " + turn.app.communes.name(c), "cr", i, str(c))] for c in aud.communes]
        rows.append([choice(_("Sectors ▾"), "sm", i),
                     choice(_("Topic filter: on") if aud.by_topic else _("Topic filter: off"), "t", i)])
        rows.append([choice(_("👁 Preview"), "pv", i)])
    return Reply.of(*blocks, choices=rows, replace_previous=replace)


def _control_choices(turn: Turn, ann_id: int) -> list[list[Choice]]:
    _ = turn._
    return [
        [choice(_("📨 Send a test copy to me"), "tc", ann_id)],
        [choice(_("🚀 Send now"), "go", ann_id), choice(_("🕒 Schedule…"), "sc", ann_id)],
        [choice(_("✏️ Edit"), "ed", ann_id), choice(_("🎯 Audience"), "au", ann_id)],
        [choice(_("✖ Cancel the announcement"), "x", ann_id)],
    ]


def _reminder_lines(turn: Turn, ann: Announcement) -> tuple[list[str], list[list[Choice]]]:
    _, i = turn._, ann.id or 0
    if not ann.deadline_on:
        return [], []
    lines = [_("⏰ Reminders {days} days before the deadline ({date}), at 08:00.").format(
                 days=", ".join(str(d) for d in ann.reminder_days), date=format_date(ann.deadline_on)),
             _("People who have not answered are reminded too: {answer}").format(
                 answer=_("yes") if ann.remind_unanswered else _("no"))]
    rows = [[choice(_("🗓 Change the deadline"), "dl", i), choice(_("⏰ Reminder days"), "rd", i)],
            [choice(_("Remind non-responders: on") if ann.remind_unanswered else _("Remind non-responders: off"),
                    "ru", i)]]
    return lines, rows


async def detail_view(turn: Turn, ann_id: int, *, before: str | None = None, replace: bool = False) -> Reply:
    """One announcement in /broadcasts: its figures and what can be done with it now."""
    _ = turn._
    ann = await svc.get(turn.session, ann_id=ann_id)
    counts = await svc.figures(turn.session, ann_id=ann_id)
    status = AnnouncementStatus(ann.status)
    blocks = [Block(before)] if before else []
    blocks += [Block(Bold(ann.title), "\n", " · ".join([_(KIND_LABELS[AnnouncementKind(ann.kind)]),
                                                       _(ANNOUNCEMENT_STATUS_LABELS[status])]))]
    if counts["total"]:
        blocks.append(Block(svc.progress_text(ann, counts, turn.app.settings.send_rate, _)))
    i = ann.id or 0
    rows: list[list[Choice]] = []
    if status is AnnouncementStatus.SENDING:
        rows.append([choice(_("⏹ Stop sending"), "stop", i)])
    if status in (AnnouncementStatus.DRAFT, AnnouncementStatus.SCHEDULED):
        rows.append([choice(_("👁 Preview"), "pv", i), choice(_("✏️ Edit"), "ed", i)])
        rows.append([choice(_("✖ Cancel the announcement"), "x", i)])
    if status in (AnnouncementStatus.SENDING, AnnouncementStatus.SENT):
        lines, reminder_rows = _reminder_lines(turn, ann)
        if lines:
            blocks.append(Block("\n".join(lines)))
        rows += reminder_rows
        rows.append([choice(_("✖ Withdraw (no more sign-ups or reminders)"), "wd", i)])
    if status is AnnouncementStatus.SENT and counts["failed"]:
        rows.append([choice(_("🔁 Resend to the {n} who failed").format(n=counts["failed"]), "rsf", i)])
    if status is AnnouncementStatus.SENT and counts["unknown"]:
        rows.append([choice(_("⚠️ Resend to the {n} with unknown delivery…").format(n=counts["unknown"]), "rsu", i)])
    if ann.kind in SIGNUP_KINDS and status in (AnnouncementStatus.SENDING, AnnouncementStatus.SENT,
                                               AnnouncementStatus.STOPPED):
        rows.append([choice(_("📋 Sign-ups"), "su", i), choice(_("⬇ Sign-ups (CSV)"), "csv", i)])
    return Reply.of(*blocks, choices=rows, replace_previous=replace)


# --- commands ------------------------------------------------------------------------------------


async def announce(turn: Turn, action: Action) -> None:
    """/announce: the announcement form (staff only)."""
    if await staff_actor(turn, action) is not None:
        await forms.start(turn, form="announce")


async def broadcasts(turn: Turn, action: Action) -> None:
    """/broadcasts: past, running and scheduled announcements with their figures (staff only)."""
    if await staff_actor(turn, action) is None:
        return
    _ = turn._
    items = await svc.recent(turn.session, limit=10)
    if not items:
        turn.say(_("No announcements yet. Create one with /announce."))
        return
    blocks = [Block(Bold(_("Announcements")))]
    rows = []
    for ann in items:
        counts = await svc.figures(turn.session, ann_id=ann.id or 0)
        line: list[Any] = ["• ", Bold(ann.title), " — ", _(ANNOUNCEMENT_STATUS_LABELS[AnnouncementStatus(ann.status)])]
        if ann.status == AnnouncementStatus.SCHEDULED and ann.scheduled_at:
            line.append(" " + format_datetime(ann.scheduled_at.astimezone(turn.app.tz)))
        if counts["total"]:
            line.append("\n  " + _("sent {sent}/{total}, blocked {blocked}, failed {failed}, unknown {unknown}").format(
                sent=counts["sent"], total=counts["total"], blocked=counts["blocked"], failed=counts["failed"],
                unknown=counts["unknown"]))
        blocks.append(Block(*line))
        rows.append([choice(shorten(ann.title, TITLE_IN_LIST), "o", ann.id or 0)])
    turn.add(Reply.of(*blocks, choices=rows))


# --- form completers -----------------------------------------------------------------------------


@on_complete("announce")
async def composed(run: FormRun, data: dict[str, Any]) -> None:
    if run.context.get("ann_id"):
        ann = await svc.update_content(run.session, clock=run.app.clock, ann_id=run.context["ann_id"], data=data)
    else:
        ann = await svc.create(run.session, clock=run.app.clock, author=run.user, data=data)
    run.say(await audience_view(run.turn, ann))


@on_complete("ann_commune")
async def commune_added(run: FormRun, data: dict[str, Any]) -> None:
    ann = await svc.get_editable(run.session, ann_id=run.context["ann_id"])
    aud = svc.Audience.of(ann.audience)
    if int(data["commune"]) not in aud.communes:
        aud.communes.append(int(data["commune"]))
    ann = await svc.set_audience(run.session, clock=run.app.clock, ann_id=ann.id or 0, audience=aud)
    run.say(await audience_view(run.turn, ann))


@on_complete("new_deadline")
@on_complete("reminder_days")
async def reminders_changed(run: FormRun, data: dict[str, Any]) -> None:
    ann = await svc.change_reminders(
        run.session, clock=run.app.clock, tz=run.app.tz, ann_id=run.context["ann_id"],
        deadline_on=date.fromisoformat(data["deadline_on"]) if "deadline_on" in data else None,
        reminder_days=data.get("days"),
    )
    run.say(await detail_view(run.turn, ann.id or 0, before=run.turn._("Saved. Reminders have been rescheduled.")))


@on_complete("schedule")
async def scheduled(run: FormRun, data: dict[str, Any]) -> None:
    """The time typed: scheduled at once, or first the questions of `go_ahead`."""
    await go_ahead(run.turn, run.context["ann_id"], when=datetime.fromisoformat(data["when"]))


# --- before sending: quiet hours, then a large audience -------------------------------------------------


def _local(turn: Turn, when: datetime) -> str:
    return format_datetime(when.astimezone(turn.app.tz))


def _count(turn: Turn, n: int) -> str:
    """A number of people in the reader's way: 1.234 in Vietnamese, 1,234 in English."""
    return format_decimal(n, locale=turn.locale)


def _at(when: datetime, answers: str = "") -> str:
    """The "at" choice's argument value for a time and the answers already given."""
    return f"{int(when.timestamp())}{answers}"


def _yes(turn: Turn, ann_id: int, when: datetime | None, answers: str, label: str | None = None) -> Choice:
    """Go on (send now, or schedule at `when`) with one more question answered."""
    label = label or turn._("✅ Yes")
    return choice(label, "go", ann_id, answers) if when is None else choice(label, "at", ann_id, _at(when, answers))


def _quiet_question(turn: Turn, ann_id: int, when: datetime | None, answers: str) -> Reply | None:
    _, settings = turn._, turn.app.settings
    quiet = svc.QuietHours(settings.quiet_start, settings.quiet_end)
    local = (when or turn.app.clock.now()).astimezone(turn.app.tz)
    if QUIET_OK in answers or not quiet.contains(local):
        return None
    morning = quiet.next_allowed(local)
    if when is None:
        warning = _("🌙 Sending now ({time}) falls in quiet hours ({hours}); people may be asleep.").format(
            time=local.strftime("%H:%M"), hours=quiet.label())
        keep = _yes(turn, ann_id, None, answers + QUIET_OK, _("Send now anyway"))
    else:
        warning = _("🌙 {when} falls in quiet hours ({hours}); people may be asleep.").format(
            when=_local(turn, when), hours=quiet.label())
        keep = _yes(turn, ann_id, when, answers + QUIET_OK, _("Keep {when} anyway").format(when=_local(turn, when)))
    return Reply.of(warning, choices=[
        [choice(_("🌅 Send at {time} on {date}").format(time=morning.strftime("%H:%M"),
                                                       date=format_date(morning)),
                "at", ann_id, _at(morning, answers))],
        [keep],
        [choice(_("🕒 Choose another time"), "sc", ann_id)],
    ])


def _size_question(turn: Turn, ann_id: int, when: datetime | None, answers: str,
                   channels: Counter[str]) -> Reply | None:
    _, size = turn._, sum(channels.values())
    if SIZE_OK in answers or not svc.needs_confirmation(size, above=turn.app.settings.broadcast_confirm_above):
        return None
    question = _("Send to {n} people?") if when is None else _("Send to {n} people on {when}?")
    return Reply.of(question.format(n=_count(turn, size), when=_local(turn, when or turn.app.clock.now())),
                    choices=[[_yes(turn, ann_id, when, answers + SIZE_OK), choice(_("✖ No"), "no", ann_id)]])


async def _quota_question(turn: Turn, ann_id: int, when: datetime | None, answers: str,
                          channels: Counter[str]) -> Reply | None:
    """Zalo's plan allows so many messages a month (ZALO_MONTHLY_QUOTA): say so before a broadcast needing more."""
    _, settings = turn._, turn.app.settings
    on_zalo = channels.get("zalo", 0)
    if QUOTA_OK in answers:
        return None
    used = await svc.quota_shortfall(turn.session, channels=channels, quota=settings.zalo_monthly_quota,
                                     moment=turn.app.clock.now(), tz=turn.app.tz)
    if used is None or used.left is None:
        return None
    text = _("⚠️ {n} recipients are on Zalo, but only {left} of this month's {quota} Zalo messages are left "
             "({sent} sent). Zalo may refuse the rest: they will be counted as failed and can be resent next "
             "month.").format(n=_count(turn, on_zalo), left=_count(turn, used.left),
                              quota=_count(turn, used.quota), sent=_count(turn, used.sent))
    return Reply.of(text, choices=[[_yes(turn, ann_id, when, answers + QUOTA_OK, _("Send anyway")),
                                    choice(_("✖ No"), "no", ann_id)]])


async def go_ahead(turn: Turn, ann_id: int, *, when: datetime | None = None, answers: str = "") -> None:
    """Send now (`when` None) or schedule at `when` — after the questions staff have not answered yet: a time in
    the quiet hours (QUIET_START–QUIET_END), an audience above BROADCAST_CONFIRM_ABOVE (counted as the audience
    view counts it), more Zalo recipients than the month's Zalo quota has left. Each question's choices carry the
    answers given so far."""
    _ = turn._
    ann = await svc.get_editable(turn.session, ann_id=ann_id)
    if when is not None:
        svc.check_future(when, now=turn.app.clock.now())
    question = _quiet_question(turn, ann_id, when, answers)
    if question is None:
        channels = await svc.audience_channels(turn.session, audience=svc.Audience.of(ann.audience), kind=ann.kind,
                                               admin_ids=turn.app.settings.admin_ids)
        question = _size_question(turn, ann_id, when, answers, channels) or \
            await _quota_question(turn, ann_id, when, answers, channels)
    if question is not None:
        turn.add(question)
        return
    if when is None:
        await _start(turn, ann_id)
        return
    ann = await svc.schedule(turn.session, clock=turn.app.clock, ann_id=ann_id, when=when)
    text = _("🕒 “{title}” will be sent on {when}. You can change or cancel it in /broadcasts.")
    turn.add(Reply.of(text.format(title=ann.title, when=_local(turn, when))))


# --- the staff's choices, one function per verb ---------------------------------------------------


async def staff_choice(turn: Turn, action: ChooseEvent) -> None:
    """Every staff choice of the announcement flow and of /broadcasts: checked, then its verb's function."""
    verb, _sep, rest = action.arg.partition(":")
    raw_id, _sep, value = rest.partition(":")
    ann_id = whole_number(raw_id)
    handler = VERBS.get(verb)
    if handler is None or ann_id is None:
        not_found(turn, action)
        return
    staff = await staff_actor(turn, action)
    if staff is not None:
        await handler(turn, staff, ann_id, value)


async def _toggle(turn: Turn, ann_id: int, change: Callable[[svc.Audience], bool], *, sectors: bool = False) -> None:
    ann = await svc.get_editable(turn.session, ann_id=ann_id)
    aud = svc.Audience.of(ann.audience)
    if change(aud):
        ann = await svc.set_audience(turn.session, clock=turn.app.clock, ann_id=ann_id, audience=aud)
    turn.add(await audience_view(turn, ann, sectors=sectors, replace=True))


def _flip(items: list[str], item: str) -> list[str]:
    return [x for x in items if x != item] if item in items else [*items, item]


async def toggle_role(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    def change(aud: svc.Audience) -> bool:
        if value not in AUDIENCE_ROLES:
            return False
        aud.roles = _flip(aud.roles, value)
        return True
    await _toggle(turn, ann_id, change)


async def remove_commune(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    code = whole_number(value)

    def change(aud: svc.Audience) -> bool:
        aud.communes = [c for c in aud.communes if c != code]
        return True
    await _toggle(turn, ann_id, change)


async def toggle_topic(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    def change(aud: svc.Audience) -> bool:
        aud.by_topic = not aud.by_topic
        return True
    await _toggle(turn, ann_id, change)


async def toggle_sector(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    def change(aud: svc.Audience) -> bool:
        if value not in SECTOR_LABELS:
            return False
        aud.sectors = _flip(aud.sectors, value)
        return True
    await _toggle(turn, ann_id, change, sectors=True)


async def show_audience(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    turn.add(await audience_view(turn, await svc.get_editable(turn.session, ann_id=ann_id)))


async def show_sectors(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    ann = await svc.get_editable(turn.session, ann_id=ann_id)
    turn.add(await audience_view(turn, ann, sectors=True, replace=True))


async def add_commune(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    await svc.get_editable(turn.session, ann_id=ann_id)
    await forms.start(turn, form="ann_commune", context={"ann_id": ann_id})


async def preview(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    """Exactly what a facility will see (its choices inert), then the size (by channel), the time, what is
    left of Zalo's monthly quota, and the actions."""
    _, settings = turn._, turn.app.settings
    ann = await svc.get_editable(turn.session, ann_id=ann_id)
    turn.add(svc.reply_of(ann, Role.USER, _, inert=True))
    channels = await svc.audience_channels(turn.session, audience=svc.Audience.of(ann.audience), kind=ann.kind,
                                           admin_ids=settings.admin_ids)
    size, on_zalo = sum(channels.values()), channels.get("zalo", 0)
    seconds = max(svc.estimated_seconds(size - on_zalo, settings.send_rate),
                  svc.estimated_seconds(on_zalo, settings.zalo_send_rate))
    text = _("👆 This is how it will look.\n👥 {n} recipients · about {eta} to deliver.").format(
        n=_count(turn, size), eta=svc.eta_text(seconds, _))
    lines = [text]
    if len(channels) > 1 or on_zalo:
        lines.append(" · ".join(f"{CHANNEL_NAMES.get(c, c)}: {_count(turn, n)}" for c, n in sorted(channels.items())))
    if on_zalo and settings.zalo_monthly_quota:
        used = await usage.of_month(turn.session, channel="zalo", moment=turn.app.clock.now(),
                                    quota=settings.zalo_monthly_quota, tz=turn.app.tz)
        lines.append(_("Zalo this month: {sent} of {quota} messages used, {left} left.").format(
            sent=_count(turn, used.sent), quota=_count(turn, used.quota), left=_count(turn, used.left or 0)))
    turn.add(Reply.of("\n".join(lines), choices=_control_choices(turn, ann_id)))


async def test_copy(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    await svc.send_test_copy(turn.session, clock=turn.app.clock, ann_id=ann_id, staff=staff.user, translate=turn._)
    turn.say(turn._("A test copy is on its way to you."), notice=True)


async def send_now(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    """"Send now", and "send now anyway" / "yes" after a question (`value`: the answers given)."""
    if value:
        turn.add(Reply(retire_previous=True))  # the question is answered: its choices go
    await go_ahead(turn, ann_id, answers="".join(a for a in (QUIET_OK, SIZE_OK, QUOTA_OK) if a in value))


async def send_at(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    """A time chosen in answer to a question (the end of the quiet hours, or the typed time kept anyway)."""
    match = AT_VALUE.fullmatch(value)
    if match is None:
        raise NotFound()
    turn.add(Reply(retire_previous=True))
    when = datetime.fromtimestamp(int(match.group(1)), UTC)
    await go_ahead(turn, ann_id, when=when, answers=match.group(2))


async def not_now(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    """"No" to the audience's size or to the Zalo quota: nothing is sent or changed; the announcement's actions
    are offered again."""
    _ = turn._
    ann = await svc.get_editable(turn.session, ann_id=ann_id)
    turn.add(Reply(retire_previous=True))
    if ann.status == AnnouncementStatus.SCHEDULED and ann.scheduled_at:
        text = _("Nothing was changed: “{title}” is still scheduled for {when}.").format(
            title=ann.title, when=_local(turn, ann.scheduled_at))
    else:
        text = _("Nothing was sent: “{title}” is still a draft.").format(title=ann.title)
    turn.add(Reply.of(text, choices=_control_choices(turn, ann_id)))


async def _start(turn: Turn, ann_id: int) -> None:
    """Start sending; on Telegram the scheduler then keeps one progress message up to date."""
    _ = turn._
    progress = (turn.who.external_id, None) if turn.caps.edit else None
    ann = await svc.start(turn.session, clock=turn.app.clock, ann_id=ann_id, translate=turn.app.translate,
                          default_locale=turn.app.settings.default_locale, admin_ids=turn.app.settings.admin_ids,
                          progress=progress)
    counts = await svc.figures(turn.session, ann_id=ann_id)
    turn.say(_("📨 Preparing to send “{title}”…").format(title=ann.title),
             svc.progress_text(ann, counts, turn.app.settings.send_rate, _))


async def schedule(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    await svc.get_editable(turn.session, ann_id=ann_id)
    await forms.start(turn, form="schedule", context={"ann_id": ann_id})


async def edit(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    ann = await svc.get_editable(turn.session, ann_id=ann_id)
    await forms.start(turn, form="announce", data=svc.form_data(ann), context={"ann_id": ann_id})


async def cancel(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    ann = await svc.cancel(turn.session, clock=turn.app.clock, ann_id=ann_id)
    turn.say(turn._("“{title}” has been cancelled; nothing was sent.").format(title=ann.title))


async def stop(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    cancelled = await svc.stop(turn.session, clock=turn.app.clock, ann_id=ann_id)
    turn.say(turn._("⏹ Broadcast stopped. {n} remaining messages were cancelled.").format(n=cancelled))


async def change_deadline(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    await svc.get(turn.session, ann_id=ann_id)
    await forms.start(turn, form="new_deadline", context={"ann_id": ann_id})


async def change_reminder_days(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    await svc.get(turn.session, ann_id=ann_id)
    await forms.start(turn, form="reminder_days", context={"ann_id": ann_id})


async def toggle_remind_unanswered(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    ann = await svc.get(turn.session, ann_id=ann_id)
    await svc.change_reminders(turn.session, clock=turn.app.clock, tz=turn.app.tz, ann_id=ann_id,
                               remind_unanswered=not ann.remind_unanswered)
    turn.say(turn._("Saved."), notice=True)
    turn.add(await detail_view(turn, ann_id, replace=True))


async def withdraw(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    ann = await svc.withdraw(turn.session, clock=turn.app.clock, ann_id=ann_id)
    turn.say(turn._("“{title}” has been withdrawn: sign-up is closed and no reminders will be sent.")
             .format(title=ann.title))


async def open_one(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    turn.add(await detail_view(turn, ann_id))


async def resend_failed(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    queued = await svc.resend(turn.session, clock=turn.app.clock, ann_id=ann_id)
    turn.say(turn._("🔁 {n} messages are queued again; the progress message will show the result.").format(n=queued))


async def resend_unknown(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    """Those with unknown delivery only after a second, explicit confirmation: some may get it twice."""
    _ = turn._
    if value != "yes":
        counts = await svc.figures(turn.session, ann_id=ann_id)
        warning = _("⚠️ {n} messages may or may not have arrived (the connection broke while they were being sent). "
                    "Telegram cannot tell us which. If you resend, some of these people will get a second copy.")
        turn.add(Reply.of(warning.format(n=counts["unknown"]),
                          choices=[[choice(_("Resend anyway (some may get it twice)"), "rsu", ann_id, "yes")]]))
        return
    queued = await svc.resend(turn.session, clock=turn.app.clock, ann_id=ann_id, include_unknown=True)
    turn.say(_("🔁 {n} messages are queued again; the progress message will show the result.").format(n=queued))


async def show_signups(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    """The sign-ups, one block each (each answer under its question); the rest in the CSV."""
    _ = turn._
    ann = await svc.get(turn.session, ann_id=ann_id)
    entries = await svc.signups(turn.session, ann_id=ann_id)
    signed = [(s, u, f) for s, u, f in entries if s.status == "signed_up"]
    heading = _("<b>Sign-ups for “{title}”</b>: {n} signed up, {d} not interested").format(
        title=escape(ann.title), n=len(signed), d=len(entries) - len(signed))
    blocks = [html(heading)]
    seats = await places.places(turn.session, ann=ann)
    if seats.capacity is not None:
        blocks.append(Block(_("Places: {taken} of {capacity} taken, {waiting} on the waiting list.").format(
            taken=len(seats.holders), capacity=seats.capacity, waiting=len(seats.waiting))))
    for signup, user, facility in signed[:SIGNUPS_SHOWN]:
        who = facility.name if facility else (user.full_name if user and user.full_name else "—")
        phone = format_phone(user.phone) if user and user.phone else ""
        lines: list[Any] = ["• ", Bold(who), f" {phone}".rstrip(),
                            f" — {_(PARTICIPANT_STATUS_LABELS[ParticipantStatus(signup.participant_status)])}"]
        if (position := seats.position(signup.id)) is not None:
            lines.append(" · " + _("waiting list: number {n}").format(n=position))
        blocks.append(Block(*lines, *answers_under_questions(ann.questions, signup.answers, _)))
    if len(signed) > SIGNUPS_SHOWN:
        blocks.append(Block(_("… and {n} more: see the CSV.").format(n=len(signed) - SIGNUPS_SHOWN)))
    turn.add(Reply.of(*blocks))


async def signups_csv(turn: Turn, staff: Actor, ann_id: int, value: str) -> None:
    _ = turn._
    ann = await svc.get(turn.session, ann_id=ann_id)
    if not turn.caps.documents:
        turn.say(_("Files cannot be sent here. Open /broadcasts on Telegram (or the staff console) to download "
                   "the sign-ups."))
        return
    data = await svc.signups_csv(turn.session, ann=ann, communes=turn.app.communes, tz=turn.app.tz, translate=_)
    name = f"dang-ky_{shorten(ann.title, 40)}_{ann.id}.csv".replace(" ", "-").replace("/", "-")
    turn.add(Reply.of(ann.title, file=FileData(name, data)))


VERBS: dict[str, Verb] = {
    "r": toggle_role, "cr": remove_commune, "t": toggle_topic, "s": toggle_sector,
    "au": show_audience, "sm": show_sectors, "ca": add_commune, "pv": preview, "tc": test_copy,
    "go": send_now, "at": send_at, "no": not_now, "sc": schedule, "ed": edit, "x": cancel, "stop": stop,
    "dl": change_deadline, "rd": change_reminder_days, "ru": toggle_remind_unanswered, "wd": withdraw,
    "o": open_one, "rsf": resend_failed, "rsu": resend_unknown, "su": show_signups, "csv": signups_csv,
}


def register(flows: Flows) -> None:
    flows.command("announce")(announce)
    flows.command("broadcasts")(broadcasts)
    flows.action(A.ANNOUNCE)(staff_choice)
