"""The email benchmark runs (its smoke mode: a handful of emails and renders) and prints its
ratios, so it cannot rot between the runs that measure."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration


def test_the_email_benchmark_runs_in_smoke_mode() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_email.py"), "--smoke"],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ratio worker/bare:" in done.stdout and "ratio ours/bare:" in done.stdout
