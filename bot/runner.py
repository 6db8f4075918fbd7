"""Process entry points: load settings, build, run. Nothing here is imported by tests."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from bot.app import attach_outbox, create_app, create_bot, create_dispatcher, set_command_menu
from bot.clock import SystemClock
from bot.config import Settings
from bot.context import AppContext
from bot.scheduler import create_scheduler, reminders_tick
from storage.db import create_engine

log = logging.getLogger(__name__)


async def migrate_cmd(settings: Settings) -> None:
    from storage.migrate import upgrade_to_head

    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    await engine.dispose()
    log.info("database is at the latest revision")


async def access_cmd(settings: Settings, command: str, arg: str | None) -> str:
    """`access`, `revoke <telegram id>`, `cancel-invite <token>` on the configured database."""
    from bot import console

    await migrate_in_child(settings)
    engine = create_engine(settings.database_url)
    app = create_app(settings, engine)
    try:
        if command == "revoke":
            return await console.revoke(app, arg or "")
        if command == "cancel-invite":
            return await console.cancel_invite(app, arg or "")
        return "\n".join(await console.access_lines(app))
    finally:
        await engine.dispose()


async def make_revision_cmd(settings: Settings, message: str) -> None:
    from storage.migrate import make_revision, upgrade_to_head

    engine = create_engine(settings.database_url)
    await upgrade_to_head(engine)
    await make_revision(engine, message)
    await engine.dispose()


async def migrate_in_child(settings: Settings) -> None:
    """Run the migrations in a short-lived child process: Alembic (~35 MB) never stays in the bot's memory.

    A database already at the latest revision is recognised with one query, so a restart is quick.
    """
    from storage.migrate import is_at_head

    engine = create_engine(settings.database_url)
    try:
        if await is_at_head(engine):
            return
    finally:
        await engine.dispose()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "BOT_TOKEN": settings.bot_token.get_secret_value()}
    child = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "migrate", env=env)
    if await child.wait() != 0:
        raise SystemExit("database migration failed (see above)")


async def run(settings: Settings, *, seed_demo: bool = False) -> None:
    """Migrate, build, poll until stopped (Ctrl-C / SIGTERM)."""
    clock = SystemClock()
    await migrate_in_child(settings)
    engine = create_engine(settings.database_url)
    app = create_app(settings, engine, clock=clock)
    if seed_demo:
        await seed_if_empty(app)
    bot = create_bot(settings, clock)
    # The outbox uses its own Bot without in-request flood retries: a 429 reschedules the row instead.
    outbox_bot = create_bot(settings, clock, retry_flood=False)
    worker = attach_outbox(app, outbox_bot)
    await worker.recover_interrupted()
    dp = create_dispatcher(settings, app)
    scheduler = create_scheduler("main", app, bot)
    tasks: list[asyncio.Task[None]] = []

    @dp.startup()
    async def on_startup() -> None:
        await set_command_menu(bot, app.i18n, settings.default_locale)
        tasks.append(asyncio.create_task(worker.run()))
        scheduler.start()
        # Catch up at once after downtime: due reminders (still useful ones sent, the rest recorded as missed).
        await reminders_tick("main")
        me = await bot.me()
        app.bot_username = me.username
        log.info("bot @%s is running", me.username)

    @dp.shutdown()
    async def on_shutdown() -> None:
        scheduler.shutdown(wait=False)
        # Sends in flight finish and are recorded before the process exits (SIGTERM/Ctrl-C).
        await worker.stop()
        for task in tasks:
            task.cancel()
        await outbox_bot.session.close()
        await engine.dispose()

    await bot.delete_webhook(drop_pending_updates=False)
    await dp.start_polling(bot, allowed_updates=dp.resolve_used_update_types())


async def seed_if_empty(app: AppContext) -> bool:
    from sqlmodel import select

    from bot.seed import seed
    from storage.models import User

    async with app.session_maker() as session:
        if (await session.exec(select(User).limit(1))).first() is not None:
            return False
        await seed(session, clock=app.clock, communes=app.communes, tz=app.tz)
        await session.commit()
    log.info("sandbox database seeded with demo data")
    return True


async def deliver(settings: Settings) -> None:
    """A sender process only (no polling): several may run against PostgreSQL and share the work."""
    import signal

    clock = SystemClock()
    await migrate_in_child(settings)
    engine = create_engine(settings.database_url)
    app = create_app(settings, engine, clock=clock)
    outbox_bot = create_bot(settings, clock, retry_flood=False)
    worker = attach_outbox(app, outbox_bot)
    await worker.recover_interrupted()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(worker.run(idle=settings.tick_seconds))
    log.info("sender running at %s messages/s", settings.send_rate)
    await stop.wait()
    # Stop claiming; the sends in flight finish and are recorded before we exit.
    await worker.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await outbox_bot.session.close()
    await engine.dispose()
    log.info("sender stopped cleanly")
