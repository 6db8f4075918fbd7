"""APScheduler is only the clock: jobs are module-level functions taking primitives, and all
work (outbox rows, later reminders) lives in the database."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.context import AppContext

log = logging.getLogger(__name__)
_APPS: dict[str, AppContext] = {}


def register(app_id: str, app: AppContext) -> None:
    _APPS[app_id] = app


async def deliver_outbox(app_id: str) -> None:
    """Tick: send whatever is due in the outbox (also retries after 429 and network errors)."""
    app = _APPS.get(app_id)
    if app is None or app.outbox is None:
        return
    try:
        await app.outbox.deliver_due()
    except Exception:
        log.exception("outbox tick failed")


def create_scheduler(app_id: str, app: AppContext, *, outbox_interval: float = 2.0) -> AsyncIOScheduler:
    register(app_id, app)
    scheduler = AsyncIOScheduler(timezone=app.settings.tz)
    scheduler.add_job(deliver_outbox, "interval", seconds=outbox_interval, args=[app_id], id="outbox",
                      max_instances=1, coalesce=True, replace_existing=True)
    return scheduler
