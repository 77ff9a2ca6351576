"""Time from `python -m local dev` (what `make dev` runs after its set-up check) to a healthy
gateway, on a warm machine: servers started, migrations checked, topology declared, moto,
gateway, consumers and schedules up. Baseline in the same run: the interpreter start alone
(`python -c pass`).

    .venv/bin/python bench/bench_dev_to_healthy.py [rounds]

Uses the "bench" profile (own ports and data under .local/bench).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.smoke import scaled  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def interpreter_start() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def one_round() -> float:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "AMQP_URL", "OPENSEARCH_URL")
    }
    command = [sys.executable, "-m", "local", "dev", "--profile", "bench", "--port", str(port),
               "--moto-port", str(free_port()), "--no-demo"]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"local dev exited with {process.returncode}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_local/health", timeout=1
                ) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def main(rounds: int) -> None:
    baseline = min(interpreter_start() for _ in range(3))
    one_round()  # the first start may initialise data: not a warm figure
    samples = sorted(one_round() for _ in range(rounds))
    median = samples[len(samples) // 2]
    print(f"interpreter start (baseline): {baseline * 1000:.0f} ms")
    print(
        f"python -m local dev -> healthy, warm, {rounds} rounds: median {median:.1f} s, min {samples[0]:.1f} s, max {samples[-1]:.1f} s"
    )
    print(f"ratio to interpreter start: {median / baseline:.0f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(3, smoke=1))
