"""`python -m bench.console` at a tiny size: it seeds, drives the console and ends with its JSON line (the figures
themselves are in bench/RESULTS.md, measured at full size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else ["sqlite"]


@pytest.mark.parametrize("database", DATABASES)
def test_the_console_bench_prints_its_figures_as_the_last_line(database: str, tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bench.console", "--facilities", "50", "--needs", "200",
                           "--requests", "2", "--database", database], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["database"], result["facilities"], result["needs"]) == (database, 50, 200)
    assert set(result["pages"]) == {"needs_filtered", "needs_search", "dashboard", "facilities"}
    for figures in result["pages"].values():
        assert set(figures) == {"first_ms", "p50_ms", "p95_ms"} and 0 < figures["p50_ms"] <= figures["p95_ms"]
    export = result["export"]
    assert export["rows"] == 200 and export["bytes"] > 0 and export["seconds"] > 0
    assert {"cpu_seconds", "traced_peak_mb", "rss_growth_mb", "rss_peak_mb"} <= set(export)
    assert isinstance(result["targets_met"], bool)
