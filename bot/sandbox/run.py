"""`python -m bot sandbox`: the fake Bot API server, the web chat and the bot — no token, no internet."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from bot.config import Settings
from bot.runner import run
from bot.sandbox.server import SandboxServer
from bot.seed import PERSONAS, STAFF

log = logging.getLogger(__name__)
TOKEN = "123456789:sandbox-token-not-secret"


def personas() -> list[dict[str, object]]:
    return [{"id": p.id, "first_name": p.first_name, "language_code": p.language_code, "label": p.label_vi,
             "label_en": p.label_en, "role": p.role, "phone": p.phone} for p in PERSONAS]


def fresh_folder(data_dir: str, keep: bool) -> Path:
    folder = Path(data_dir)
    if folder.exists() and not keep:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def sandbox(host: str = "127.0.0.1", port: int = 8080, data_dir: str = "sandbox-data",
                  keep: bool = False) -> None:
    """Start everything; Ctrl-C stops it all. The database is fresh (and seeded) unless `keep`."""
    folder = fresh_folder(data_dir, keep)
    server = SandboxServer(bot_token=TOKEN, personas=personas())
    base = await server.start(host, port)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, bot_token=TOKEN, telegram_api_base=base, admin_ids=str(STAFF.id),
        database_url=f"sqlite+aiosqlite:///{folder / 'sandbox.db'}",
    )
    print(f"\n  Sandbox ready: open http://{host}:{port} in a browser (Ctrl-C stops).\n", flush=True)
    try:
        await run(settings, seed_demo=True)
    finally:
        await server.stop()
        log.info("sandbox stopped")


def main(host: str, port: int, keep: bool) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(sandbox(host, port, keep=keep))
