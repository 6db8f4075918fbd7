"""`python -m bot web` and `python -m bot staff` from the installed wheel (templates, stylesheet and htmx
shipped as package data), with no channel token. Slow (builds a wheel)."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from urllib.request import urlopen

import pytest

from tests.e2e.test_wheel import LIMIT, free_port, installed, interpreter, watch, wheel  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def test_the_console_starts_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:  # noqa: F811
    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    env = {**installed(wheel, target), "DATABASE_URL": f"sqlite:///{work}/console.db"}
    env.pop("BOT_TOKEN", None)
    port = free_port()
    proc = subprocess.Popen([interpreter(), "-m", "bot", "web", "--port", str(port)], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = watch(proc, ready := threading.Event(), marker="Uvicorn running on")
    try:
        assert ready.wait(LIMIT) and proc.poll() is None, "the console did not start:\n" + "".join(lines)[-3000:]
        login = urlopen(f"http://127.0.0.1:{port}/login", timeout=30)
        assert "<h1>Đăng nhập</h1>" in login.read().decode()
        assert "HttpOnly" in login.headers["set-cookie"]
        for asset in ("/static/htmx.min.js", "/static/console.css"):
            assert urlopen(f"http://127.0.0.1:{port}{asset}", timeout=30).status == 200
    finally:
        proc.terminate()
        proc.wait()
    assert "Traceback" not in "".join(lines), "".join(lines)[-3000:]
    refused = subprocess.run([interpreter(), "-m", "bot", "staff", "passwd", "nobody"], cwd=work, env=env,
                             input="mot-mat-khau-dai\n", capture_output=True, text=True)
    assert refused.returncode == 1
    assert "staff passwd: nobody called 'nobody' has written to the bot yet" in refused.stderr
