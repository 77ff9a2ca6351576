"""Commit -> consumer effect latency at a steady 500 events/s, against the broker's own
commit -> delivery latency for the same events in the same run.

Producer: the API's code path (create_lead: lead + outbox row in one transaction, then the
post-commit publish with confirms) in 3 processes, paced together at RATE leads per second
for SECONDS seconds, over 10 tenants; the achieved rate is printed (on 2 cores the whole stack saturates the
CPU before 500/s: see the closing note). Consumers: the local cloud (`python -m local dev`) against the
same servers: the automation router and the analytics indexer (OpenSearch) on the consumer
framework, Lambda-style batches from the MQ event source (batching window 200 ms).

Measured per event, on the database's clock (track_commit_timestamp): the producer's commit
(the lead row) to the consumer's commit (its processed-events row, written with the effect).
Baseline: a bare pika consumer on a private queue bound to crm.lead.# receives the same events
(no batching, no database): the producer's commit to delivery in Python.

Runs on its own PostgreSQL and RabbitMQ (bench/backbone_servers.py), started and stopped here.
Run: .venv/bin/python bench/bench_event_latency.py [RATE] [SECONDS]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

import pika  # noqa: E402
import requests  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool, connect  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.adapters.rabbitmq.publisher import RabbitMqPublisher  # noqa: E402
from crm.adapters.rabbitmq.topology import EVENTS_EXCHANGE, declare_topology  # noqa: E402
from crm.domain.tenants import Principal, Role, Tenant  # noqa: E402
from crm.services.leads import NewLead, create_lead  # noqa: E402

from bench.backbone_servers import backbone_servers  # noqa: E402
from bench.smoke import scaled  # noqa: E402
from local.services import Endpoints, Supervisor  # noqa: E402

CONSUMERS = ("automation", "analytics")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def enable_commit_timestamps(supervisor: Supervisor, endpoints: Endpoints) -> None:
    conn = connect(endpoints.admin_database_url)
    try:
        on = conn.run("SHOW track_commit_timestamp")[0][0] == "on"
        if not on:
            conn.run("ALTER SYSTEM SET track_commit_timestamp = on")
    finally:
        conn.close()
    if not on:  # a server setting: takes a restart
        supervisor.stop_service("postgres")
        supervisor.start_service("postgres")


def start_cloud(endpoints: Endpoints, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": endpoints.admin_database_url,
           "AMQP_URL": endpoints.amqp_url, "OPENSEARCH_URL": endpoints.opensearch_url}  # fmt: skip
    command = [sys.executable, "-m", "local", "dev", "--profile", "test", "--port", str(port),
               "--moto-port", str(free_port()), "--no-demo"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the local cloud exited: see {log}")
        try:
            if requests.get(f"{url}/_local/health", timeout=2).status_code == 200:
                return process, url
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the local cloud did not come up: see {log}")


class Tap:
    """A bare consumer of every lead event: delivery time per event id."""

    def __init__(self, amqp_url: str) -> None:
        self.delivered: dict[str, float] = {}
        self._connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self._channel = self._connection.channel()
        self._queue = self._channel.queue_declare("", exclusive=True).method.queue
        self._channel.queue_bind(self._queue, EVENTS_EXCHANGE, routing_key="crm.lead.#")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for method, _, body in self._channel.consume(
            self._queue, auto_ack=True, inactivity_timeout=0.1
        ):
            if method is not None:
                self.delivered.setdefault(json.loads(body)["id"], time.time())
            if self._stop.is_set():
                break

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._connection.close()


PRODUCERS = 3  # processes: one Python process cannot create leads this fast (GIL)
# Lead creations of one tenant take turns on its usage counter (the plan's lead limit is
# checked under a row lock until commit); 500/s is a platform's rate, spread over tenants.
TENANTS = 10


def produce(app_url: str, amqp_url: str, owners: list[Principal], rate: int, seconds: int) -> float:
    """Create rate * seconds leads on a fixed schedule from PRODUCERS processes, round-robin
    over the tenants; returns the achieved rate."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3  # after the processes have started
    tenants = [(str(o.tenant_id), str(o.user_id)) for o in owners]
    jobs = [(app_url, amqp_url, tenants, rate, seconds, index, start_at)
            for index in range(PRODUCERS)]  # fmt: skip
    with context.Pool(PRODUCERS) as pool:
        finished = max(pool.starmap(produce_share, jobs))
    return rate * seconds / (finished - start_at)


def produce_share(
    app_url: str, amqp_url: str, tenants: list[tuple[str, str]], rate: int, seconds: int,
    index: int, start_at: float,
) -> float:  # fmt: skip
    """Slots index, index + PRODUCERS, ...: the API's code path, each at its time."""
    db = PostgresDatabase(ConnectionPool(app_url, 1), RabbitMqPublisher(amqp_url))
    owners = [Principal(tenant_id=uuid.UUID(t), user_id=uuid.UUID(u), role=Role.OWNER)
              for t, u in tenants]  # fmt: skip
    for slot in range(index, rate * seconds, PRODUCERS):
        delay = start_at + slot / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        create_lead(NewLead(name=f"Latency {slot}", source="bench"), owners[slot % len(owners)],
                    unit_of_work=db.unit_of_work)  # fmt: skip
    return time.time()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def main(rate: int, seconds: int) -> None:
    supervisor, endpoints = backbone_servers()
    cloud: subprocess.Popen[bytes] | None = None
    tap: Tap | None = None
    try:
        enable_commit_timestamps(supervisor, endpoints)
        migrated = run_migrations(endpoints.admin_database_url)
        declare_topology(endpoints.amqp_url)
        cloud, _ = start_cloud(endpoints, supervisor.dir / "latency-cloud.log")
        db = PostgresDatabase(ConnectionPool(migrated.app_url, 1))
        owners = []
        for _ in range(TENANTS):
            tenant = Tenant(name="Latency", slug=f"latency-{uuid.uuid4().hex[:8]}",
                            plan="enterprise")  # fmt: skip
            with db.unit_of_work(tenant.id) as uow:
                uow.tenants.add(tenant)
                uow.commit()
            owners.append(Principal(tenant_id=tenant.id, user_id=uuid.uuid4(), role=Role.OWNER))
        tenant_ids = [str(o.tenant_id) for o in owners]
        tap = Tap(endpoints.amqp_url)
        achieved = produce(migrated.app_url, endpoints.amqp_url, owners, rate, seconds)
        total = rate * seconds
        conn = connect(endpoints.admin_database_url)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                done = conn.run("SELECT count(*) FROM processed_events"
                                " WHERE tenant_id = ANY(CAST(:t AS uuid[]))", t=tenant_ids)[0][0]  # fmt: skip
                if done >= total * len(CONSUMERS):
                    break
                time.sleep(1)
            rows = conn.run(
                "SELECT p.consumer, extract(epoch FROM pg_xact_commit_timestamp(p.xmin)"
                "  - pg_xact_commit_timestamp(l.xmin))"
                " FROM processed_events p JOIN outbox o ON o.id = p.event_id"
                " JOIN leads l ON l.id = CAST(o.envelope->'data'->'lead'->>'id' AS uuid)"
                " WHERE p.tenant_id = ANY(CAST(:t AS uuid[]))",
                t=tenant_ids,
            )
            commits = conn.run(
                "SELECT o.id, extract(epoch FROM pg_xact_commit_timestamp(l.xmin))"
                " FROM outbox o JOIN leads l"
                "   ON l.id = CAST(o.envelope->'data'->'lead'->>'id' AS uuid)"
                " WHERE o.tenant_id = ANY(CAST(:t AS uuid[]))",
                t=tenant_ids,
            )
        finally:
            conn.close()
    finally:
        if tap is not None:
            tap.close()
        if cloud is not None and cloud.poll() is None:
            os.killpg(cloud.pid, signal.SIGTERM)
            cloud.wait(30)
        supervisor.stop()
    bare = [tap.delivered[str(id_)] - float(at) for id_, at in commits if str(id_) in tap.delivered]
    bare_p50, bare_p99 = percentiles(bare)
    print(f"{total} leads at {rate}/s for {seconds} s (achieved {achieved:.0f}/s)")
    print(f"bare broker, commit -> delivered (n={len(bare)}): p50 {bare_p50:.1f} ms  "
          f"p99 {bare_p99:.1f} ms")  # fmt: skip
    for consumer in CONSUMERS:
        samples = [float(latency) for name, latency in rows if name == consumer]
        p50, p99 = percentiles(samples)
        print(f"{consumer}, commit -> effect committed (n={len(samples)}): p50 {p50:.1f} ms  "
              f"p99 {p99:.1f} ms   ratio to bare: p50 {p50 / bare_p50:.1f}x  "
              f"p99 {p99 / bare_p99:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else scaled(500, smoke=20),
        int(sys.argv[2]) if len(sys.argv) > 2 else scaled(20, smoke=2),
    )
