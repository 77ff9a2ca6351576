"""Time from `Supervisor.start()` to healthy servers, as `make dev` pays it on a warm machine.

    .venv/bin/python bench/bench_dev_startup.py [--rounds N]

Uses the "bench" profile (its own ports and data under .local/bench, so a running `make dev`
or test servers are not disturbed). The first start after a clean checkout also initialises
the data (initdb, RabbitMQ's schema, OpenSearch's cluster state): it is reported separately as
"cold". Each warm round starts the three servers in parallel, waits until each is healthy
(PostgreSQL SELECT 1, an AMQP connection, OpenSearch cluster health yellow or green) and stops
them; the figures are seconds from start() to healthy, per service and in total (the slowest).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.smoke import scaled
from local.services import SERVICES, Supervisor

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (*SERVICES, "total")


def one_round(env: dict[str, str]) -> tuple[dict[str, float], float]:
    sup = Supervisor(ROOT, "bench", env=env)
    try:
        sup.start()
        timings = dict(sup.timings)
    finally:
        t0 = time.monotonic()
        sup.stop()
    return timings, time.monotonic() - t0


def row(label: str, timings: dict[str, float]) -> str:
    return f"{label:<8}" + "".join(f"{timings.get(c, float('nan')):>12.2f}" for c in COLUMNS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=scaled(3, smoke=1))
    args = parser.parse_args()
    # project-owned servers only: ignore URLs of external servers
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "AMQP_URL", "OPENSEARCH_URL")
    }

    cold = not (ROOT / ".local" / "bench" / "pg.initialised").exists()
    print(f"dev start-up, profile 'bench', {os.cpu_count()} cores (seconds to healthy)")
    print(f"{'':<8}" + "".join(f"{c:>12}" for c in COLUMNS))
    if cold:
        timings, _ = one_round(env)
        print(row("cold", timings))
    rounds = []
    stops = []
    for i in range(args.rounds):
        timings, stop = one_round(env)
        rounds.append(timings)
        stops.append(stop)
        print(row(f"warm {i + 1}", timings))
    median = {c: statistics.median(r[c] for r in rounds) for c in COLUMNS}
    print(row("median", median))
    print(f"stop (all three): median {statistics.median(stops):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
