"""`pip install .` (a wheel, not the source tree) is enough to run the bot: the wheel carries every
package, the catalogs, the migrations and the web chat. Slow (builds a wheel): marked `slow`."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import zipfile
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
LIMIT = 300  # seconds for the whole start on a loaded machine; the test moves on as soon as it is ready
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "data", "sandbox-data",
                                    ".pytest_cache", ".ruff_cache", "*.mo")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built as `pip install .` builds it, from a copy (the build must not litter the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(source)],
                   check=True, capture_output=True)
    return next((tmp / "dist").glob("khuyencong_bot-*.whl"))


def test_the_wheel_carries_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for top in ("bot", "handlers", "storage"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".mo"}:
                assert path.relative_to(ROOT).as_posix() in names, path
    for po in (ROOT / "locales").glob("*/LC_MESSAGES/messages.po"):
        assert f"bot/{po.relative_to(ROOT).as_posix()}" in names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def installed(wheel: Path, target: Path) -> dict[str, str]:
    """The wheel alone in `target` (no source tree), with the already-installed dependencies after it.

    The base interpreter runs with the dependencies' folder on PYTHONPATH rather than as a site folder, so
    an editable install's finder (which would quietly serve a module missing from the wheel out of this
    checkout) is never loaded; the working folder is outside the checkout.
    """
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**keep, "PYTHONPATH": os.pathsep.join([str(target), *sorted(deps)]), "PYTHONNOUSERSITE": "1"}


def interpreter() -> str:
    return getattr(sys, "_base_executable", sys.executable)


def test_the_sandbox_starts_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    env = installed(wheel, target)
    where = subprocess.run([interpreter(), "-c", "import bot, bot.i18n, handlers; print(bot.__file__); "
                            "print(handlers.__file__); print(bot.i18n.LOCALES_DIR)"],
                           cwd=work, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in where), where

    port = free_port()
    proc = subprocess.Popen([interpreter(), "-m", "bot", "sandbox", "--port", str(port)], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = watch(proc, ready := threading.Event(), marker="Staff console:")  # printed after the bot polls
    try:
        # Readiness, not a fixed pause: the bot's own line, or the end of its output if it died.
        assert ready.wait(LIMIT) and proc.poll() is None, "the sandbox did not start:\n" + "".join(lines)[-3000:]
        page = urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert "<html" in page.lower()
        reply = first_reply(port, user=880001, text="/start")
        assert "Tên cơ sở của anh/chị là gì?" in reply  # the Vietnamese catalog, read from the wheel
        # The staff console beside it, its templates and htmx read from the wheel too.
        console = next(re.search(r"Staff console: (http://\S+/)", line).group(1)  # type: ignore[union-attr]
                       for line in lines if "Staff console:" in line)
        login = urlopen(f"{console}login", timeout=30).read().decode()
        assert "<form" in login and "csrf" in login.lower()
        assert urlopen(f"{console}static/htmx.min.js", timeout=30).status == 200
    finally:
        proc.kill()
        proc.wait()
    assert (work / "sandbox-data").is_dir()
    assert "Traceback" not in "".join(lines), "".join(lines)[-3000:]


def watch(proc: subprocess.Popen[bytes], ready: threading.Event, *, marker: str) -> list[str]:
    """Collect the process's output in a thread; `ready` is set at `marker` or when the output ends."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace"))
            if marker in lines[-1]:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    return lines


def first_reply(port: int, *, user: int, text: str) -> str:
    base = f"http://127.0.0.1:{port}/sandbox/api"
    body = json.dumps({"user": user, "text": text, "first_name": "Lan", "language_code": "vi"}).encode()
    urlopen(Request(f"{base}/send", data=body, headers={"Content-Type": "application/json"}), timeout=30).read()
    after = 0
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        events = json.loads(urlopen(f"{base}/events?user={user}&after={after}&wait=25", timeout=60).read())["events"]
        for event in events:
            after = max(after, event["seq"])
            if event["kind"] == "message":
                return str(event["message"].get("text") or "")
    raise AssertionError("the bot did not answer")
