"""APScheduler is only the clock: jobs are module-level functions taking primitives, and all work
(outbox rows, scheduled broadcasts, later reminders) lives in the database.

Every process may run a scheduler, but its ticks run only in the one that leads (bot/leader.py: an advisory
lock on PostgreSQL; always on SQLite); waking this process's own outbox sender is not a tick and runs
everywhere."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from bot.context import AppContext
from bot.conversation.replies import Reply
from bot.i18n_marker import N_
from bot.services import announcements as ann_svc
from bot.services import outbox, reminders
from storage import ops_repos, repos
from storage.models import Announcement

if TYPE_CHECKING:
    from bot.leader import Leadership

log = logging.getLogger(__name__)
# How long an update stays marked as handled: Telegram gives up on an update it could not deliver after a day.
SEEN_UPDATES_KEPT = timedelta(days=1)


class ProgressChannel(Protocol):
    """Where staff watch a broadcast: one message posted, then edited (bot.channels.telegram.TelegramProgress)."""

    async def post(self, chat_id: str, reply: Reply) -> int | None: ...

    async def update(self, chat_id: str, message_id: int, reply: Reply) -> bool: ...


@dataclass
class Runtime:
    app: AppContext
    progress: ProgressChannel | None  # Telegram's, for staff's progress messages (None when only Zalo is served)
    # Last progress text shown per announcement, so unchanged figures cost no API call.
    progress_shown: dict[int, str] = field(default_factory=dict)
    leader: Leadership | None = None  # None: this process always leads (tests, one process)

    def leads(self) -> bool:
        return self.leader is None or self.leader.is_leader


_RUNTIMES: dict[str, Runtime] = {}


def register(app_id: str, app: AppContext, progress: ProgressChannel | None,
             leader: Leadership | None = None) -> Runtime:
    _RUNTIMES[app_id] = Runtime(app, progress, leader=leader)
    return _RUNTIMES[app_id]


def _leading(app_id: str, job: str) -> Runtime | None:
    """The runtime when this process leads (the tick is counted), else None: the tick is another's."""
    rt = _RUNTIMES.get(app_id)
    if rt is None or not rt.leads():
        return None
    metrics.scheduler_tick(job)
    return rt


def unregister(app_id: str) -> None:
    _RUNTIMES.pop(app_id, None)


async def wake_outbox(app_id: str) -> None:
    """Tick: rows that became due (retries after 429 or network errors) are picked up."""
    rt = _RUNTIMES.get(app_id)
    if rt is not None and rt.app.outbox is not None:
        rt.app.outbox.notify()


async def broadcasts_tick(app_id: str) -> None:
    """Tick: start scheduled broadcasts that are due; settle rows a dead sender left in `sending`; refresh
    staff progress messages; close finished ones (final report, deadline reminders planned)."""
    rt = _leading(app_id, "broadcasts")
    if rt is None:
        return
    try:
        await start_due_broadcasts(rt)
        if rt.app.outbox is not None:
            # Not only at start-up: after a quick restart, rows of the killed process become stale later.
            await rt.app.outbox.recover_interrupted()
        await refresh_progress(rt)
    except Exception:
        log.exception("broadcast tick failed")


async def start_due_broadcasts(rt: Runtime) -> int:
    app = rt.app
    started = 0
    async with app.session_maker() as session:
        due = await ann_svc.due_scheduled(session, now=app.clock.now())
        ids = [a.id for a in due]
    for ann_id in ids:
        async with app.session_maker() as session:
            # The row lock first: a second process waits here, then finds it started and sends nothing.
            ann = await ann_svc.lock_scheduled(session, ann_id=ann_id or 0)
            if ann is None:
                await session.commit()
                continue
            progress = await _post_preparing(rt, session, ann)
            await ann_svc.start(session, clock=app.clock, ann_id=ann_id or 0, translate=app.translate,
                                default_locale=app.settings.default_locale, admin_ids=app.settings.admin_ids,
                                progress=progress)
            await session.commit()
            started += 1
        if app.outbox is not None:
            app.outbox.notify()
    return started


async def _post_preparing(rt: Runtime, session: AsyncSession, ann: Announcement) -> tuple[str, int] | None:
    """The author's progress message, on Telegram (the one channel that can edit it in place)."""
    author = await repos.get_user_by_id(session, user_id=ann.created_by_user_id or 0)
    if author is None or author.channel != "telegram" or rt.progress is None:
        return None
    text = rt.app.translate(N_("📨 Preparing to send “{title}”…"),
                                  author.locale or rt.app.settings.default_locale).format(title=ann.title)
    message_id = await rt.progress.post(author.external_id, Reply.of(text))
    return (author.external_id, message_id) if message_id is not None else None


async def refresh_progress(rt: Runtime) -> None:
    app = rt.app
    async with app.session_maker() as session:
        paused = await outbox.channel_down(session)
        for ann in await ann_svc.running(session):
            finished = await ann_svc.finish_if_done(session, clock=app.clock, tz=app.tz, ann=ann)
            counts = await ann_svc.figures(session, ann_id=ann.id or 0)
            if finished and not ann.progress_chat_id:
                await _report_by_message(app, session, ann, counts)
            await session.commit()
            if not ann.progress_chat_id or rt.progress is None:
                continue
            author = await repos.get_user_by_id(session, user_id=ann.created_by_user_id or 0)
            locale = author.locale if author else app.settings.default_locale
            text = ann_svc.progress_text(ann, counts, app.settings.send_rate,
                                         lambda m, loc=locale: app.i18n.gettext(m, locale=loc), paused=paused)
            if rt.progress_shown.get(ann.id or 0) == text:
                continue
            if not ann.progress_message_id:  # started from a chat: the progress message is posted now
                ann.progress_message_id = await rt.progress.post(ann.progress_chat_id, Reply.of(text))
                session.add(ann)
                await session.commit()
                rt.progress_shown[ann.id or 0] = text
            elif await rt.progress.update(ann.progress_chat_id, ann.progress_message_id, Reply.of(text)):
                rt.progress_shown[ann.id or 0] = text


async def _report_by_message(app: AppContext, session: AsyncSession, ann: Announcement,
                             counts: dict[str, int]) -> None:
    """A broadcast started where messages cannot be edited (a text channel, the console): its author gets the
    final figures as a message of their own, through the outbox (the start was said when they sent it)."""
    author = await repos.get_user_by_id(session, user_id=ann.created_by_user_id or 0)
    if author is None:
        return
    text = ann_svc.progress_text(ann, counts, app.settings.send_rate,
                                 lambda m, loc=author.locale: app.i18n.gettext(m, locale=loc))
    await outbox.enqueue(session, clock=app.clock, user=author, kind="broadcast_report", reply=Reply.of(text),
                         dedupe_key=f"ann-report:{ann.id}")


async def reminders_tick(app_id: str) -> None:
    """Tick: due reminders become outbox messages (outside quiet hours); report reminders are planned."""
    rt = _leading(app_id, "reminders")
    if rt is None:
        return
    app = rt.app
    try:
        result = await reminders.tick(
            app.session_maker, clock=app.clock, tz=app.tz, translate=app.translate,
            default_locale=app.settings.default_locale,
            quiet=reminders.QuietHours(app.settings.quiet_start, app.settings.quiet_end))
        if result.queued and app.outbox is not None:
            app.outbox.notify()
    except Exception:
        log.exception("reminder tick failed")


async def planning_tick(app_id: str) -> None:
    """Tick: report reminders for the next deadline of every schedule; the staff digest when it is time."""
    rt = _leading(app_id, "planning")
    if rt is None:
        return
    app = rt.app
    try:
        async with app.session_maker() as session:
            await reminders.plan_reports(session, clock=app.clock, tz=app.tz)
            queued = await reminders.digest(session, clock=app.clock, tz=app.tz, translate=app.translate,
                                            default_locale=app.settings.default_locale,
                                            admin_ids=app.settings.admin_ids)
            await session.commit()
        if queued and app.outbox is not None:
            app.outbox.notify()
    except Exception:
        log.exception("planning tick failed")


async def housekeeping_tick(app_id: str) -> None:
    """Tick: forget what went stale (updates handled a day ago, flood buckets full again)."""
    rt = _leading(app_id, "housekeeping")
    if rt is None:
        return
    try:
        await prune(rt.app)
    except Exception:
        log.exception("housekeeping tick failed")


async def prune(app: AppContext) -> tuple[int, int]:
    """Delete the marks of updates handled over SEEN_UPDATES_KEPT ago and the flood buckets untouched for long
    enough to be full again (a minute more, for clocks a little apart); (updates, buckets) deleted."""
    now = app.clock.now()
    settings = app.settings
    full_again = settings.throttle_burst / max(settings.throttle_rate, 1e-3) + 60
    async with app.session_maker() as session:
        updates = await ops_repos.prune_seen_updates(session, before=now - SEEN_UPDATES_KEPT)
        buckets = await ops_repos.prune_throttle(session, before=now.timestamp() - full_again)
        await session.commit()
    if updates or buckets:
        log.info("housekeeping: %d handled updates and %d flood buckets forgotten", updates, buckets)
    return updates, buckets


async def stop_scheduler(scheduler: AsyncIOScheduler, *, grace: float = 10.0) -> None:
    """Stop the clock, let the ticks under way finish (for at most `grace` seconds), then shut the scheduler
    down. APScheduler's asyncio executor cancels running jobs on shutdown, and logs each cancelled one as a
    failed job with its traceback: a tick caught mid-query by every SIGTERM. (Its pending futures are an
    internal of APScheduler 3, pinned < 4.)"""
    scheduler.pause()
    running = [f for executor in scheduler._executors.values()
               for f in getattr(executor, "_pending_futures", ()) if not f.done()]
    if running:
        await asyncio.wait(running, timeout=grace)
    scheduler.shutdown(wait=False)


def create_scheduler(app_id: str, app: AppContext, progress: ProgressChannel | None,
                     leader: Leadership | None = None) -> AsyncIOScheduler:
    register(app_id, app, progress, leader)
    tick = app.settings.tick_seconds
    progress_every = max(tick, 3.0)
    scheduler = AsyncIOScheduler(timezone=app.settings.tz)
    scheduler.add_job(wake_outbox, "interval", seconds=tick, args=[app_id], id="outbox",
                      max_instances=1, coalesce=True, replace_existing=True)
    scheduler.add_job(broadcasts_tick, "interval", seconds=progress_every, args=[app_id], id="broadcasts",
                      max_instances=1, coalesce=True, replace_existing=True)
    scheduler.add_job(reminders_tick, "interval", seconds=tick * 5, args=[app_id], id="reminders",
                      max_instances=1, coalesce=True, replace_existing=True)
    scheduler.add_job(planning_tick, "interval", seconds=60, args=[app_id], id="planning",
                      max_instances=1, coalesce=True, replace_existing=True)
    scheduler.add_job(housekeeping_tick, "interval", seconds=60, args=[app_id], id="housekeeping",
                      max_instances=1, coalesce=True, replace_existing=True)
    return scheduler
