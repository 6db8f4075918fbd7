"""requirements.txt (the pinned lock for Procfile platforms) is current for pyproject.toml. Offline."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
assert spec is not None and spec.loader is not None
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)


def test_the_committed_lock_is_current() -> None:
    assert lock.problems() == [], "run `python scripts/lock.py`"


def copies(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    return tmp_path / "pyproject.toml", tmp_path / "requirements.txt"


def test_a_dependency_added_without_relocking_is_caught(tmp_path: Path) -> None:
    pyproject, req = copies(tmp_path)
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('    "aiohttp>=3.11",\n', '    "aiohttp>=3.11",\n    "httpx>=0.28",\n'),
                         encoding="utf-8")
    assert lock.problems(pyproject, req) == ["requirements.txt was made from other dependencies than pyproject.toml's"]


def test_a_pin_edited_by_hand_is_caught(tmp_path: Path) -> None:
    pyproject, req = copies(tmp_path)
    text = req.read_text(encoding="utf-8")
    pinned = next(line for line in text.splitlines() if line.startswith("aiogram=="))
    req.write_text(text.replace(pinned, "aiogram==2.25.1"), encoding="utf-8")
    assert lock.problems(pyproject, req) == ["aiogram==2.25.1 does not satisfy <4,>=3.31"]
    req.write_text(text.replace(pinned + "\n", ""), encoding="utf-8")
    assert lock.problems(pyproject, req) == ["aiogram is not pinned"]
