"""`python -m bot web [--host H] [--port P]`: the staff console alone, no channel token needed.

The database is migrated first (as `python -m bot run` does). Codes sent from the sign-in page are queued
in the outbox; the bot process (`run` or `deliver`) sends them.
"""

from __future__ import annotations

import asyncio
import logging

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
        app = create_app(create_context(settings, engine))
        config = uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False,
                                server_header=False)
        log.info("staff console at http://%s:%d/", host, port)
        await uvicorn.Server(config).serve()
    finally:
        await engine.dispose()


def main(settings: Settings, host: str, port: int) -> None:
    asyncio.run(serve(settings, host, port))
