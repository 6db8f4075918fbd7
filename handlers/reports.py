"""Collaborator reports: staff set deadlines (/reportschedule) and watch who reported (/reports);
collaborators answer /report."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import AppContext
from bot.domain import Role, shown
from bot.errors import NotFound, PermissionDenied
from bot.i18n_marker import N_
from bot.services import exports, reminders
from bot.services.validation import format_phone
from handlers.callbacks import ReportCb
from handlers.common import ensure_staff, staff_actor
from handlers.forms import FormRun, on_complete, start_form
from handlers.keyboards import inline
from storage.models import ReportSchedule, User

router = Router(name="reports")
EXPORT_HEADERS = (N_("Commune/ward"), N_("Collaborator"), N_("Phone"), N_("Reported"), N_("Facilities visited"),
                  N_("Needs collected"), N_("Notes"))


@router.message(Command("reportschedule"))
async def new_schedule(message: Message, app: AppContext, session: AsyncSession, user: User | None, role: Role,
                       i18n: I18n) -> None:
    """/reportschedule: define a recurring report deadline for collaborators (staff only)."""
    staff = await staff_actor(app=app, session=session, user=user, role=role, tg_user=message.from_user,
                              locale=i18n.current_locale)
    await start_form(message, app=app, session=session, user=staff.user, form="report_schedule")


@on_complete("report_schedule")
async def schedule_created(run: FormRun, data: dict[str, Any]) -> None:
    schedule = await reminders.create_schedule(run.session, clock=run.app.clock, author=run.user, data=data)
    await reminders.plan_reports(run.session, clock=run.app.clock, tz=run.app.tz)
    deadline = reminders.next_deadline(schedule, run.app.today())
    await run.reply(_("Saved. Next deadline: {date}. Collaborators will be reminded {days} days before.").format(
        date=deadline.strftime("%d/%m/%Y"), days=", ".join(str(d) for d in schedule.reminder_days)))


@router.message(Command("report"))
async def report(message: Message, app: AppContext, session: AsyncSession, user: User | None, role: Role) -> None:
    """/report: a collaborator's periodic report."""
    if user is None or role is not Role.COLLABORATOR:
        raise PermissionDenied(N_("Only collaborators send periodic reports."))
    schedules = await reminders.active_schedules(session)
    if not schedules:
        await message.answer(_("There is no report due at the moment."))
        return
    if len(schedules) == 1:
        await _start_report(message, app, session, user, schedules[0])
        return
    await message.answer(_("Which report?"), reply_markup=inline(
        [[(s.title, ReportCb(action="f", id=s.id or 0).pack())] for s in schedules]))


async def _start_report(message: Message, app: AppContext, session: AsyncSession, user: User,
                        schedule: ReportSchedule) -> None:
    deadline = reminders.next_deadline(schedule, app.today())
    period = reminders.period_of(schedule, deadline)
    await start_form(message, app=app, session=session, user=user, form="report",
                     context={"schedule_id": schedule.id},
                     intro=_("Report “{title}” for {period} (due {date}).").format(
                         title=escape(schedule.title), period=period, date=deadline.strftime("%d/%m/%Y")))


@on_complete("report")
async def report_sent(run: FormRun, data: dict[str, Any]) -> None:
    sub = await reminders.submit_report(run.session, clock=run.app.clock, tz=run.app.tz, user=run.user,
                                        schedule_id=run.context["schedule_id"], data=data)
    await run.reply(_("Thank you! Your report for {period} has been received.").format(period=sub.period))


@router.message(Command("reports"))
async def reports_status(message: Message, app: AppContext, session: AsyncSession, role: Role) -> None:
    """/reports: who has and has not reported for the current period, by commune (staff only)."""
    ensure_staff(role)
    schedules = await reminders.active_schedules(session)
    if not schedules:
        await message.answer(_("No report deadlines yet. Create one with /reportschedule."))
        return
    for schedule in schedules:
        period, deadline, rows = await reminders.report_status(session, schedule=schedule, today=app.today())
        done = sum(1 for _u, sub in rows if sub is not None)
        lines = [_("<b>{title}</b> — {period}, due {date}: {done} of {total} reported").format(
            title=escape(schedule.title), period=period, date=deadline.strftime("%d/%m/%Y"), done=done,
            total=len(rows))]
        for person, sub in rows:
            mark = "✅" if sub is not None else "❌"
            lines.append(f"{mark} {escape(app.communes.name(person.commune_code))} — {escape(person.full_name or '')}")
        await message.answer("\n".join(lines[:60]), reply_markup=inline(
            [[(_("⬇ Export (CSV)"), ReportCb(action="csv", id=schedule.id or 0).pack())]]))


@router.callback_query(ReportCb.filter())
async def report_press(query: CallbackQuery, callback_data: ReportCb, app: AppContext, session: AsyncSession,
                       user: User | None, role: Role) -> None:
    """Report buttons: a collaborator picks a report; staff export the status."""
    # Who may press comes first: a refusal must not tell whether the schedule exists.
    if callback_data.action == "f":
        if user is None or role is not Role.COLLABORATOR:
            raise PermissionDenied(N_("Only collaborators send periodic reports."))
        schedule = await reminders.get_schedule(session, schedule_id=callback_data.id)
        if not schedule.active:
            raise NotFound()
        await query.answer()
        await _start_report(query.message, app, session, user, schedule)
        return
    ensure_staff(role)
    if callback_data.action != "csv":
        raise NotFound()
    schedule = await reminders.get_schedule(session, schedule_id=callback_data.id)
    period, _deadline, rows = await reminders.report_status(session, schedule=schedule, today=app.today())

    def vi(msgid: str) -> str:
        # Exports use the centre's Vietnamese headers, whoever asks.
        return app.i18n.gettext(msgid, locale="vi")

    data = exports.csv_bytes([vi(h) for h in EXPORT_HEADERS], [
        [app.communes.name(person.commune_code), person.full_name, format_phone(person.phone),
         vi(N_("yes")) if sub else vi(N_("no")), sub.facilities_visited if sub else None,
         sub.needs_collected if sub else None, shown(sub.notes, vi) if sub else None]
        for person, sub in rows])
    await query.answer()
    await query.message.answer_document(BufferedInputFile(data, filename=f"bao-cao-ctv-{period}.csv"))
