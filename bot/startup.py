"""Start-up steps shared by the commands, each failing with one line that names the setting at fault.

Light on purpose: `python -m bot migrate` (the migration child of every start) imports this module and
SQLAlchemy/Alembic only, never aiogram (the Telegram check is in bot/channels/telegram_app.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from storage.db import create_engine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.channels.zalo.client import ZaloClient
    from bot.config import Settings

log = logging.getLogger(__name__)


def settle_memory() -> None:
    """Call once the process has built what it keeps for its whole life (the app, the routers and templates,
    the catalogs, the 2025 units, the models' validators): those objects leave the garbage collector's
    generations (`gc.freeze`). A full collection otherwise walks all of them, some 350,000 objects: about
    300 ms each time, measured under bench.console, during which no page and no update is served."""
    gc.collect()
    gc.freeze()


class StartupError(SystemExit):
    """The bot cannot start; the message is one line for the operator (printed, exit status 1)."""


def database_where(url: str) -> str:
    """`host:port (DATABASE_URL=…)` with the password hidden, or the SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"{parsed.database} (DATABASE_URL)"
    safe = parsed.render_as_string(hide_password=True)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432} (DATABASE_URL={safe})"


def database_error(url: str, exc: BaseException) -> StartupError:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        # The server answered: no such database or role, wrong password, …
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        return StartupError(f"the database at {database_where(url)} refused the connection: {reason}")
    reasons = {ConnectionRefusedError: "connection refused", TimeoutError: "timed out"}
    reason = next((text for kind, text in reasons.items() if isinstance(exc, kind)), None)
    if reason is None:
        reason = "unknown host" if type(exc).__name__ == "gaierror" else (str(exc) or type(exc).__name__)
    return StartupError(f"cannot connect to the database at {database_where(url)}: {reason}")


async def open_database(url: str) -> AsyncEngine:
    """An engine whose database answers, or StartupError with one line (host and port, no password). Stopped
    (cancelled) meanwhile, it leaves no engine nor connection behind."""
    from sqlalchemy.exc import DBAPIError

    try:
        engine = create_engine(url)
    except OSError as exc:  # SQLite: the folder cannot be created
        raise database_error(url, exc) from None
    check = asyncio.ensure_future(_answers(engine))
    try:
        await asyncio.shield(check)
    except asyncio.CancelledError:
        # Stopped while connecting (Ctrl-C at start-up; the sandbox's console when the bot stops first): the
        # engine is disposed on this path too. aiosqlite connects in a thread of its own that no cancellation
        # stops: that attempt is waited for and its connection closed, or the thread would later answer an
        # event loop that is gone. asyncpg is cancelled at once (it drops its socket) — a server that does not
        # answer would otherwise hold up Ctrl-C.
        if engine.dialect.name != "sqlite":
            check.cancel()
        await asyncio.gather(check, return_exceptions=True)
        await engine.dispose()
        raise
    except (OSError, DBAPIError) as exc:
        await engine.dispose()
        raise database_error(url, exc) from None
    return engine


async def _answers(engine: AsyncEngine) -> None:
    from sqlalchemy import text

    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def migrate_cmd(settings: Settings) -> None:
    from storage.migrate import upgrade_to_head

    engine = await open_database(settings.database_url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()
    log.info("database is at the latest revision")


async def make_revision_cmd(settings: Settings, message: str) -> None:
    from storage.migrate import make_revision, upgrade_to_head

    engine = await open_database(settings.database_url)
    try:
        await upgrade_to_head(engine)
        await make_revision(engine, message)
    finally:
        await engine.dispose()


async def start_migration(settings: Settings) -> asyncio.subprocess.Process | None:
    """SQLite (one machine, zero set-up): start the migrations in a short-lived child process (Alembic, ~35 MB,
    never stays in the bot's memory) and return without waiting, so the caller's own imports overlap it;
    None when the database is already at the latest revision (recognised with one query, so a restart is quick).

    PostgreSQL (several processes): migrating is a release step (`python -m bot migrate`, before the processes
    of a deploy start), never done by `run`, `web` or `deliver`: a database not at the code's revision stops
    start-up with one line saying what to run."""
    from storage.migrate import head_revision, is_at_head, schema_revision

    engine = await open_database(settings.database_url)
    try:
        at_head = await is_at_head(engine)
        current = None if at_head else await schema_revision(engine)
    finally:
        await engine.dispose()
    if at_head:
        return None
    if settings.is_postgres():
        raise StartupError(f"the database is at revision {current or 'none (it is empty)'}, the code needs "
                           f"{head_revision()}: run `python -m bot migrate`")
    log.info("migrating the database…")
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "migrate", env=env)


async def finish_migration(child: asyncio.subprocess.Process | None) -> None:
    if child is not None and await child.wait() != 0:
        raise StartupError("database migration failed (see above)")
    log.info("database ready")


async def migrate_in_child(settings: Settings) -> None:
    await finish_migration(await start_migration(settings))


async def connect_zalo(settings: Settings) -> ZaloClient:
    """A Zalo client whose token Zalo accepts (getMe), or StartupError with one line (never the token)."""
    from bot.channels.zalo.client import ZaloClient, ZaloError, ZaloUnauthorized

    assert settings.zalo_bot_token is not None
    client = ZaloClient(settings.zalo_bot_token.get_secret_value(), base=settings.zalo_api_base,
                        timeout=settings.send_timeout)
    where = urlsplit(settings.zalo_api_base).netloc
    log.info("connecting to Zalo at %s…", where)
    try:
        await client.get_me()
    except ZaloUnauthorized:
        await client.close()
        raise StartupError("Zalo refused the token (ZALO_BOT_TOKEN): check it in Zalo Bot Creator") from None
    except ZaloError:
        await client.close()
        raise StartupError(f"cannot reach {where} (ZALO_API_BASE): is the network up?") from None
    return client
