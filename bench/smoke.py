"""Smoke mode: `BENCH_SMOKE=1` runs a benchmark with a few iterations and a small data set, so
that every benchmark is exercised by the tests (tests/integration/test_bench_smoke.py) and none
rots between the runs that measure. Its figures mean nothing and nothing is asserted on them.

    N = scaled(2000, smoke=5)   # 2000 normally, 5 in smoke mode
"""

from __future__ import annotations

import os

SMOKE = os.environ.get("BENCH_SMOKE") == "1"


def scaled(full: int, smoke: int) -> int:
    """`full` normally; `smoke` in smoke mode."""
    return smoke if SMOKE else full
