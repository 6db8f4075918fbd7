"""`python -m bot web [--host H] [--port P]`: the staff console, no channel token needed.

Codes sent from the sign-in page are queued in the outbox; the bot process (`run` or `deliver`) sends them.
With a channel in webhook mode (TELEGRAM_MODE / ZALO_MODE = webhook) the process is also a whole bot: it takes
that channel's updates at /webhook/<channel>, sends the outbox and is a scheduler candidate (bot/runner.py's
webhook_node), so any number of identical web processes can sit behind a load balancer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from bot.config import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from bot.app import create_app as create_context
    from bot.startup import migrate_in_child, open_database
    from bot.web.app import create_app

    await migrate_in_child(settings)
    engine = await open_database(settings.database_url)
    try:
        context = create_context(settings, engine)
        if not settings.webhook_channels():
            await _serve(uvicorn, create_app(context), host, port, access_log=True)
            return
        from bot.runner import webhook_node

        async with webhook_node(settings, context, engine) as (receivers, scheduler, leader):
            app = create_app(context, webhooks=receivers)
            app.state.scheduler, app.state.leader = scheduler, leader
            log.info("taking webhooks for %s at /webhook/<channel>", ", ".join(sorted(receivers)))
            # Not every webhook POST in the log: one a message, at hundreds a second.
            await _serve(uvicorn, app, host, port, access_log=False)
            if context.pipeline is not None:
                await context.pipeline.close()
    finally:
        await engine.dispose()


async def _serve(uvicorn: Any, app: Any, host: str, port: int, *, access_log: bool) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False,
                            access_log=access_log)
    from bot.startup import settle_memory

    settle_memory()
    log.info("staff console at http://%s:%d/", host, port)
    await uvicorn.Server(config).serve()


def free_socket(host: str) -> socket.socket:
    """A listening address chosen now (port 0), so the bot can be told it (PUBLIC_BASE_URL) before it serves.
    It listens at once: a browser opened on the printed address waits in the backlog until the console serves,
    instead of being refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    return sock


async def serve_beside(settings: Settings, host: str, say: Callable[[str], None],
                       sock: socket.socket | None = None) -> None:
    """The console next to a running bot on the same (already migrated) database, on a free port (or `sock`):
    the sandbox's. Codes asked for on its sign-in page are sent by that bot's outbox; it also serves the media
    files Zalo fetches (/media/<id>)."""
    import uvicorn

    from bot.app import create_app as create_context
    from bot.startup import open_database
    from bot.web.app import create_app

    engine = await open_database(settings.database_url)
    sock = sock or free_socket(host)
    try:
        app = create_app(create_context(settings, engine))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False))
        say(f"  Staff console: http://{host}:{sock.getsockname()[1]}/ — sign in with a code: type the staff "
            "persona's name (Hà) and the code arrives in her chat.")
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        await engine.dispose()


def main(settings: Settings, host: str, port: int) -> None:
    asyncio.run(serve(settings, host, port))
