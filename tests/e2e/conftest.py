from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.server import SandboxServer
from tests.e2e.harness import TOKEN, BotProcess, copy_database, fast_limits, migrate_template


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.process)  # separate bot processes and a browser: the slow part


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrate_template(tmp_path_factory.mktemp("template") / "bot.db")


@pytest.fixture
def bot_db(tmp_path: Path, migrated_template: Path) -> Path:
    """The bot's database in tmp_path, already at the latest revision."""
    return copy_database(migrated_template, tmp_path)


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    srv = SandboxServer(bot_token=TOKEN, limits=fast_limits(), web=True)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def bot(server: SandboxServer, tmp_path: Path, bot_db: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(server, tmp_path)
    await process.start()
    yield process
    await process.stop()
