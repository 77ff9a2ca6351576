"""The event backbone under faults, on its own PostgreSQL, RabbitMQ and OpenSearch (never the
shared test servers: these get stopped) with the local cloud (`python -m local dev`) running
every consumer, the relay on a 2 s schedule and retry delays of 1 s and 2 s.

Each scenario counts, per consumer: events sent (committed to the outbox), deliveries received
(first handlings plus duplicates the ledger skipped), duplicated effects and lost events, and
asserts every event reached every consumer with its effect applied exactly once:

- automation (the router): its effect is the transaction that records the event handled;
- analytics: one OpenSearch document per lead; the index's write count shows a duplicate
  write, and its rejected-write count shows duplicates that external versioning absorbed;
- webhook: its effect (POSTs to the tenant's webhook endpoints; these tenants have none) is
  recorded by the ledger as for the automation router;
- realtime (the WebSocket notifier): its effect (posts to the tenant's open connections; these
  tenants have none) is recorded by the ledger as for the automation router.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pika
import pytest
import requests
from crm.adapters.opensearch.leads_index import LEADS_INDEX, client_for
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.migrations import MigrationResult, run_migrations
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.rabbitmq.publisher import RabbitMqPublisher
from crm.adapters.rabbitmq.topology import load_topology
from crm.domain.events import CloudEvent
from crm.domain.messaging import RetrySchedule, retry_queue_of
from crm.domain.tenants import Principal, Role
from crm.services.leads import NewLead, create_lead

from local.services import URL_ENV, Endpoints, Ports, Supervisor
from tests.support import ROOT, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PROFILE = "itest-faults"  # .local/itest-faults, removed by `make clean`
# Below Linux's ephemeral range (32768-60999): a server restarted mid-test must find its port
# free, not taken as the source port of some client connection.
PORTS = Ports(postgres=25432, amqp=25672, opensearch=29250, amqp_dist=25673, epmd=25369,
              opensearch_transport=29350)  # fmt: skip
BURST = 5000
RETRY_DELAYS = "1,2"
DRAIN_TIMEOUT = 300.0
PASSWORD = "correct horse battery"


# ------------------------------------------------------------------ servers and the local cloud


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Supervisor, Endpoints]]:
    own_env = {k: v for k, v in os.environ.items() if k not in URL_ENV.values()}
    supervisor = Supervisor(ROOT, PROFILE, own_env, ports=PORTS)
    endpoints = supervisor.start()
    try:
        yield supervisor, endpoints
    finally:
        supervisor.stop()


@pytest.fixture(scope="module")
def migrated(servers: tuple[Supervisor, Endpoints]) -> MigrationResult:
    start_from_nothing(servers[1])
    return run_migrations(servers[1].admin_database_url)


def start_from_nothing(endpoints: Endpoints) -> None:
    """The servers keep their data between runs; an interrupted run may have left events in
    queues and the outbox that would be delivered during this one. Every run starts empty."""
    conn = connect(endpoints.admin_database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        conn.run("DROP DATABASE IF EXISTS crm WITH (FORCE)")
        conn.run("CREATE DATABASE crm")
    finally:
        conn.close()
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    try:
        for queue in load_topology()["queues"]:
            for name in (queue["name"], f"{queue['name']}.dlq"):
                connection.channel().queue_delete(name)
        for delay in RetrySchedule.parse(RETRY_DELAYS).delays_seconds:
            connection.channel().queue_delete(retry_queue_of(delay))
    finally:
        connection.close()
    client_for(endpoints.opensearch_url).indices.delete(
        index=f"{LEADS_INDEX}*", params={"ignore_unavailable": "true"}
    )


class LocalCloud:
    """`python -m local dev` against the fault servers, as a killable child process."""

    def __init__(self, endpoints: Endpoints, log_dir: Path) -> None:
        self.endpoints = endpoints
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = self.log_dir / f"local-cloud-{self.starts}.log"
        env = {
            **os.environ,
            "DATABASE_URL": self.endpoints.admin_database_url,
            "AMQP_URL": self.endpoints.amqp_url,
            "OPENSEARCH_URL": self.endpoints.opensearch_url,
            "RETRY_DELAYS_SECONDS": RETRY_DELAYS,
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "local", "dev", "--profile", "test", "--port", str(port),
                   "--moto-port", str(free_port()), "--no-demo", "--schedule-interval", "2"]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the local cloud exited:\n{self.tail()}")
            try:
                if requests.get(f"{self.url}/_local/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        pytest.fail(f"the local cloud did not come up:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: handlers die wherever they are, unacked."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def cloud(servers: tuple[Supervisor, Endpoints], migrated: MigrationResult) -> Iterator[LocalCloud]:
    logs = servers[0].dir / "cloud-logs"  # kept for reading after a failure
    logs.mkdir(exist_ok=True)
    local_cloud = LocalCloud(servers[1], logs)
    local_cloud.start()
    try:
        yield local_cloud
    finally:
        local_cloud.stop()


# ------------------------------------------------------------------ tenants and leads


@dataclass
class Tenant:
    id: uuid.UUID
    owner_id: uuid.UUID
    token: str

    def principal(self) -> Principal:
        return Principal(tenant_id=self.id, user_id=self.owner_id, role=Role.OWNER)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(cloud: LocalCloud, name: str) -> Tenant:
    slug = f"{name}-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.com"
    body = {"name": name, "slug": slug, "owner": {"email": email, "password": PASSWORD,
                                                   "name": "Owner"}}  # fmt: skip
    signed_up = requests.post(f"{cloud.url}/tenants", json=body, timeout=30)
    assert signed_up.status_code == 201, signed_up.text
    login = requests.post(f"{cloud.url}/auth/login", json={"email": email, "password": PASSWORD},
                          timeout=30)  # fmt: skip
    assert login.status_code == 200, login.text
    tenant = Tenant(uuid.UUID(signed_up.json()["id"]), uuid.UUID(signed_up.json()["owner"]["id"]),
                    login.json()["access_token"])  # fmt: skip
    # The free plan caps leads (1,000) and requests (120 a minute); a burst needs more.
    upgraded = requests.patch(f"{cloud.url}/tenants/{tenant.id}/plan", json={"plan": "enterprise"},
                              headers=tenant.headers(), timeout=30)  # fmt: skip
    assert upgraded.status_code == 200, upgraded.text
    return tenant


def create_leads_via_api(
    cloud: LocalCloud, tenant: Tenant, n: int, progress: Callable[[int], None]
) -> int:
    """POST /leads n times from 4 clients; a failed request is retried with its
    Idempotency-Key, so a retry after a lost response never creates a second lead."""
    created = 0
    lock = threading.Lock()
    run = uuid.uuid4().hex[:8]

    def one(i: int) -> None:
        nonlocal created
        key = f"{run}-{i}"
        for attempt in range(60):
            try:
                response = requests.post(
                    f"{cloud.url}/leads", json={"name": f"Lead {i}", "source": "burst"},
                    headers={**tenant.headers(), "Idempotency-Key": key}, timeout=30,
                )  # fmt: skip
                if response.status_code == 201:
                    break
                # only outages are retried
                assert response.status_code >= 500, (i, attempt, response.text)
            except requests.RequestException:
                pass
            time.sleep(0.25)
        else:
            raise AssertionError(f"lead {i} was never created")
        with lock:
            created += 1
            progress(created)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n)))
    return created


def create_leads_in_process(
    app_url: str, tenant: Tenant, n: int, amqp_url: str | None, progress: Callable[[int], None]
) -> int:
    """The API's own code path (create_lead: lead + outbox row in one transaction, then the
    post-commit publish when a broker is given), from 4 threads of this process."""
    pool = ConnectionPool(app_url, 4)
    db = PostgresDatabase(pool, RabbitMqPublisher(amqp_url) if amqp_url else None)
    counter = iter(range(n))
    created = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal created
        for i in counter:
            create_lead(NewLead(name=f"Lead {i}", source="burst"), tenant.principal(),
                        unit_of_work=db.unit_of_work)  # fmt: skip
            with lock:
                created += 1
                progress(created)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.close()
    return created


# ------------------------------------------------------------------ counting


def query(endpoints: Endpoints, sql: str, **params: Any) -> list[list[Any]]:
    """A fresh admin connection per query: the database may have restarted since the last."""
    for _ in range(60):
        try:
            conn = connect(endpoints.admin_database_url)
        except Exception:
            time.sleep(0.5)
            continue
        try:
            rows: list[list[Any]] = conn.run(sql, **params)
            return rows
        finally:
            conn.close()
    raise AssertionError("the fault database did not come back")


def sent(endpoints: Endpoints, tenant: Tenant) -> tuple[int, int]:
    """(events in the outbox, of which still unpublished)."""
    row = query(endpoints, "SELECT count(*), count(*) FILTER (WHERE published_at IS NULL)"
                " FROM outbox WHERE tenant_id = :t AND type = 'crm.lead.created'", t=tenant.id)[0]  # fmt: skip
    return row[0], row[1]


def relay_progress(endpoints: Endpoints, tenant: Tenant) -> tuple[int, int]:
    """(lead events published, unpublished ones old enough for the relay's next batch)."""
    row = query(endpoints, "SELECT count(*) FILTER (WHERE published_at IS NOT NULL),"
                " count(*) FILTER (WHERE published_at IS NULL"
                "   AND created_at < clock_timestamp() - interval '5 seconds')"
                " FROM outbox WHERE tenant_id = :t AND type = 'crm.lead.created'", t=tenant.id)[0]  # fmt: skip
    return row[0], row[1]


def ledger(endpoints: Endpoints, tenant: Tenant, consumer: str) -> tuple[int, int]:
    """(lead events handled, duplicate deliveries skipped) by one consumer for the tenant."""
    row = query(endpoints, "SELECT count(*), coalesce(sum(p.duplicate_deliveries), 0)"
                " FROM processed_events p JOIN outbox o ON o.id = p.event_id"
                " WHERE p.tenant_id = :t AND p.consumer = :c AND o.type = 'crm.lead.created'",
                t=tenant.id, c=consumer)[0]  # fmt: skip
    return row[0], int(row[1])


def index_writes(endpoints: Endpoints) -> tuple[int, int]:
    """(successful writes, rejected writes) of the lead index since it was created."""
    client = client_for(endpoints.opensearch_url)
    if not client.indices.exists(index=LEADS_INDEX):
        return 0, 0
    stats = client.indices.stats(index=LEADS_INDEX, metric="indexing")
    indexing = stats["_all"]["primaries"]["indexing"]
    return indexing["index_total"], indexing["index_failed"]


def indexed_leads(endpoints: Endpoints, tenant: Tenant) -> int:
    client = client_for(endpoints.opensearch_url)
    client.indices.refresh(index=LEADS_INDEX)
    body = {"query": {"term": {"tenant_id": str(tenant.id)}}}
    count: int = client.count(index=LEADS_INDEX, body=body, routing=str(tenant.id))["count"]
    return count


@dataclass
class ConsumerCount:
    received: int  # deliveries, duplicates included
    distinct: int
    duplicated_effects: int
    lost: int


@dataclass
class Tally:
    scenario: str
    sent: int
    consumers: dict[str, ConsumerCount] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"\n== {self.scenario}: {self.sent} events sent"]
        lines += [f"   {note}" for note in self.notes]
        lines.append(f"   {'consumer':<11}{'received':>10}{'distinct':>10}{'duplicates':>12}"
                     f"{'dup. effects':>14}{'lost':>6}")  # fmt: skip
        for name, c in self.consumers.items():
            lines.append(f"   {name:<11}{c.received:>10}{c.distinct:>10}"
                         f"{c.received - c.distinct:>12}{c.duplicated_effects:>14}{c.lost:>6}")  # fmt: skip
        return "\n".join(lines)


def wait_until_settled(endpoints: Endpoints, tenant: Tenant, cloud: LocalCloud, n: int) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    state: tuple[Any, ...] = ()
    while time.monotonic() < deadline:
        state = (sent(endpoints, tenant), ledger(endpoints, tenant, "automation")[0],
                 ledger(endpoints, tenant, "analytics")[0],
                 ledger(endpoints, tenant, "realtime")[0])  # fmt: skip
        if state == ((n, 0), n, n, n):
            return
        time.sleep(1)
    pytest.fail(f"not settled after {DRAIN_TIMEOUT:.0f} s: (sent, unpublished), automation, "
                f"analytics, realtime = {state}\n{cloud.tail()}")  # fmt: skip


def tally(
    scenario: str, endpoints: Endpoints, tenant: Tenant, n: int, writes_before: tuple[int, int]
) -> Tally:
    total, _ = sent(endpoints, tenant)
    result = Tally(scenario, total)
    for consumer in ("automation", "analytics", "webhook", "realtime"):
        distinct, duplicates = ledger(endpoints, tenant, consumer)
        result.consumers[consumer] = ConsumerCount(distinct + duplicates, distinct, 0, n - distinct)
    writes, rejected = index_writes(endpoints)
    documents = indexed_leads(endpoints, tenant)
    analytics = result.consumers["analytics"]
    analytics.duplicated_effects = (writes - writes_before[0]) - documents
    analytics.lost = n - documents
    result.notes.append(f"analytics: {documents} lead documents, {writes - writes_before[0]} "
                        f"index writes, {rejected - writes_before[1]} duplicate writes rejected "
                        "by external versioning")  # fmt: skip
    letters = query(endpoints, "SELECT count(*) FROM dead_letters WHERE tenant_id = :t",
                    t=tenant.id)[0][0]  # fmt: skip
    result.notes.append(f"dead letters: {letters}")
    return result


def assert_exactly_once(result: Tally, n: int, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(result.render())
    assert result.sent == n
    for name, count in result.consumers.items():
        assert count.lost == 0 and count.distinct == n, (name, count)
        assert count.duplicated_effects == 0, (name, count)
    assert result.notes[-1] == "dead letters: 0"


# ------------------------------------------------------------------ the scenarios


def test_rabbitmq_stopped_mid_burst_of_lead_creations(
    servers: tuple[Supervisor, Endpoints], cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor, endpoints = servers
    tenant = sign_up(cloud, "mq-outage")
    writes_before = index_writes(endpoints)
    created = [0]
    quarter_done, outage_over = threading.Event(), threading.Event()
    created_during_outage = [0]

    def progress(count: int) -> None:
        created[0] = count
        if count == BURST // 4:
            quarter_done.set()

    def broker_outage() -> None:
        quarter_done.wait()
        before = created[0]
        supervisor.stop_service("rabbitmq")
        time.sleep(3)
        supervisor.start_service("rabbitmq")
        created_during_outage[0] = created[0] - before
        outage_over.set()

    fault = threading.Thread(target=broker_outage)
    fault.start()
    total = create_leads_via_api(cloud, tenant, BURST, progress)
    fault.join(120)
    assert outage_over.is_set() and total == BURST
    wait_until_settled(endpoints, tenant, cloud, BURST)
    result = tally("RabbitMQ stopped mid-burst (POST /leads x5000)", endpoints, tenant, BURST,
                   writes_before)  # fmt: skip
    result.notes.insert(0, f"leads created while RabbitMQ was stopped or starting: "
                           f"{created_during_outage[0]}")  # fmt: skip
    assert created_during_outage[0] > 0  # the outage did hit the burst
    assert_exactly_once(result, BURST, capsys)


def test_postgresql_restarted_while_the_relay_publishes(
    servers: tuple[Supervisor, Endpoints],
    migrated: MigrationResult,
    cloud: LocalCloud,
    capsys: pytest.CaptureFixture[str],
) -> None:
    supervisor, endpoints = servers
    # The relay may drain a burst between two polls; then the scenario is replayed with a new
    # tenant (after the previous one settled). The last attempt stops the database right after
    # the burst is committed, while the newest rows are still younger than the relay's minimum
    # age: a restart with events pending in the relay, whatever the timing.
    attempts = 3
    for attempt in range(attempts):
        tenant = sign_up(cloud, f"pg-restart-{attempt}")
        writes_before = index_writes(endpoints)
        # Committed without a post-commit publish (as if every request crashed right after
        # its commit): the relay has all of them to publish.
        create_leads_in_process(migrated.app_url, tenant, BURST, None, lambda created: None)
        if attempt == attempts - 1:
            published = relay_progress(endpoints, tenant)[0]
            break
        published = _mid_relay(endpoints, tenant)
        if published is not None:
            break
        wait_until_settled(endpoints, tenant, cloud, BURST)
    assert published is not None
    published_at_stop = published
    supervisor.stop_service("postgres")
    time.sleep(2)
    supervisor.start_service("postgres")
    wait_until_settled(endpoints, tenant, cloud, BURST)
    result = tally("PostgreSQL restarted during the relay's sweep", endpoints, tenant, BURST,
                   writes_before)  # fmt: skip
    result.notes.insert(0, f"relay had published {published_at_stop} of {BURST} when "
                           "PostgreSQL was stopped")  # fmt: skip
    assert published_at_stop < BURST  # the restart did interrupt the relay
    assert_exactly_once(result, BURST, capsys)


def _mid_relay(endpoints: Endpoints, tenant: Tenant) -> int | None:
    """Wait for the moment a relay batch has just been marked while a full batch of rows old
    enough for the relay (RELAY_MIN_AGE_SECONDS, 5 s) waits: the relay is then publishing that
    next batch, and its mark never commits if the database stops now. Returns the published
    count at that moment, or None when the relay finished first."""
    deadline = time.monotonic() + 60
    last = -1
    while time.monotonic() < deadline:
        published, ready = relay_progress(endpoints, tenant)
        if last >= 0 and published > last and ready >= 200:
            return published
        if published >= BURST:
            return None
        last = published
        time.sleep(0.01)
    return None


def test_consumers_killed_mid_batch(
    servers: tuple[Supervisor, Endpoints],
    migrated: MigrationResult,
    cloud: LocalCloud,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, endpoints = servers
    tenant = sign_up(cloud, "kill")
    writes_before = index_writes(endpoints)
    producer = threading.Thread(
        target=create_leads_in_process,
        args=(migrated.app_url, tenant, BURST, endpoints.amqp_url, lambda created: None),
    )
    producer.start()
    deadline = time.monotonic() + 120
    while ledger(endpoints, tenant, "analytics")[0] < BURST // 5:
        assert time.monotonic() < deadline, cloud.tail()
        time.sleep(0.05)
    handled_at_kill = ledger(endpoints, tenant, "analytics")[0]
    cloud.kill()
    cloud.start()
    producer.join(300)
    wait_until_settled(endpoints, tenant, cloud, BURST)
    result = tally("consumers SIGKILLed mid-batch, then restarted", endpoints, tenant, BURST,
                   writes_before)  # fmt: skip
    result.notes.insert(0, f"analytics had handled {handled_at_kill} when the local cloud "
                           "was killed")  # fmt: skip
    assert handled_at_kill < BURST
    assert_exactly_once(result, BURST, capsys)


# ------------------------------------------------------------------ failing consumer, duplicates


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]]

    def wait_for(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.bodies) < count:
            time.sleep(0.2)
        return len(self.bodies)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Receiver(f"http://127.0.0.1:{server.server_port}/hook", bodies)
    server.shutdown()
    server.server_close()


def add_webhook_automation(cloud: LocalCloud, tenant: Tenant, url: str) -> str:
    workflow = {"trigger": {"event": "crm.lead.created"},
                "steps": [{"id": "notify", "type": "action",
                           "action": {"kind": "webhook", "url": url}}]}  # fmt: skip
    response = requests.post(f"{cloud.url}/automations", headers=tenant.headers(),
                             json={"name": "hook", "workflow": workflow, "publish": True}, timeout=30)  # fmt: skip
    assert response.status_code == 201, response.text
    automation_id: str = response.json()["id"]
    return automation_id


def send_sentinel(
    cloud: LocalCloud, endpoints: Endpoints, receiver: Receiver, delivered: int
) -> str:
    """A lead of a tenant of its own, whose webhook automation posts to `receiver` after what
    it has received so far: once its webhook arrived and its document is indexed, anything
    published before it has had its chance to act on both queues. It adds one index write.
    Returns the sentinel's event id."""
    other = sign_up(cloud, "sentinel")
    add_webhook_automation(cloud, other, receiver.url)
    create_lead_via_api(cloud, other)
    assert receiver.wait_for(delivered + 1, timeout=90) == delivered + 1, cloud.tail()
    deadline = time.monotonic() + 60
    while indexed_leads(endpoints, other) < 1:
        assert time.monotonic() < deadline, "the sentinel lead was not indexed"
        time.sleep(0.2)
    event_id: str = receiver.bodies[delivered]["event"]["id"]
    return event_id


def create_lead_via_api(cloud: LocalCloud, tenant: Tenant) -> dict[str, Any]:
    response = requests.post(f"{cloud.url}/leads", headers=tenant.headers(),
                             json={"name": "One lead"}, timeout=30)  # fmt: skip
    assert response.status_code == 201, response.text
    lead: dict[str, Any] = response.json()
    return lead


def event_of(endpoints: Endpoints, lead_id: str) -> dict[str, Any]:
    rows = query(endpoints, "SELECT envelope FROM outbox WHERE aggregate = :a",
                 a=f"leads/{lead_id}")  # fmt: skip
    envelope: dict[str, Any] = rows[0][0]
    return envelope


def test_a_consumer_that_always_fails_retries_on_schedule_dead_letters_and_redrives_once(
    servers: tuple[Supervisor, Endpoints],
    cloud: LocalCloud,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, endpoints = servers
    tenant = sign_up(cloud, "always-fails")
    automation_id = add_webhook_automation(cloud, tenant, receiver.url)
    # Break the stored workflow so the router fails on every attempt (a bug or bad data, not
    # an outage), then fix it after the event is dead.
    definition = query(endpoints, "SELECT definition FROM automation_versions"
                       " WHERE automation_id = :a", a=uuid.UUID(automation_id))[0][0]  # fmt: skip
    query(endpoints, "UPDATE automation_versions SET definition = CAST(:d AS jsonb)"
          " WHERE automation_id = :a", d=json.dumps({**definition, "steps": "broken"}),
          a=uuid.UUID(automation_id))  # fmt: skip
    lead = create_lead_via_api(cloud, tenant)
    event_id = event_of(endpoints, lead["id"])["id"]

    listed: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not listed and time.monotonic() < deadline:
        time.sleep(0.5)
        response = requests.get(f"{cloud.url}/admin/dead-letters?consumer=automation",
                                headers=tenant.headers(), timeout=30)  # fmt: skip
        listed = response.json()["items"]
    assert len(listed) == 1, cloud.tail()
    letter = listed[0]
    spread = (
        datetime.fromisoformat(letter["last_failed_at"])
        - datetime.fromisoformat(letter["first_failed_at"])
    ).total_seconds()
    assert letter["event"]["id"] == event_id and letter["attempts"] == 3
    assert "validation error" in letter["error"].lower()
    assert 3 <= spread <= 30  # 1 s, then 2 s, between the three attempts
    assert ledger(endpoints, tenant, "analytics")[0] == 1  # other consumers were unaffected
    assert receiver.bodies == []

    query(endpoints, "UPDATE automation_versions SET definition = CAST(:d AS jsonb)"
          " WHERE automation_id = :a", d=json.dumps(definition), a=uuid.UUID(automation_id))  # fmt: skip
    redriven = requests.post(f"{cloud.url}/admin/dead-letters/redrive", headers=tenant.headers(),
                             json={"ids": [letter["id"]]}, timeout=30)  # fmt: skip
    assert redriven.status_code == 200 and redriven.json()["redriven"] == 1, redriven.text
    assert receiver.wait_for(1, timeout=90) == 1, cloud.tail()
    sentinel = send_sentinel(cloud, endpoints, receiver, 1)  # nothing else arrives before it
    runs = query(endpoints, "SELECT count(*) FROM automation_runs WHERE event_id = :e",
                 e=uuid.UUID(event_id))[0][0]  # fmt: skip
    with capsys.disabled():
        print(f"\n== consumer that always fails: 1 event; automation attempts {letter['attempts']}"
              f" over {spread:.1f} s (delays {RETRY_DELAYS} s), dead letter: "
              f"{letter['error'].splitlines()[0]}; after the fix and a redrive: webhook deliveries "
              f"{len(receiver.bodies) - 1}, automation runs {runs}, "
              f"automation ledger {ledger(endpoints, tenant, 'automation')}")  # fmt: skip
    assert len(receiver.bodies) == 2 and runs == 1
    assert [body["event"]["id"] for body in receiver.bodies] == [event_id, sentinel]
    assert ledger(endpoints, tenant, "automation") == (1, 0)


def test_a_duplicate_publication_has_one_effect(
    servers: tuple[Supervisor, Endpoints],
    cloud: LocalCloud,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, endpoints = servers
    tenant = sign_up(cloud, "duplicates")
    add_webhook_automation(cloud, tenant, receiver.url)
    writes_before = index_writes(endpoints)
    lead = create_lead_via_api(cloud, tenant)  # published once after its commit
    event = CloudEvent.from_dict(event_of(endpoints, lead["id"]))
    publisher = RabbitMqPublisher(endpoints.amqp_url)
    publisher.publish([event, event])  # and twice more
    publisher.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        ledger(endpoints, tenant, "automation")[1] < 2
        or ledger(endpoints, tenant, "analytics")[1] < 2
    ):
        time.sleep(0.3)
    assert receiver.wait_for(1, timeout=90) == 1, cloud.tail()
    sentinel = send_sentinel(cloud, endpoints, receiver, 1)  # nothing else arrives before it
    writes_before = (writes_before[0] + 1, writes_before[1])  # the sentinel's one index write
    result = tally("the same event published three times", endpoints, tenant, 1, writes_before)
    assert_exactly_once(result, 1, capsys)
    with capsys.disabled():
        print(f"   webhook deliveries: {len(receiver.bodies) - 1}")
    assert [body["event"]["id"] for body in receiver.bodies] == [str(event.id), sentinel]
    assert result.consumers["automation"].received == 3
    assert result.consumers["analytics"].received == 3
