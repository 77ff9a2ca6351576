"""The email worker's effect on the real database and broker, with real transports: SMTP to the
test profile's Mailpit (and to a closed port: the retries, the dead letter, the redrive) and
SES v2 on moto (raw MIME, tenant tag)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pika
import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.rabbitmq.channel import ConfirmedChannel
from crm.adapters.rabbitmq.retry import RabbitMqFailedMessages
from crm.adapters.rabbitmq.topology import DEAD_LETTER_EXCHANGE, declare_retry_delay
from crm.adapters.ses.mailer import SesMailer
from crm.adapters.smtp.mailer import SmtpMailer
from crm.adapters.transient import is_transient
from crm.domain.emails import Email, OutboundEmail, Recipient, outbound
from crm.domain.events import CloudEvent
from crm.domain.messaging import FailureRecord, InboundMessage, RetrySchedule
from crm.ports.messaging import EmailTransport
from crm.services.consuming import Consumer, consume_batch
from crm.services.dead_letters import collect_dead_letter
from crm.services.email_events import apply_sns_event
from crm.services.emails import deliver_requested, enqueue_email
from moto import mock_aws

from local.services import Endpoints
from tests.conftest import make_tenant
from tests.mailpit import Mailpit

pytestmark = pytest.mark.integration

DELAY = 0.3  # q.retry.300ms: no other suite declares it


@pytest.fixture()
def channel(endpoints: Endpoints) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    yield connection.channel()
    connection.close()


@pytest.fixture()
def queue(channel: Any) -> str:
    """A private consumer queue standing for q.email, its dead-letter queue bound the same way."""
    name = f"itest.email.{uuid.uuid4().hex[:8]}"
    channel.queue_declare(name, exclusive=True)
    channel.queue_declare(f"{name}.dlq", exclusive=True)
    channel.queue_bind(f"{name}.dlq", DEAD_LETTER_EXCHANGE, routing_key=name)
    declare_retry_delay(channel, DELAY)
    return name


def _queued(
    db: PostgresDatabase, admin_conn: Any, address: str, **extra: Any
) -> tuple[Email, CloudEvent]:
    """An email queued by the pipeline's enqueue, and its crm.email.requested event as the
    outbox holds it."""
    tenant, _ = make_tenant(db, "mail")
    with db.unit_of_work(tenant.id) as uow:
        email = enqueue_email(
            uow, to=Recipient(address), subject="Pipeline", text="plain", html=None,
            purpose="message", from_address="no-reply@crm.local", **extra,
        )  # fmt: skip
        uow.commit()
    [(envelope,)] = admin_conn.run(
        "SELECT CAST(envelope AS text) FROM outbox WHERE envelope->>'subject' = :s",
        s=f"emails/{email.id}",
    )
    return email, CloudEvent.from_json(envelope)


def _consumer(db: PostgresDatabase, endpoints: Endpoints) -> Consumer:
    return Consumer(
        name="email",
        unit_of_work=db.unit_of_work,  # type: ignore[arg-type]
        failures=RabbitMqFailedMessages(ConfirmedChannel(endpoints.amqp_url)),
        schedule=RetrySchedule((DELAY,)),  # two attempts, then the dead-letter queue
        is_transient=is_transient,
    )


def _deliver(
    message: InboundMessage, consumer: Consumer, transport: EmailTransport, final: bool
) -> dict[str, int]:
    def send(event: CloudEvent, uow: Any) -> None:
        deliver_requested(event, uow, unit_of_work=consumer.unit_of_work, transport=transport,
                          final_attempt=final)  # fmt: skip

    return consume_batch([message], consumer, send).as_dict()


def _get(channel: Any, queue: str, timeout: float = 10) -> tuple[Any, bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return properties, body
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived in {queue}")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(db: PostgresDatabase, email: Email) -> tuple[str, str | None, int]:
    with db.unit_of_work(email.tenant_id) as uow:
        row = uow.emails.get(email.id)
    assert row is not None
    return row.status.value, row.status_reason, row.attempts


def test_smtp_down_retries_then_dead_letters_and_a_redrive_sends_it_once(
    db: PostgresDatabase, admin_conn: Any, endpoints: Endpoints, channel: Any, queue: str
) -> None:
    address = f"down-{uuid.uuid4().hex[:8]}@example.com"
    email, event = _queued(db, admin_conn, address)
    consumer = _consumer(db, endpoints)
    down = SmtpMailer("127.0.0.1", _closed_port(), starttls=False, timeout_seconds=2)
    first = InboundMessage(queue=queue, body=event.to_json(), headers={}, message_id=None,
                           redelivered=False, event=event)  # fmt: skip

    # Attempt 1 fails: to the delay queue (a refused connection is not taken for an outage).
    assert _deliver(first, consumer, down, final=False)["retried"] == 1
    assert _status(db, email) == ("queued", None, 0)
    properties, body = _get(channel, queue)
    assert properties.headers["crm-attempts"] == 1
    retried = InboundMessage(queue=queue, body=body, headers=properties.headers,
                             message_id=None, redelivered=False, event=event)  # fmt: skip

    # Attempt 2, the last: the email is marked failed and the event dead-lettered.
    assert _deliver(retried, consumer, down, final=True)["dead_lettered"] == 1
    status, reason, attempts = _status(db, email)
    assert (status, attempts) == ("failed", 1) and "Connection refused" in (reason or "")
    dead_properties, dead_body = _get(channel, f"{queue}.dlq")
    assert dead_properties.headers["crm-attempts"] == 2

    # A redrive (the same event, as a first delivery) with the server back: sent, once.
    mailpit = Mailpit(endpoints.mailpit_url)
    up = SmtpMailer(endpoints.smtp_host, endpoints.smtp_port, starttls=False)
    redriven = InboundMessage(queue=queue, body=dead_body, headers={}, message_id=None,
                              redelivered=False, event=event)  # fmt: skip
    assert _deliver(redriven, consumer, up, final=False)["handled"] == 1
    assert _deliver(redriven, consumer, up, final=False)["duplicates"] == 1
    assert _status(db, email)[0] == "sent"
    [message] = mailpit.wait_for(address)
    assert mailpit.headers(message["ID"])["Message-Id"] == [f"<{email.id}@crm.local>"]


def test_a_suppressed_address_is_rejected_with_the_reason_and_nothing_is_sent(
    db: PostgresDatabase, admin_conn: Any, endpoints: Endpoints, queue: str
) -> None:
    address = f"gone-{uuid.uuid4().hex[:8]}@example.com"
    email, event = _queued(db, admin_conn, address)
    with db.unit_of_work(email.tenant_id) as uow:
        assert uow.suppressions.add(address.upper(), "bounce", None)
        uow.commit()

    class Refuse:
        name = "smtp"

        def deliver(self, message: Any) -> str:
            raise AssertionError("a suppressed address must not be sent to")

    message = InboundMessage(queue=queue, body=event.to_json(), headers={}, message_id=None,
                             redelivered=False, event=event)  # fmt: skip
    assert _deliver(message, _consumer(db, endpoints), Refuse(), final=False)["handled"] == 1
    status, reason, _ = _status(db, email)
    assert status == "rejected" and reason == "the address is on the suppression list (bounce)"


def test_sensitive_bodies_are_cleared_once_sent(
    db: PostgresDatabase, admin_conn: Any, endpoints: Endpoints, queue: str
) -> None:
    address = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    email, event = _queued(db, admin_conn, address, sensitive=True)
    up = SmtpMailer(endpoints.smtp_host, endpoints.smtp_port, starttls=False)
    message = InboundMessage(queue=queue, body=event.to_json(), headers={}, message_id=None,
                             redelivered=False, event=event)  # fmt: skip
    assert _deliver(message, _consumer(db, endpoints), up, final=False)["handled"] == 1
    with db.unit_of_work(email.tenant_id) as uow:
        stored = uow.emails.get(email.id)
    assert stored is not None and stored.status.value == "sent"
    assert (stored.text, stored.html) == (None, None)
    assert [change.status for change in stored.history] == ["queued", "sent"]
    assert Mailpit(endpoints.mailpit_url).wait_for(address)


def test_smtp_insists_on_starttls_unless_told_otherwise(endpoints: Endpoints) -> None:
    email_id, tenant_id = uuid.uuid4(), uuid.uuid4()
    message = OutboundEmail(email_id, tenant_id, "no-reply@crm.local", "tls@example.com", "s", "t",
                            None)  # fmt: skip
    # Mailpit here offers no STARTTLS: the default transport refuses to send in clear text.
    with pytest.raises(Exception, match="STARTTLS"):
        SmtpMailer(endpoints.smtp_host, endpoints.smtp_port).deliver(message)


def test_ses_sends_raw_mime_tagged_with_the_tenant() -> None:
    with mock_aws():
        boto3.client("ses", region_name="us-east-1").verify_email_identity(
            EmailAddress="no-reply@crm.local"
        )
        client = boto3.client("sesv2", region_name="us-east-1")
        requests: list[dict[str, Any]] = []
        client.meta.events.register(
            "provide-client-params.sesv2.SendEmail", lambda params, **_: requests.append(params)
        )
        email = Email(tenant_id=uuid.uuid4(), to=Recipient("ses@example.com"),
                      from_address="no-reply@crm.local", purpose="message", subject="Hi",
                      text=None, html="<p>Hello <b>there</b></p>")  # fmt: skip
        message_id = SesMailer(client, "no-reply@crm.local", "crm-test").deliver(outbound(email))
    assert message_id
    [request] = requests
    assert request["ConfigurationSetName"] == "crm-test"
    assert {"Name": "tenant_id", "Value": str(email.tenant_id)} in request["EmailTags"]
    raw = request["Content"]["Raw"]["Data"].decode()
    assert f"X-CRM-Tenant: {email.tenant_id}" in raw
    assert "Hello there" in raw and "<p>Hello <b>there</b></p>" in raw


def test_a_dead_letter_notifies_the_owners_once(
    db: PostgresDatabase, admin_conn: Any, channel: Any, queue: str, endpoints: Endpoints
) -> None:
    address = f"dead-{uuid.uuid4().hex[:8]}@example.com"
    email, event = _queued(db, admin_conn, address)
    consumer = _consumer(db, endpoints)
    down = SmtpMailer("127.0.0.1", _closed_port(), starttls=False, timeout_seconds=2)
    now = datetime.now(UTC)
    failed_once = FailureRecord("email", 1, now, now, "ConnectionRefusedError").to_headers()
    last = InboundMessage(queue=queue, body=event.to_json(), headers=failed_once,
                          message_id=None, redelivered=False, event=event)  # fmt: skip
    assert _deliver(last, consumer, down, final=True)["dead_lettered"] == 1
    properties, body = _get(channel, f"{queue}.dlq")
    dead = InboundMessage(queue="q.email.dlq", body=body, headers=properties.headers,
                          message_id=None, redelivered=False, event=event)  # fmt: skip
    for _ in range(2):  # the dead-letter queue delivers it twice: one notification
        assert collect_dead_letter(
            dead, unit_of_work=db.unit_of_work, clock=lambda: datetime.now(UTC)
        )
    [(owner_id,)] = admin_conn.run(
        "SELECT id FROM users WHERE tenant_id = :t AND role = 'owner'", t=email.tenant_id
    )
    with db.unit_of_work(email.tenant_id) as uow:
        [notification] = uow.notifications.page(owner_id, True, 10, None)
    assert notification.kind == "dead_letter"
    assert notification.title == "An event could not be processed by email: crm.email.requested"


def _sns(message: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message)}}]}


def _ses(kind: str, email: Email, **body: Any) -> dict[str, Any]:
    tags = {"tenant_id": [str(email.tenant_id)], "email_id": [str(email.id)]}
    return {"eventType": kind, "mail": {"messageId": "ses-1", "tags": tags}, **body}


def test_ses_notifications_move_statuses_and_suppress_hard_bounces_and_complaints(
    db: PostgresDatabase, admin_conn: Any
) -> None:
    delivered, _ = _queued(db, admin_conn, f"ok-{uuid.uuid4().hex[:6]}@example.com")
    soft, _ = _queued(db, admin_conn, f"soft-{uuid.uuid4().hex[:6]}@example.com")
    hard, _ = _queued(db, admin_conn, f"hard-{uuid.uuid4().hex[:6]}@example.com")
    angry, _ = _queued(db, admin_conn, f"angry-{uuid.uuid4().hex[:6]}@example.com")

    def bounce(email: Email, kind: str) -> dict[str, Any]:
        return _ses("Bounce", email, bounce={
            "bounceType": kind, "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": email.to.address}]})  # fmt: skip

    event = {"Records": [
        *_sns(_ses("Delivery", delivered, delivery={"recipients": [delivered.to.address]}))["Records"],
        *_sns(bounce(soft, "Transient"))["Records"],
        *_sns(bounce(hard, "Permanent"))["Records"],
        *_sns(_ses("Complaint", angry, complaint={
            "complaintFeedbackType": "abuse",
            "complainedRecipients": [{"emailAddress": angry.to.address}]}))["Records"],
        *_sns({"eventType": "Bounce", "mail": {"tags": {}}})["Records"],  # not the pipeline's
    ]}  # fmt: skip
    assert apply_sns_event(event, unit_of_work=db.unit_of_work) == 4
    assert apply_sns_event(event, unit_of_work=db.unit_of_work) == 4  # again: harmless
    expected = {delivered: ("delivered", None), soft: ("bounced", None),
                hard: ("bounced", "bounce"), angry: ("complained", "complaint")}  # fmt: skip
    for email, (status, suppressed) in expected.items():
        with db.unit_of_work(email.tenant_id) as uow:
            assert uow.emails.get(email.id).status.value == status  # type: ignore[union-attr]
            assert uow.suppressions.reason_for(email.to.address) == suppressed
