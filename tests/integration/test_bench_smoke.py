"""Every benchmark runs in smoke mode (BENCH_SMOKE=1: a few iterations, a small data set), so
none rots between the runs that measure. Only that each completes is checked: its figures in
smoke mode mean nothing (see bench/smoke.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration

BENCHMARKS = sorted(path.name for path in (ROOT / "bench").glob("bench_*.py"))


def test_every_benchmark_is_found() -> None:
    assert len(BENCHMARKS) >= 14


@pytest.mark.parametrize("name", BENCHMARKS)
def test_the_benchmark_runs_in_smoke_mode(name: str) -> None:
    env = {**os.environ, "BENCH_SMOKE": "1", "PYTHONUNBUFFERED": "1"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    output = (run.stdout + run.stderr)[-4000:]
    assert run.returncode == 0, f"{name} failed in smoke mode:\n{output}"
