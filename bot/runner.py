"""Process entry points: load settings, build, run. Nothing here is imported by tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from bot.clock import SystemClock
from bot.config import Settings
from bot.startup import (
    connect_zalo,
    finish_migration,
    migrate_in_child,
    open_database,
    settle_memory,
    start_migration,
)

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.channels.zalo.client import ZaloClient
    from bot.channels.zalo.runner import ZaloChannel
    from bot.context import AppContext
    from bot.leader import Leadership
    from bot.web.webhook_routes import Receiver

log = logging.getLogger(__name__)


async def run(settings: Settings, *, seed_demo: bool = False, on_ready: Callable[[], None] | None = None) -> None:
    """Migrate, build, serve every configured channel until stopped (Ctrl-C / SIGTERM). `on_ready` is called
    once polling has begun.

    A database or a channel that cannot be reached stops start-up with one line (StartupError); every
    HTTP session and the engine are closed on every path.
    """
    channels = settings.channels()
    clock = SystemClock()
    migration = await start_migration(settings)
    # aiogram and the handlers take seconds to import: while the migration child runs, on another core.
    from bot.app import create_app

    await finish_migration(migration)
    engine = await open_database(settings.database_url)
    app = create_app(settings, engine, clock=clock)
    from bot import metrics  # after create_app, which imports it anyway

    metrics.expose(settings, app.session_maker, clock)
    settle_memory()
    zalo = None
    try:
        if seed_demo:
            await seed_if_empty(app)
        if "telegram" in channels and settings.telegram_mode == "polling":
            zalo = await connect_zalo(settings) if "zalo" in channels else None
            await _run_telegram(settings, app, engine, clock, zalo, on_ready)
        else:
            async with connected_channels(settings, app) as (bot, outbox_bot, zalo_client):
                await _run_without_polling(settings, app, engine, bot, outbox_bot, zalo_client, on_ready)
    finally:
        if zalo is not None:
            await zalo.close()
        if app.pipeline is not None:
            await app.pipeline.close()
        await engine.dispose()


async def _run_telegram(settings: Settings, app: AppContext, engine: AsyncEngine, clock: SystemClock,
                        zalo: ZaloClient | None, on_ready: Callable[[], None] | None) -> None:
    from bot.channels.telegram_app import PollingStarted, connect_telegram, create_bot

    bot = create_bot(settings, clock)
    # The outbox uses its own Bot without in-request retries: a 429 reschedules the row instead. It also
    # makes the start-up check, so a refused token or a dead network fails at once instead of retrying.
    outbox_bot = create_bot(settings, clock, retry_flood=False)
    try:
        me = await connect_telegram(outbox_bot, settings.telegram_api_base)
        app.bot_username = me.username  # for invitation deep links

        def polling_started() -> None:
            log.info("polling as @%s", me.username)
            if on_ready is not None:
                on_ready()

        bot.session.middleware(PollingStarted(polling_started))
        await _poll(settings, app, engine, bot, outbox_bot, zalo)
    finally:
        await bot.session.close()
        await outbox_bot.session.close()


@asynccontextmanager
async def connected_channels(settings: Settings, app: AppContext) -> AsyncIterator[tuple[Any, Any, ZaloClient | None]]:
    """(Telegram's Bot, the outbox's Bot, the Zalo client) for each configured channel (None otherwise), each
    checked once (getMe); closed on the way out."""
    from bot.channels.telegram_app import connect_telegram, create_bot

    channels = settings.channels()
    bot = create_bot(settings, app.clock) if "telegram" in channels else None
    # The outbox's Bot has no in-request retries (a 429 reschedules the row) and makes the start-up check.
    outbox_bot = create_bot(settings, app.clock, retry_flood=False) if bot is not None else None
    zalo = None
    try:
        if outbox_bot is not None:
            app.bot_username = (await connect_telegram(outbox_bot, settings.telegram_api_base)).username
        zalo = await connect_zalo(settings) if "zalo" in channels else None
        yield bot, outbox_bot, zalo
    finally:
        for each in (bot, outbox_bot):
            if each is not None:
                await each.session.close()
        if zalo is not None:
            await zalo.close()


@asynccontextmanager
async def background(app: AppContext, engine: AsyncEngine, outbox_bot: Any | None, zalo: ZaloClient | None,
                     progress: Any | None) -> AsyncIterator[tuple[AsyncIOScheduler, Leadership]]:
    """What runs beside a process's channels: an outbox sender for the channels it can send on, and a scheduler
    whose ticks run only while this process leads (bot/leader.py). On the way out the sends in flight finish
    and are recorded (SIGTERM, Ctrl-C), and the lead is given away at once."""
    from bot.app import attach_outbox
    from bot.leader import Leadership
    from bot.scheduler import create_scheduler, reminders_tick, stop_scheduler

    worker = attach_outbox(app, outbox_bot, zalo)
    await worker.recover_interrupted()
    leader = Leadership(engine)
    scheduler = create_scheduler("main", app, progress, leader)
    await leader.try_once()
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(leader.run())]
    scheduler.start()
    try:
        # Catch up at once after downtime: due reminders (still useful ones sent, the rest recorded as missed).
        await reminders_tick("main")
        yield scheduler, leader
    finally:
        await stop_scheduler(scheduler)
        await worker.stop()
        await leader.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _run_without_polling(settings: Settings, app: AppContext, engine: AsyncEngine, bot: Any | None,
                               outbox_bot: Any | None, zalo: ZaloClient | None,
                               on_ready: Callable[[], None] | None) -> None:
    """No Telegram long polling (no Telegram, or TELEGRAM_MODE=webhook: the web processes take its updates):
    the outbox, the scheduler and Zalo (if configured) until a signal stops them."""
    import signal

    from bot.channels.telegram import TelegramProgress
    from bot.channels.zalo.runner import ZaloChannel
    from bot.services.throttle import throttle_of

    assert app.pipeline is not None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with background(app, engine, outbox_bot, zalo, TelegramProgress(bot) if bot is not None else None) as (
            scheduler, leader):
        waits = [asyncio.create_task(stop.wait())]
        throttle_of(app)  # the flood throttle, counted by the pipeline in each unit of work
        channel = None if zalo is None else ZaloChannel(zalo, app.pipeline, scheduler=scheduler)
        if channel is not None:
            channel.leader = leader
            waits.append(asyncio.create_task(serve_zalo(channel, settings, on_ready)))
        else:
            log.info("Telegram's updates arrive by webhook at the web processes; sending and scheduling here")
            if on_ready is not None:
                on_ready()
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        if channel is not None:
            await channel.stop()
        await asyncio.gather(*waits, return_exceptions=True)
    serving = waits[1] if len(waits) > 1 else None
    if serving is not None and not serving.cancelled() and serving.exception() is not None:
        error = serving.exception()
        if isinstance(error, ZaloStopped):
            from bot.startup import StartupError

            raise StartupError(str(error))
        raise error  # type: ignore[misc]


@asynccontextmanager
async def webhook_node(settings: Settings, app: AppContext,
                       engine: AsyncEngine) -> AsyncIterator[tuple[Mapping[str, Receiver], Any, Any]]:
    """A web process with channels in webhook mode is a whole bot: the receivers of those channels'
    webhooks (for bot/web/webhook_routes.py), an outbox sender and a scheduler candidate. Yields (receivers,
    scheduler, leadership)."""
    from bot.channels.telegram import TelegramProgress
    from bot.channels.telegram_webhook import TelegramWebhook
    from bot.channels.zalo.runner import ZaloChannel
    from bot.services.throttle import throttle_of

    assert app.pipeline is not None
    async with connected_channels(settings, app) as (bot, outbox_bot, zalo), \
            background(app, engine, outbox_bot, zalo, TelegramProgress(bot) if bot is not None else None) as (
                scheduler, leader):
        receivers: dict[str, Receiver] = {}
        if bot is not None and settings.telegram_mode == "webhook":
            receivers["telegram"] = TelegramWebhook(settings, app, bot).receive
        channel = None
        if zalo is not None and settings.zalo_mode == "webhook" and settings.zalo_webhook_secret is not None:
            throttle_of(app)  # the flood throttle, counted by the pipeline in each unit of work
            channel = ZaloChannel(zalo, app.pipeline, scheduler=scheduler)
            secret = settings.zalo_webhook_secret.get_secret_value()

            async def zalo_receive(body: bytes, headers: Mapping[str, str]) -> int:
                return await channel.receive(body, headers, secret)  # type: ignore[union-attr]

            receivers["zalo"] = zalo_receive
        try:
            yield receivers, scheduler, leader
        finally:
            if channel is not None:
                await channel.stop()


async def set_webhooks_cmd(settings: Settings) -> list[str]:
    """`python -m bot set-webhooks`: tell each channel in webhook mode where to POST (setWebhook with the
    secret); a release step, like `migrate`. One line per channel."""
    from bot.app import create_app
    from bot.channels.telegram_webhook import set_webhook
    from bot.config import SettingsError
    from storage.db import create_engine

    webhooks = settings.webhook_channels()
    if not webhooks:
        raise SettingsError("Configuration error: no channel is in webhook mode: set TELEGRAM_MODE=webhook "
                            "and/or ZALO_MODE=webhook (with their _WEBHOOK_URL and _WEBHOOK_SECRET)")
    engine = create_engine(settings.database_url)  # never connected: the command menu needs the catalogs only
    app = create_app(settings, engine)
    lines = []
    try:
        async with connected_channels(settings, app) as (bot, _outbox_bot, zalo):
            if "telegram" in webhooks:
                lines.append(await set_webhook(settings, app, bot))
            if "zalo" in webhooks and zalo is not None:
                assert settings.zalo_webhook_url is not None and settings.zalo_webhook_secret is not None
                await zalo.set_webhook(settings.zalo_webhook_url, settings.zalo_webhook_secret.get_secret_value())
                lines.append(f"zalo: webhook set to {settings.zalo_webhook_url}")
    finally:
        await engine.dispose()
    return lines


async def serve_zalo(channel: ZaloChannel, settings: Settings, on_ready: Callable[[], None] | None = None) -> None:
    """Zalo in the configured mode (polling, or webhook: setWebhook and listen on WEBHOOK_HOST:PORT); a token
    Zalo refuses while running stops the process with one line, as at start-up."""
    from bot.channels.zalo.client import ZaloError, ZaloUnauthorized

    try:
        if settings.zalo_mode == "webhook":
            assert settings.zalo_webhook_url is not None and settings.zalo_webhook_secret is not None
            await channel.run_webhook(settings.zalo_webhook_url, settings.zalo_webhook_secret.get_secret_value(),
                                      host=settings.webhook_host, port=settings.webhook_port, on_ready=on_ready)
        else:
            await channel.run_polling(on_ready)
    except ZaloUnauthorized:
        raise ZaloStopped("Zalo refused the token (ZALO_BOT_TOKEN): check it in Zalo Bot Creator") from None
    except ZaloError as exc:  # e.g. setWebhook refusing ZALO_WEBHOOK_URL (the message never holds the token)
        raise ZaloStopped(f"{exc} (check ZALO_MODE and ZALO_WEBHOOK_URL)") from None
    except OSError as exc:
        raise ZaloStopped(f"cannot listen for Zalo's webhook on {settings.webhook_host}:{settings.webhook_port} "
                           f"(WEBHOOK_HOST/WEBHOOK_PORT): {exc.strerror or exc}") from None


class ZaloStopped(Exception):
    """Zalo cannot go on; the message is the operator's one line. (Not a SystemExit: raised inside a task, a
    SystemExit would leave the event loop at once, skipping every clean-up.)"""


def _stop_on_fatal(fatal: list[BaseException]) -> Callable[[asyncio.Task[None]], None]:
    """Next to Telegram, a fatal Zalo error stops the process (SIGTERM to itself, so Telegram's polling ends
    cleanly); the error is kept in `fatal` for `_poll` to raise, so the exit status is not 0."""
    import os
    import signal

    def done(task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        fatal.append(task.exception())  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGTERM)

    return done


async def _poll(settings: Settings, app: AppContext, engine: AsyncEngine, bot: Any, outbox_bot: Any,
                zalo: ZaloClient | None) -> None:
    """Telegram's long polling with the outbox, the scheduler and Zalo beside it (bot/channels/telegram_app.py
    knows aiogram; this only says what runs next to it)."""
    from bot.channels.telegram import TelegramProgress
    from bot.channels.telegram_app import poll
    from bot.channels.zalo.runner import ZaloChannel
    from bot.services.throttle import throttle_of

    throttle_of(app)  # the flood throttle, counted by the pipeline in each unit of work
    zalo_channel = ZaloChannel(zalo, app.pipeline) if zalo is not None and app.pipeline is not None else None
    tasks: list[asyncio.Task[None]] = []
    fatal: list[BaseException] = []
    beside = AsyncExitStack()

    async def started() -> None:
        scheduler, leader = await beside.enter_async_context(
            background(app, engine, outbox_bot, zalo, TelegramProgress(bot)))
        if zalo_channel is not None:
            zalo_channel.scheduler, zalo_channel.leader = scheduler, leader
            serving = asyncio.create_task(serve_zalo(zalo_channel, settings))
            serving.add_done_callback(_stop_on_fatal(fatal))
            tasks.append(serving)

    async def stopping() -> None:
        for task in tasks:
            task.cancel()
        # Sends in flight finish and are recorded before the process exits (SIGTERM/Ctrl-C).
        await beside.aclose()

    await poll(settings, app, bot, started=started, stopping=stopping)
    if fatal:
        from bot.startup import StartupError

        raise StartupError(str(fatal[0]))


async def access_cmd(settings: Settings, command: str, arg: str | None) -> str:
    """`access`, `revoke <telegram id>`, `cancel-invite <token>` on the configured database."""
    from bot import console
    from bot.app import create_app

    await migrate_in_child(settings)
    engine = await open_database(settings.database_url)
    app = create_app(settings, engine)
    try:
        if command == "revoke":
            return await console.revoke(app, arg or "")
        if command == "cancel-invite":
            return await console.cancel_invite(app, arg or "")
        return "\n".join(await console.access_lines(app))
    finally:
        await engine.dispose()


async def seed_if_empty(app: AppContext) -> bool:
    from sqlmodel import select

    from bot.seed import seed
    from storage.models import User

    async with app.session_maker() as session:
        if (await session.exec(select(User).limit(1))).first() is not None:
            return False
        log.info("seeding demo data…")
        await seed(session, clock=app.clock, communes=app.communes, tz=app.tz)
        await session.commit()
    log.info("sandbox database seeded with demo data")
    return True


async def deliver(settings: Settings) -> None:
    """A sender process only (no polling), for every configured channel: several may run against
    PostgreSQL and share the work."""
    import signal

    from bot import metrics
    from bot.app import attach_outbox, create_app
    from bot.channels.telegram_app import connect_telegram, create_bot

    channels = settings.channels()
    clock = SystemClock()
    await migrate_in_child(settings)
    engine = await open_database(settings.database_url)
    app = create_app(settings, engine, clock=clock)
    metrics.expose(settings, app.session_maker, clock)
    outbox_bot = create_bot(settings, clock, retry_flood=False) if "telegram" in channels else None
    zalo = None
    try:
        if outbox_bot is not None:
            await connect_telegram(outbox_bot, settings.telegram_api_base)
        zalo = await connect_zalo(settings) if "zalo" in channels else None
        worker = attach_outbox(app, outbox_bot, zalo)
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
    finally:
        if outbox_bot is not None:
            await outbox_bot.session.close()
        if zalo is not None:
            await zalo.close()
        await engine.dispose()
    log.info("sender stopped cleanly")
