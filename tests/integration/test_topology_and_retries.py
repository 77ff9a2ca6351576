"""The topology on the real broker: declared idempotently, the retry path (delay queue, back to
the queue the message came from, with its failure record), the dead-letter path, redrive, and
the deploy-time custom resource that applies it."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pika
import pika.exceptions
import pytest
from crm.adapters.rabbitmq.channel import ConfirmedChannel
from crm.adapters.rabbitmq.retry import RabbitMqFailedMessages, RabbitMqRedriver
from crm.adapters.rabbitmq.topology import (
    DEAD_LETTER_EXCHANGE,
    declare_retry_delay,
    declare_topology,
    load_topology,
)
from crm.domain.leads import Lead
from crm.domain.messaging import FailureRecord, InboundMessage, retry_queue_of

from local.services import Endpoints
from tests.support import ROOT

pytestmark = pytest.mark.integration

DELAY = 1.5  # a delay no other suite declares: q.retry.1500ms


@pytest.fixture()
def channel(endpoints: Endpoints) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    yield connection.channel()
    connection.close()


@pytest.fixture()
def private_queue(channel: Any) -> Iterator[str]:
    """A consumer queue of our own, with its dead-letter queue bound like the real ones."""
    name = f"itest.retry.{uuid.uuid4().hex[:8]}"
    channel.queue_declare(name, exclusive=True)
    channel.queue_declare(f"{name}.dlq", exclusive=True)
    channel.queue_bind(f"{name}.dlq", DEAD_LETTER_EXCHANGE, routing_key=name)
    declare_retry_delay(channel, DELAY)
    yield name


def _get(channel: Any, queue: str, timeout: float = 10) -> tuple[Any, bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return properties, body
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived in {queue}")


def _message(queue: str) -> InboundMessage:
    event = Lead(tenant_id=uuid.uuid4(), name="Ana").created_event("corr-9")
    return InboundMessage(queue=queue, body=event.to_json(), headers={}, message_id=None,
                          redelivered=False, event=event)  # fmt: skip


def test_declaring_twice_is_harmless_and_creates_every_queue(endpoints: Endpoints) -> None:
    declare_topology(endpoints.amqp_url)
    declare_topology(endpoints.amqp_url)
    topology = load_topology()
    names = [q["name"] for q in topology["queues"]]
    names += [f"{n}.dlq" for n in names]
    names += [retry_queue_of(d) for d in topology["retry_delays_seconds"]]
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    try:
        for name in names:
            connection.channel().queue_declare(name, passive=True)  # raises 404 if missing
    finally:
        connection.close()


def test_a_retried_message_comes_back_to_its_queue_after_the_delay_with_its_record(
    endpoints: Endpoints, channel: Any, private_queue: str
) -> None:
    failures = RabbitMqFailedMessages(ConfirmedChannel(endpoints.amqp_url))
    message = _message(private_queue)
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    failure = FailureRecord("analytics", 2, at, at, "KeyError: 'x'")
    sent = time.monotonic()
    failures.retry(message, failure, DELAY)
    properties, body = _get(channel, private_queue)
    waited = time.monotonic() - sent
    assert json.loads(body)["id"] == str(message.event_id)
    assert FailureRecord.from_headers(properties.headers) == failure
    assert properties.message_id == str(message.event_id) and properties.delivery_mode == 2
    assert DELAY - 0.2 <= waited <= DELAY + 5


def test_after_the_last_attempt_it_lands_in_the_dead_letter_queue(
    endpoints: Endpoints, channel: Any, private_queue: str
) -> None:
    failures = RabbitMqFailedMessages(ConfirmedChannel(endpoints.amqp_url))
    message = _message(private_queue)
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    failure = FailureRecord("analytics", 5, at, at, "ValueError: broken")
    failures.dead_letter(message, failure)
    properties, body = _get(channel, f"{private_queue}.dlq")
    assert json.loads(body)["id"] == str(message.event_id)
    assert properties.headers["crm-last-error"] == "ValueError: broken"
    assert properties.headers["crm-attempts"] == 5


def test_a_delay_the_broker_does_not_have_fails_loudly(
    endpoints: Endpoints, private_queue: str
) -> None:
    failures = RabbitMqFailedMessages(ConfirmedChannel(endpoints.amqp_url))
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    with pytest.raises(pika.exceptions.AMQPError):
        failures.retry(_message(private_queue), FailureRecord("a", 1, at, at, "x"), 7777)


def test_a_redriven_event_is_a_first_delivery_on_the_consumers_queue(
    endpoints: Endpoints, channel: Any, private_queue: str
) -> None:
    message = _message(private_queue)
    assert message.event is not None
    RabbitMqRedriver(ConfirmedChannel(endpoints.amqp_url)).redrive(
        [(private_queue, message.event.to_dict())]
    )
    properties, body = _get(channel, private_queue)
    assert json.loads(body) == message.event.to_dict()
    assert FailureRecord.from_headers(properties.headers or {}) is None
    assert properties.headers["tenantid"] == str(message.event.tenant_id)


# ------------------------------------------------------------------ the custom resource


@pytest.fixture()
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Stands in for the pre-signed S3 URL CloudFormation waits on."""
    responses: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            responses.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/response", responses
    server.shutdown()
    server.server_close()


def _custom_resource(monkeypatch: pytest.MonkeyPatch, amqp_url: str) -> Any:
    monkeypatch.setenv("AMQP_URL", amqp_url)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "mq-topology")
    path = ROOT / "infra" / "mq" / "custom_resource.py"
    spec = importlib.util.spec_from_file_location("mq_topology_custom_resource", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _request(kind: str, url: str) -> dict[str, Any]:
    return {"RequestType": kind, "ResponseURL": url, "StackId": "arn:stack/crm",
            "RequestId": str(uuid.uuid4()), "LogicalResourceId": "MqTopology",
            "ResourceProperties": {"TopologySha256": "x"}}  # fmt: skip


class _Context:
    function_name = "MqTopologyFunction"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:MqTopologyFunction"
    aws_request_id = "req-1"


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_the_custom_resource_declares_the_topology_and_reports_success(
    endpoints: Endpoints,
    monkeypatch: pytest.MonkeyPatch,
    cloudformation: tuple[str, list[dict[str, Any]]],
    kind: str,
) -> None:
    url, responses = cloudformation
    module = _custom_resource(monkeypatch, endpoints.amqp_url)
    module.handler(_request(kind, url), _Context())
    assert [r["Status"] for r in responses] == ["SUCCESS"]
    assert responses[0]["PhysicalResourceId"] == "crm-mq-topology"


def test_a_broker_it_cannot_reach_is_reported_as_failed_not_left_hanging(
    monkeypatch: pytest.MonkeyPatch, cloudformation: tuple[str, list[dict[str, Any]]]
) -> None:
    url, responses = cloudformation
    module = _custom_resource(monkeypatch, "amqp://guest:guest@127.0.0.1:1/%2F")
    module.handler(_request("Create", url), _Context())
    assert [r["Status"] for r in responses] == ["FAILED"] and responses[0]["Reason"]
    module.handler(_request("Delete", url), _Context())  # delete touches nothing
    assert responses[1]["Status"] == "SUCCESS"
