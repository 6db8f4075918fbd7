"""`python -m bot sandbox`: the fake Bot API server, the web chat and the bot — no token, no internet."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.config import Settings
from bot.runner import run
from bot.sandbox.server import BOT_USERNAME, SandboxServer
from bot.sandbox.zalo import ZaloSandbox
from bot.seed import PERSONAS, STAFF
from bot.web.run import free_socket, serve_beside

log = logging.getLogger(__name__)
TOKEN = "123456789:sandbox-token-not-secret"
ZALO_TOKEN = "1234567890:zalo-sandbox-token-not-secret"


def say_now(text: str) -> None:
    """Print at once, also into a pipe (a process manager, a test): the addresses are what people wait for."""
    print(text, flush=True)


def personas() -> list[dict[str, object]]:
    """Telegram personas by numeric id; Zalo personas also carry their Zalo id (`zalo_id`)."""
    return [{"id": p.id, "first_name": p.first_name, "language_code": p.language_code, "label": p.label_vi,
             "label_en": p.label_en, "role": p.role, "phone": p.phone, "channel": p.channel,
             "zalo_id": p.zalo_id} for p in PERSONAS]


async def start_zalo(host: str) -> ZaloSandbox:
    """The Zalo side, on a port of its own; the Zalo personas have written to the bot before (Zalo lets a bot
    message only them)."""
    zalo = ZaloSandbox(bot_token=ZALO_TOKEN)
    await zalo.start(host, 0)
    for p in PERSONAS:
        if p.channel == "zalo" and p.zalo_id:
            zalo.user(p.zalo_id, p.first_name).has_written = True
    return zalo


def fresh_folder(data_dir: str, keep: bool) -> Path:
    folder = Path(data_dir)
    if folder.exists() and not keep:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class PortTaken(Exception):
    """The sandbox cannot listen where asked (usually: another sandbox has the port)."""


async def start_server(host: str, port: int) -> SandboxServer:
    server = SandboxServer(bot_token=TOKEN, personas=personas())
    try:
        await server.start(host, port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise PortTaken(f"The sandbox cannot listen on {host}:{port}: {exc.strerror or exc}. "
                            "Check --host (e.g. 127.0.0.1) and --port.") from None
        raise PortTaken(f"The sandbox cannot listen on {host}:{port}: the port is in use (another sandbox?). "
                        f"Choose another port: python -m bot sandbox --port {port + 1}") from None
    return server


async def announce_when_ready(server: SandboxServer, say: Callable[[str], None] = say_now,
                              console: Callable[[], Awaitable[None]] | None = None) -> None:
    """The address, once the bot polls the server (a browser opened earlier would get no answers); then the
    staff console beside it (the database is migrated by then)."""
    await server.polling.wait()
    say(f"\n  Sandbox ready: open {server.base_url} in a browser (Ctrl-C stops).")
    if console is not None:
        await console()


async def sandbox(host: str = "127.0.0.1", port: int = 8080, data_dir: str = "sandbox-data",
                  keep: bool = False, *, bot: Callable[..., Awaitable[None]] = run,
                  say: Callable[[str], None] = say_now) -> None:
    """Start everything; Ctrl-C stops it all. The database is fresh (and seeded) unless `keep`.

    The port is bound before any data is touched: a taken port (another sandbox) loses nothing.
    """
    server = await start_server(host, port)
    zalo: ZaloSandbox | None = None
    console = free_socket(host)
    try:
        zalo = server.zalo = await start_zalo(host)
        folder = fresh_folder(data_dir, keep)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, bot_token=TOKEN, telegram_api_base=server.base_url, admin_ids=str(STAFF.id),
            bot_username=BOT_USERNAME,
            database_url=f"sqlite+aiosqlite:///{folder / 'sandbox.db'}",
            zalo_bot_token=ZALO_TOKEN, zalo_api_base=zalo.base_url,
            # The console serves the media store: Zalo gets announcement photos from there, by URL.
            public_base_url=f"http://{host}:{console.getsockname()[1]}",
        )
        say("Sandbox server listening; starting the bot (the address follows once it answers) …")
        ready = asyncio.create_task(announce_when_ready(
            server, say, lambda: serve_beside(settings, host, say, console)))
        try:
            await bot(settings, seed_demo=True)
        finally:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready  # the console closes its database connections before the loop ends
    finally:
        console.close()
        if zalo is not None:
            await zalo.stop()
        await server.stop()
        log.info("sandbox stopped")


def main(host: str, port: int, keep: bool, data_dir: str = "sandbox-data") -> None:
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(sandbox(host, port, data_dir, keep))
    except PortTaken as exc:
        raise SystemExit(str(exc)) from None
