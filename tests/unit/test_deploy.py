"""The deployment files start commands that exist, with options the command line accepts: every Procfile line,
every compose.yaml command and the image's default command go through `python -m bot`'s own parser. No Docker
needed."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from bot.__main__ import parse_args

ROOT = Path(__file__).resolve().parents[2]


def bot_command(words: list[str]) -> str:
    """The subcommand `python -m bot …` runs (`run` when none is named); fails if the parser refuses it."""
    assert words[:3] == ["python", "-m", "bot"], words
    try:
        args = parse_args(words[3:])
    except SystemExit:
        pytest.fail(f"`{' '.join(words)}`: python -m bot refuses these arguments")
    return args.command or "run"


def procfile() -> dict[str, list[str]]:
    lines = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            # The platform's shell expands $PORT; any number will do for the parser.
            lines[name.strip()] = shlex.split(command.replace("$PORT", "5000"))
    return lines


def test_every_procfile_line_names_an_existing_subcommand() -> None:
    commands = {name: bot_command(words) for name, words in procfile().items()}
    assert commands == {"release": "migrate", "web": "web", "worker": "run", "deliver": "deliver"}
    # A platform's router reaches the web process only on $PORT, on every interface.
    web = procfile()["web"]
    assert web[web.index("--port") + 1] == "5000" and web[web.index("--host") + 1] == "0.0.0.0"


def test_compose_runs_existing_subcommands() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    # Written as JSON-style lists, so they read here without a YAML parser.
    commands = [json.loads(found) for found in re.findall(r"^\s+command: (\[.*\])$", text, flags=re.M)]
    assert sorted(bot_command(words) for words in commands) == ["deliver", "migrate", "run", "web"]


def test_the_image_serves_the_console_on_every_interface_as_a_user_without_privileges() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    cmd = json.loads(re.findall(r"^CMD (\[.*\])$", text, flags=re.M)[-1])
    assert bot_command(cmd) == "web"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    users = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert users and users[-1] not in ("root", "0")
