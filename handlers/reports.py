"""Collaborator reports, on every channel: staff set deadlines (/reportschedule) and watch who reported
(/reports, a page at a time, with a CSV export on channels that take files); collaborators answer /report."""

from __future__ import annotations

from html import escape
from typing import Any

from bot.conversation import actions as A
from bot.conversation.events import Action, ChooseEvent
from bot.conversation.form_view import shorten
from bot.conversation.pipeline import Flows, Turn
from bot.conversation.replies import Block, Choice, FileData, Reply, from_staff_html
from bot.domain import Role, shown
from bot.errors import NotFound
from bot.i18n_marker import N_
from bot.services import exports, reminders
from bot.services.validation import format_date, format_phone
from handlers import forms
from handlers.forms import FormRun, on_complete
from handlers.staff import not_found, refuse, staff_actor, whole_number
from storage.models import ReportSchedule, ReportSubmission, User

PAGE = 25  # collaborators on one page of /reports
LABEL_LIMIT = 60
ONLY_COLLABORATORS = N_("Only collaborators send periodic reports.")
NO_FILES = N_("Exports are files, and files cannot be sent on this channel. Open /reports on Telegram to get "
              "the CSV file.")
EXPORT_HEADERS = (N_("Commune/ward"), N_("Collaborator"), N_("Phone"), N_("Reported"), N_("Facilities visited"),
                  N_("Needs collected"), N_("Notes"))


async def new_schedule(turn: Turn, action: Action) -> None:
    """/reportschedule: define a recurring report deadline for collaborators (staff only)."""
    if await staff_actor(turn, action) is None:
        return
    await forms.start(turn, form="report_schedule")


@on_complete("report_schedule")
async def schedule_created(run: FormRun, data: dict[str, Any]) -> None:
    schedule = await reminders.create_schedule(run.session, clock=run.app.clock, author=run.user, data=data)
    await reminders.plan_reports(run.session, clock=run.app.clock, tz=run.app.tz)
    deadline = reminders.next_deadline(schedule, run.app.today())
    run.say(Reply.of(run.turn._("Saved. Next deadline: {date}. Collaborators will be reminded {days} days before.")
                     .format(date=format_date(deadline),
                             days=", ".join(str(d) for d in schedule.reminder_days))))


# --- a collaborator's report -------------------------------------------------------------------------


async def report(turn: Turn, action: Action) -> None:
    """/report: a collaborator's periodic report (a choice of report when several are due)."""
    if turn.user is None or turn.role is not Role.COLLABORATOR:
        refuse(turn, action, ONLY_COLLABORATORS)
        return
    schedules = await reminders.active_schedules(turn.session)
    if not schedules:
        turn.say(turn._("There is no report due at the moment."))
        return
    if len(schedules) == 1:
        await _start_report(turn, schedules[0])
        return
    turn.add(Reply.of(turn._("Which report?"), choices=[
        [Choice(shorten(s.title, LABEL_LIMIT), A.REPORT_FILL, str(s.id))] for s in schedules]))


async def fill_report(turn: Turn, action: ChooseEvent) -> None:
    """A report chosen under /report."""
    # Who may choose comes first: a refusal must not tell whether the schedule exists.
    if turn.user is None or turn.role is not Role.COLLABORATOR:
        refuse(turn, action, ONLY_COLLABORATORS)
        return
    schedule = await _schedule(turn, action.arg)
    if schedule is None or not schedule.active:
        not_found(turn, action)
        return
    await _start_report(turn, schedule)


async def _start_report(turn: Turn, schedule: ReportSchedule) -> None:
    deadline = reminders.next_deadline(schedule, turn.app.today())
    period = reminders.period_of(schedule, deadline)
    intro = turn._("Report “{title}” for {period} (due {date}).").format(
        title=escape(schedule.title), period=period, date=format_date(deadline))
    await forms.start(turn, form="report", context={"schedule_id": schedule.id}, intro=Block(*from_staff_html(intro)))


@on_complete("report")
async def report_sent(run: FormRun, data: dict[str, Any]) -> None:
    sub = await reminders.submit_report(run.session, clock=run.app.clock, tz=run.app.tz, user=run.user,
                                        schedule_id=run.context["schedule_id"], data=data)
    run.say(Reply.of(run.turn._("Thank you! Your report for {period} has been received.").format(period=sub.period)))


# --- staff: who reported ---------------------------------------------------------------------------------



async def _schedule(turn: Turn, raw_id: str) -> ReportSchedule | None:
    schedule_id = whole_number(raw_id)
    if schedule_id is None:
        return None
    try:
        return await reminders.get_schedule(turn.session, schedule_id=schedule_id)
    except NotFound:
        return None


async def _status_reply(turn: Turn, schedule: ReportSchedule, page: int, *, replace_previous: bool = False) -> Reply:
    _, app = turn._, turn.app
    period, deadline, rows = await reminders.report_status(turn.session, schedule=schedule, today=app.today())
    done = sum(1 for _u, sub in rows if sub is not None)
    pages = max(1, -(-len(rows) // PAGE))
    page = min(page, pages - 1)
    title = _("<b>{title}</b> — {period}, due {date}: {done} of {total} reported").format(
        title=escape(schedule.title), period=period, date=format_date(deadline), done=done, total=len(rows))
    lines = [f"{'✅' if sub is not None else '❌'} {app.communes.name(person.commune_code)} — {person.full_name or ''}"
             for person, sub in rows[page * PAGE:(page + 1) * PAGE]]
    blocks = [Block(*from_staff_html(title))]
    if lines:
        blocks.append(Block("\n".join(lines)))
    if pages > 1:
        blocks.append(Block(_("Page {page} of {pages}").format(page=page + 1, pages=pages)))
    nav = []
    if page > 0:
        nav.append(Choice(_("◀ Previous"), A.REPORT_PAGE, f"{schedule.id}|{page - 1}"))
    if page + 1 < pages:
        nav.append(Choice(_("Next ▶"), A.REPORT_PAGE, f"{schedule.id}|{page + 1}"))
    choices = [nav, [Choice(_("⬇ Export (CSV)"), A.REPORT_EXPORT, str(schedule.id))]]
    return Reply.of(*blocks, choices=choices, replace_previous=replace_previous)


async def reports_status(turn: Turn, action: Action) -> None:
    """/reports: who has and has not reported for the current period, by commune (staff only)."""
    if await staff_actor(turn, action) is None:
        return
    schedules = await reminders.active_schedules(turn.session)
    if not schedules:
        turn.say(turn._("No report deadlines yet. Create one with /reportschedule."))
        return
    for schedule in schedules:
        turn.add(await _status_reply(turn, schedule, 0))


async def status_page(turn: Turn, action: ChooseEvent) -> None:
    """Another page of one schedule's status under /reports."""
    if await staff_actor(turn, action) is None:
        return
    raw_id, _sep, raw_page = action.arg.partition("|")
    schedule, page = await _schedule(turn, raw_id), whole_number(raw_page, 10_000)
    if schedule is None or page is None:
        not_found(turn, action)
        return
    turn.add(await _status_reply(turn, schedule, page, replace_previous=True))


def status_csv(turn: Turn, rows: list[tuple[User, ReportSubmission | None]]) -> bytes:
    def vi(msgid: str) -> str:
        # Exports use the centre's Vietnamese headers, whoever asks.
        return turn.app.i18n.gettext(msgid, locale="vi")

    return exports.csv_bytes([vi(h) for h in EXPORT_HEADERS], [
        [turn.app.communes.name(person.commune_code), person.full_name, exports.Phone(format_phone(person.phone)),
         vi(N_("yes")) if sub else vi(N_("no")), sub.facilities_visited if sub else None,
         sub.needs_collected if sub else None, shown(sub.notes, vi) if sub else None]
        for person, sub in rows])


async def export_status(turn: Turn, action: ChooseEvent) -> None:
    """Export under /reports: the current period's status as CSV (staff only)."""
    if await staff_actor(turn, action) is None:
        return
    schedule = await _schedule(turn, action.arg)
    if schedule is None:
        not_found(turn, action)
        return
    if not turn.caps.documents:
        turn.say(turn._(NO_FILES))
        return
    period, _deadline, rows = await reminders.report_status(turn.session, schedule=schedule, today=turn.app.today())
    name = exports.file_name(turn.app.i18n.gettext(N_("collaborator reports"), locale="vi"), schedule.title, period)
    turn.add(Reply.of(turn._("Collaborator reports for {period}, for Excel.").format(period=period),
                      file=FileData(name, status_csv(turn, rows))))


def register(flows: Flows) -> None:
    flows.command("reportschedule")(new_schedule)
    flows.command("report")(report)
    flows.command("reports")(reports_status)
    flows.action(A.REPORT_FILL)(fill_report)
    flows.action(A.REPORT_PAGE)(status_page)
    flows.action(A.REPORT_EXPORT)(export_status)
