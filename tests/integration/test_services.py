"""The supervisor of the project-owned servers (local/supervisor.py, local/servers/), on real servers.

Costly parts are kept small: only PostgreSQL and RabbitMQ are started (on temporary ports, in
a throw-away profile dir); OpenSearch and the external-URL cases reuse the running servers of
the "test" profile (the `endpoints` fixture)."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pg8000.dbapi
import pika
import pytest

from local.services import (
    MARKER_ENV,
    Endpoints,
    Ports,
    ServiceError,
    Supervisor,
)
from tests.support import ROOT, free_port

pytestmark = pytest.mark.integration


def _ports(**fixed: int) -> Ports:
    values = {
        name: fixed.get(name) or free_port()
        for name in ("postgres", "amqp", "opensearch", "amqp_dist", "epmd", "opensearch_transport")
    }
    return Ports(**values)


def _external(endpoints: Endpoints, *services: str) -> dict[str, str]:
    urls = {
        "postgres": ("DATABASE_URL", endpoints.admin_database_url),
        "rabbitmq": ("AMQP_URL", endpoints.amqp_url),
        "opensearch": ("OPENSEARCH_URL", endpoints.opensearch_url),
        "mailpit": ("MAILPIT_URL", endpoints.mailpit_url),
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "AMQP_URL", "OPENSEARCH_URL", "MAILPIT_URL", "MAILPIT_SMTP")
    }
    env.update(dict(urls[s] for s in services))
    if "mailpit" in services:
        env["MAILPIT_SMTP"] = endpoints.smtp_address
    return env


def _processes_of(directory: Path) -> list[str]:
    """Live processes started from `directory`: by command line, or by the marker the
    supervisor puts in every child's environment (which its own children inherit)."""
    found = []
    marker = f"{MARKER_ENV}={directory}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if stat[stat.rindex(")") + 2] == "Z":
                continue
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ")
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if str(directory).encode() in cmdline or marker in environ:
            found.append(f"{entry.name}: {cmdline.decode(errors='replace')[:120]}")
    return found


@pytest.fixture()
def profile() -> Iterator[str]:
    name = f"itest-{uuid.uuid4().hex[:8]}"
    yield name
    Supervisor(ROOT, name, ports=_ports()).stop_detached()
    shutil.rmtree(ROOT / ".local" / name, ignore_errors=True)


def test_busy_port_is_one_clear_line(endpoints: Endpoints, profile: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        sup = Supervisor(
            ROOT,
            profile,
            env=_external(endpoints, "rabbitmq", "opensearch"),
            ports=_ports(postgres=port),
        )
        with pytest.raises(ServiceError) as err:
            sup.start()
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        f"port {port} (postgres) is busy: set DATABASE_URL to use your own server or free the port"
    )
    assert _processes_of(ROOT / ".local" / profile) == []


def test_missing_binaries_are_one_clear_line(endpoints: Endpoints, tmp_path: Path) -> None:
    env = _external(endpoints, "rabbitmq")
    env["PG_BINDIR"] = str(tmp_path / "nowhere")
    sup = Supervisor(tmp_path, "itest", env=env, ports=_ports())  # no OpenSearch under tmp_path
    with pytest.raises(ServiceError) as err:
        sup.start()
    message = str(err.value)
    assert "\n" not in message
    assert "PostgreSQL server binaries not found in PG_BINDIR=" in message
    assert f"OpenSearch not found at {tmp_path}" in message
    with pytest.raises(ServiceError, match="unknown profile"):
        Supervisor(ROOT, "no-such-profile")


def test_external_urls_are_used_and_nothing_is_started(endpoints: Endpoints, profile: str) -> None:
    env = _external(endpoints, "postgres", "rabbitmq", "opensearch", "mailpit")
    with Supervisor(ROOT, profile, env=env, ports=_ports()) as started:
        assert started == endpoints
        assert _processes_of(ROOT / ".local" / profile) == []
    assert not list((ROOT / ".local" / profile).glob("*.pid"))


def test_start_stop_leaves_no_process_and_data_persists(endpoints: Endpoints, profile: str) -> None:
    ports = _ports()
    env = _external(endpoints, "opensearch")
    directory = ROOT / ".local" / profile

    sup = Supervisor(ROOT, profile, env=env, ports=ports)
    ep = sup.start()
    assert ep.admin_database_url == f"postgresql://postgres:postgres@127.0.0.1:{ports.postgres}/crm"
    assert ep.amqp_url == f"amqp://guest:guest@127.0.0.1:{ports.amqp}/%2F"
    assert _processes_of(directory)
    conn = pg8000.dbapi.connect(
        user="postgres", password="postgres", host="127.0.0.1", port=ports.postgres, database="crm"
    )
    conn.autocommit = True
    conn.cursor().execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
    conn.close()
    with pika.BlockingConnection(pika.URLParameters(ep.amqp_url)) as amqp:
        amqp.channel().queue_declare("kept", durable=True)
    sup.stop()
    sup.stop()  # idempotent
    assert _processes_of(directory) == []
    assert not list(directory.glob("*.pid"))

    # again, detached (as ensure_test_services does): survives its supervisor, is adopted by
    # the next one, and `stop` (stop_detached) stops it
    ep = Supervisor(ROOT, profile, env=env, ports=ports, detached=True).start()
    again = Supervisor(ROOT, profile, env=env, ports=ports, detached=True)
    assert again.start() == ep
    assert again.adopted == {"postgres", "rabbitmq"}
    conn = pg8000.dbapi.connect(
        user="postgres", password="postgres", host="127.0.0.1", port=ports.postgres, database="crm"
    )
    cur = conn.cursor()
    cur.execute("SELECT v FROM kept")
    assert [list(row) for row in cur.fetchall()] == [["still here"]]
    conn.close()
    with pika.BlockingConnection(pika.URLParameters(ep.amqp_url)) as amqp:
        amqp.channel().queue_declare("kept", durable=True, passive=True)  # the queue persisted

    assert set(Supervisor(ROOT, profile, ports=ports).stop_detached()) == {
        "postgres",
        "rabbitmq",
        "epmd",
    }
    assert _processes_of(directory) == []
