"""Starts the local cloud (`python -m local dev`) as a child process against the test
servers, and a webhook receiver, for tests that walk the product over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from local.services import Endpoints
from tests.support import ROOT, free_port

STARTUP_TIMEOUT_SECONDS = 180


@dataclass
class LocalCloudProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # The functions' DNS for webhook targets reads this hosts-style file first (a local
    # cloud's setting, refused in deployed stages): tests point names at addresses with it.
    webhook_hosts_file: Path | None = None
    moto_url: str = ""  # embedded moto: SES's sent mail is at {moto_url}/moto-api/data.json
    mailpit_url: str = ""  # the pipeline's SMTP transport delivers here (tests.mailpit)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def point_host(self, name: str, address: str) -> None:
        """Make `name` resolve to `address` for webhook targets from now on."""
        path = self.webhook_hosts_file
        assert path is not None
        kept = [
            line
            for line in (path.read_text().splitlines() if path.exists() else [])
            if name not in line.split()[1:]
        ]
        staged = path.with_name(path.name + ".new")
        staged.write_text("\n".join([*kept, f"{address} {name}"]) + "\n")
        staged.replace(path)  # atomic: a lookup never reads half a file


@pytest.fixture(scope="session")
def local_cloud(
    endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCloudProcess]:
    port, moto_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("local-cloud") / "local-cloud.log"
    hosts_file = log_path.parent / "webhook-hosts"
    env = {
        **os.environ,
        "WEBHOOK_HOSTS_FILE": str(hosts_file),
        "DATABASE_URL": endpoints.admin_database_url,
        "AMQP_URL": endpoints.amqp_url,
        "OPENSEARCH_URL": endpoints.opensearch_url,
        # external to the child: it must not stop the session's Mailpit when it exits
        "MAILPIT_URL": endpoints.mailpit_url,
        "MAILPIT_SMTP": endpoints.smtp_address,
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "local", "dev", "--profile", "test", "--port", str(port),
               "--moto-port", str(moto_port), "--no-demo", "--schedule-interval", "2"]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    cloud = LocalCloudProcess(
        url=f"http://127.0.0.1:{port}",
        process=process,
        log_path=log_path,
        moto_url=f"http://127.0.0.1:{moto_port}",
        webhook_hosts_file=hosts_file,
        mailpit_url=endpoints.mailpit_url,
    )
    try:
        _wait_healthy(cloud)
        yield cloud
    finally:
        _stop(cloud)


def _wait_healthy(cloud: LocalCloudProcess) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if cloud.process.poll() is not None:
            pytest.fail(
                f"the local cloud exited with {cloud.process.returncode}:\n{cloud.log_tail()}"
            )
        try:
            if requests.get(f"{cloud.url}/_local/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"the local cloud was not healthy in {STARTUP_TIMEOUT_SECONDS}s:\n{cloud.log_tail()}"
    )


def _stop(cloud: LocalCloudProcess) -> None:
    if cloud.process.poll() is None:
        cloud.process.send_signal(signal.SIGTERM)
        try:
            cloud.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cloud.process.pid, signal.SIGKILL)
            pytest.fail(f"the local cloud ignored SIGTERM:\n{cloud.log_tail()}")


@dataclass
class WebhookReceiver:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.requests) < count:
            time.sleep(0.2)
        return list(self.requests)


@pytest.fixture()
def webhook_receiver() -> Iterator[WebhookReceiver]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{server.server_port}/hooks/crm")
    receiver.requests = received
    yield receiver
    server.shutdown()
    server.server_close()
