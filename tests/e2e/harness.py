"""End-to-end harness: the sandbox server in the test process, the bot as a real separate process
polling it over HTTP (`python -m bot`), and simulated people."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.sandbox.limits import RateLimits
from bot.sandbox.server import SandboxServer

TOKEN = "123456789:e2e-token"
STAFF = 1001
ROOT = Path(__file__).resolve().parents[2]


async def terminate(proc: asyncio.subprocess.Process, *, grace: float = 30) -> int:
    """SIGTERM, then SIGKILL if the process is still there after `grace` seconds; its exit code."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0


def migrate_template(path: Path) -> Path:
    """One migrated SQLite database, copied for each bot: the bot sees it is at the latest revision and
    skips its migration child process (one Python start, 5-7 s on a loaded machine, less per test)."""
    from storage.db import create_engine
    from storage.migrate import upgrade_to_head

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade_to_head(engine)
        await engine.dispose()  # the last connection checkpoints the WAL into the file

    asyncio.run(migrate())
    return path


def copy_database(template: Path, workdir: Path) -> Path:
    """A migrated database for one bot, at the path BotProcess uses."""
    target = workdir / "bot.db"
    shutil.copyfile(template, target)
    return target


class BotProcess:
    """`python -m bot` against the sandbox server; killed or stopped like a real deployment."""

    def __init__(self, server: SandboxServer, workdir: Path, **env: str) -> None:
        self.server, self.workdir = server, workdir
        self.env = {**os.environ, "BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": server.base_url,
                    "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bot.db'}", "ADMIN_IDS": str(STAFF),
                    "TICK_SECONDS": "0.3", "QUIET_START": "00:00", "QUIET_END": "00:00",
                    # A script types faster than people do: keep the per-person throttle out of the way.
                    "THROTTLE_RATE": "50", "THROTTLE_BURST": "100", **env}
        self.proc: asyncio.subprocess.Process | None = None
        self.log = workdir / "bot.log"

    async def start(self, timeout: float = 120) -> None:
        """Start and wait until the bot polls the server (its readiness signal), or fail at once if it exits.

        The limit is generous (a loaded 2-core machine takes 5-7 s only to import aiogram); on any failure
        the process is killed, never left running, and the error shows the end of its log.
        """
        self.server.polling.clear()
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=self.env,
                                                             stdout=out, stderr=subprocess.STDOUT)
        polling = asyncio.ensure_future(self.server.polling.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            done, _ = await asyncio.wait({polling, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if polling not in done:
                why = f"exited with code {self.proc.returncode}" if exited in done else \
                    f"did not start polling within {timeout:g} s"
                raise AssertionError(f"the bot {why}:\n{self.log.read_text(errors='replace')[-3000:]}")
        except BaseException:
            await self._kill_if_running()
            raise
        finally:
            polling.cancel()
            exited.cancel()

    async def _kill_if_running(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def kill(self) -> None:
        """SIGKILL: the process dies wherever it is."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM: a clean stop, as a deploy or Ctrl-C does."""
        if self.proc is not None:
            await terminate(self.proc, grace=20)
        self.proc = None


class Person:
    """A simulated Telegram user talking to the bot through the sandbox server."""

    def __init__(self, server: SandboxServer, user_id: int, first_name: str = "Lan", language_code: str = "vi",
                 phone: str | None = None) -> None:
        self.server, self.id = server, user_id
        server.user(user_id, first_name=first_name, language_code=language_code, phone=phone)

    def _mark(self) -> int:
        return self.server.last_seq()

    async def say(self, text: str, timeout: float = 15) -> dict[str, Any]:
        """Send a message and return the bot's next new message (edits ignored)."""
        mark = self._mark()
        await self.server.send_text(self.id, text)
        return await self.next_message(mark, timeout)

    async def share_contact(self, phone: str) -> dict[str, Any]:
        mark = self._mark()
        await self.server.send_contact(self.id, phone)
        return await self.next_message(mark)

    async def next_message(self, mark: int, timeout: float = 15, contains: str | None = None,
                           edits: bool = False) -> dict[str, Any]:
        kinds = ("message", "document", "photo", "edit") if edits else ("message", "document", "photo")

        def wanted(e: dict[str, Any]) -> bool:
            if e["kind"] not in kinds:
                return False
            text = e["message"].get("text") or e["message"].get("caption") or ""
            return contains is None or contains in text

        event = await self.server.wait_for(self.id, wanted, after=mark, timeout=timeout)
        return event["message"]

    async def wait_text(self, contains: str, timeout: float = 20) -> dict[str, Any]:
        """Wait until a bot message containing `contains` arrives (from now on, or already there)."""
        return await self.next_message(0, timeout, contains)

    def button(self, data_prefix: str) -> tuple[int, str]:
        """The newest button whose callback data starts with `data_prefix`, on the bot's messages now."""
        found = self.server.find_button(self.id, data_prefix)
        if found is None:
            raise LookupError(data_prefix)
        return found

    async def wait_button(self, data_prefix: str, timeout: float = 15) -> tuple[int, str]:
        """Wait until the bot has shown such a button (its reply may still be on its way)."""
        def shown(_e: dict[str, Any]) -> bool:
            try:
                self.button(data_prefix)
            except LookupError:
                return False
            return True

        try:
            return self.button(data_prefix)
        except LookupError:
            await self.server.wait_for(self.id, shown, timeout=timeout)
            return self.button(data_prefix)

    async def press(self, data_prefix: str, timeout: float = 15, *, edits: bool = False) -> dict[str, Any]:
        """Press a button; the bot's next new message (or, with `edits`, the message it edits)."""
        message_id, data = await self.wait_button(data_prefix, timeout)
        mark = self._mark()
        await self.server.press(self.id, message_id, data)
        if edits:
            event = await self.server.wait_for(
                self.id, lambda e: e["kind"] in ("message", "edit") and "reply_markup" in e["message"], after=mark,
                timeout=timeout)
            return event["message"]
        return await self.next_message(mark, timeout)


def fast_limits() -> RateLimits:
    """Telegram's global limit, but a per-chat allowance that lets a test person type quickly."""
    return RateLimits(global_per_s=30, global_burst=30, per_chat_per_s=10, per_chat_burst=20)
