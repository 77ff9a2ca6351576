"""Servers for the event-backbone benchmarks: their own PostgreSQL and RabbitMQ (the relay
sweeps every tenant's outbox, so it must not run against a database other people use), and
the test profile's OpenSearch for the analytics consumer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from local.services import URL_ENV, Endpoints, Ports, Supervisor, ensure_test_services  # noqa: E402

PROFILE = "bench-backbone"
# Below the ephemeral port range, so a restarted server always gets its port back.
PORTS = Ports(postgres=25532, amqp=25772, opensearch=29270, amqp_dist=25773, epmd=25469,
              opensearch_transport=29370)  # fmt: skip


def backbone_servers() -> tuple[Supervisor, Endpoints]:
    """Started servers (stop them with supervisor.stop())."""
    opensearch = ensure_test_services(ROOT).opensearch_url
    env = {k: v for k, v in os.environ.items() if k not in URL_ENV.values()}
    supervisor = Supervisor(ROOT, PROFILE, {**env, "OPENSEARCH_URL": opensearch}, ports=PORTS)
    return supervisor, supervisor.start()
