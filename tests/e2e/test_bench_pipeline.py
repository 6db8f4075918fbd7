"""`python -m bench.pipeline` at a tiny size: the journey is done (facilities and needs in the database, no
apology) and the figures end as its JSON line (measured at full size in bench/RESULTS.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.updates import FLOW
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else ["sqlite"]


@pytest.mark.parametrize("database", DATABASES)
def test_the_pipeline_bench_does_the_journey_and_prints_its_figures(database: str, tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bench.pipeline", "--users", "4", "--database", database],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["database"], result["users"], result["facilities"], result["needs"], result["apologies"]) == \
        (database, 4, 4, 4, 0)
    assert len(result["steps"]) == len(FLOW)
    assert result["cpu_ms_per_form_update"] > 0 and result["cpu_ms_per_update"] > 0
