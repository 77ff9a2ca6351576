"""Load through the local gateway with a real HTTP load generator: GET /leads/{id} and
POST /leads at 8 concurrent clients (`hey`), req/s and p50/p99 latencies.

`hey` is looked up on PATH and in .local/bin (install it with
`make setup`, which builds it with `go install github.com/rakyll/hey@v0.1.4`). The tenant is on the
enterprise plan (6000 API requests a minute): a run stays below it. The local cloud runs with
its defaults (functions in worker processes, 4 environments per function).

Run: .venv/bin/python bench/bench_gateway_load.py        (BENCH_SMOKE=1: a few requests)
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from local.project import project_cloud  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
CONCURRENCY = 8
READS = 40 if SMOKE else 2000
WRITES = 24 if SMOKE else 1000


def hey_binary() -> str:
    found = shutil.which("hey") or str(ROOT / ".local" / "bin" / "hey")
    if not Path(found).exists():
        sys.exit("hey not found: run make setup (it builds .local/bin/hey)")
    return found


def hey(url: str, token: str, n: int, method: str = "GET", body: str | None = None) -> dict:
    """Runs hey; figures from its per-request CSV (response time, status, start offset)."""
    argv = [hey_binary(), "-n", str(n), "-c", str(CONCURRENCY), "-m", method, "-o", "csv",
            "-H", f"Authorization: Bearer {token}"]  # fmt: skip
    if body is not None:
        argv += ["-T", "application/json", "-d", body]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    if len(rows) != n:
        sys.exit(f"hey answered {len(rows)} rows of {n}:\n{out[-2000:]}")
    times = sorted(float(r["response-time"]) * 1000 for r in rows)
    wall = max(float(r["offset"]) + float(r["response-time"]) for r in rows)
    statuses: dict[int, int] = {}
    for r in rows:
        statuses[int(r["status-code"])] = statuses.get(int(r["status-code"]), 0) + 1
    return {
        "rps": n / wall,
        "p50_ms": statistics.median(times),
        "p99_ms": times[max(0, int(len(times) * 0.99) - 1)],
        "statuses": statuses,
    }


def main() -> None:
    endpoints = ensure_test_services(ROOT)
    with project_cloud(endpoints, profile="bench") as cloud:
        slug = f"load-{uuid.uuid4().hex[:8]}"
        owner = {"email": f"owner@{slug}.example.com", "password": "bench-password-123",
                 "name": "Load"}  # fmt: skip
        signed_up = requests.post(f"{cloud.url}/tenants", timeout=60,
                                  json={"name": "Load", "slug": slug, "owner": owner})  # fmt: skip
        assert signed_up.status_code == 201, signed_up.text
        tenant_id = signed_up.json()["id"]
        credentials = {"email": owner["email"], "password": owner["password"]}
        token = requests.post(f"{cloud.url}/auth/login", json=credentials, timeout=60).json()[
            "access_token"
        ]
        auth = {"Authorization": f"Bearer {token}"}
        upgraded = requests.patch(f"{cloud.url}/tenants/{tenant_id}/plan", headers=auth,
                                  json={"plan": "enterprise"}, timeout=60)  # fmt: skip
        assert upgraded.status_code == 200, upgraded.text
        lead = requests.post(f"{cloud.url}/leads", json={"name": "Read me"}, headers=auth,
                             timeout=60).json()  # fmt: skip
        read_url = f"{cloud.url}/leads/{lead['id']}"
        hey(read_url, token, CONCURRENCY * 5)  # warm: environments, pools, authorizer cache
        hey(f"{cloud.url}/leads", token, CONCURRENCY * 3, "POST", json.dumps({"name": "Warm"}))
        read = hey(read_url, token, READS)
        write = hey(f"{cloud.url}/leads", token, WRITES, "POST", json.dumps({"name": "Load"}))
    for name, result in (("GET /leads/{id}", read), ("POST /leads", write)):
        print(f"{name:<16} c={CONCURRENCY} n={READS if name.startswith('GET') else WRITES}: "
              f"{result['rps']:.0f} req/s  p50 {result['p50_ms']:.1f} ms  "
              f"p99 {result['p99_ms']:.1f} ms  statuses {result['statuses']}")  # fmt: skip
    assert set(read["statuses"]) == {200}, read["statuses"]
    assert set(write["statuses"]) == {201}, write["statuses"]


if __name__ == "__main__":
    main()
