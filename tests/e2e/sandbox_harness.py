"""`python -m bot sandbox` for the console's journeys: bot.sandbox.run.sandbox() itself runs in the test's event
loop — its Telegram and Zalo servers with the personas, its settings, the staff console served beside the bot
once the bot polls — and the bot it starts is a separate `python -m bot` process on those very settings, on the
seeded demo database. (In this process aiogram's polling could be stopped cleanly only by a signal.)

People read what reached their chat in the sandbox's web chat, in the browser, as a sandbox user does; the
staff use the console in another tab."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.config import Settings
from tests.e2e.harness import ROOT, terminate

START_DEADLINE = 180.0  # seconds; a loaded 2-core machine takes 5-7 s only to import aiogram


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives `python -m bot` these settings: every field the sandbox set (or the
    environment did), written the way the settings read them."""
    env: dict[str, str] = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, (set, frozenset)):
            value = ",".join(sorted(str(v) for v in value))
        env[name.upper()] = str(value)
    return env


class SandboxRun:
    """One sandbox in `tmp_path`; `start()` returns once the console is served (the bot polls by then)."""

    def __init__(self, tmp_path: Path, template: Path) -> None:
        self.folder = tmp_path / "sandbox-data"
        self.template = template
        self.log = tmp_path / "bot.log"
        self.said: list[str] = []
        self.settings: Settings | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None
        self._console = asyncio.Event()

    @property
    def database(self) -> Path:
        return self.folder / "sandbox.db"

    @property
    def console_url(self) -> str:
        assert self.settings is not None
        return self.settings.public_base_url  # the sandbox serves the console there (Zalo fetches media from it)

    @property
    def chat_url(self) -> str:
        assert self.settings is not None
        return self.settings.telegram_api_base  # the web chat is served by the sandbox's Bot API server

    def _say(self, text: str) -> None:
        self.said.append(text)
        if "Staff console:" in text:
            self._console.set()

    async def _bot(self, settings: Settings, *, seed_demo: bool = False, **_: Any) -> None:
        """Stands in for bot.runner.run(settings, seed_demo=True): the database at the latest revision (a copy
        of the migrated template) and seeded as run() seeds it, then `python -m bot` with the same settings
        until cancelled (Ctrl-C stops the sandbox that way), when it is stopped with SIGTERM."""
        self.settings = settings
        shutil.copyfile(self.template, self.database)
        if seed_demo:
            await _seed(settings)
        base = {k: v for k, v in os.environ.items() if k.upper() not in {n.upper() for n in Settings.model_fields}}
        env = {**base, "PYTHONPATH": str(ROOT), **settings_env(settings)}
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env,
                                                             stdout=out, stderr=subprocess.STDOUT)
        try:
            code = await self.proc.wait()
        finally:
            await self._stop_process()
        raise AssertionError(f"the bot exited with code {code}:\n{self.log_tail()}")

    async def _stop_process(self) -> None:
        if self.proc is not None:
            await terminate(self.proc)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"

    async def start(self) -> None:
        from bot.sandbox.run import sandbox

        self.task = asyncio.create_task(sandbox("127.0.0.1", 0, str(self.folder), bot=self._bot, say=self._say))
        ready = asyncio.ensure_future(self._console.wait())
        try:
            done, _ = await asyncio.wait({ready, self.task}, timeout=START_DEADLINE,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if ready not in done:
            why = repr(self.task.exception()) if self.task.done() and not self.task.cancelled() else \
                f"no console within {START_DEADLINE:g} s"
            await self.stop()
            raise AssertionError(f"the sandbox did not start ({why}); said {self.said}\n{self.log_tail()}")

    async def stop(self) -> None:
        """As Ctrl-C: the sandbox's task is cancelled, the bot gets SIGTERM, the servers close."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await self.task
        await self._stop_process()


async def _seed(settings: Settings) -> None:
    from bot.app import create_app
    from bot.runner import seed_if_empty
    from storage.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        assert await seed_if_empty(create_app(settings, engine))
    finally:
        await engine.dispose()
