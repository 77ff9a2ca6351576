"""The email pipeline against its baselines, measured in the same run:

- emails/s through the email worker's effect (consume_batch over batches of 10, as the
  Lambda's event source hands them: ledger claim, suppression and quota checks, SMTP send to
  Mailpit, status row) vs bare smtplib sends of the same messages to the same Mailpit (one
  connection per message, as the SMTP transport does);
- one template render (Jinja2 sandbox with autoescape, strict undefined, text derived from
  the HTML) vs a bare Jinja2 render of the same, precompiled, HTML template.

    .venv/bin/python bench/bench_email.py [--emails N] [--renders N] [--smoke]

Uses the test profile's servers (PostgreSQL, RabbitMQ, Mailpit; CRM_PORT_OFFSET honoured).
`--smoke` runs a handful of each, only to prove the benchmark works (tests run it).
"""

from __future__ import annotations

import argparse
import smtplib
import sys
import time
import timeit
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

import jinja2  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.adapters.smtp.mailer import SmtpMailer  # noqa: E402
from crm.adapters.transient import is_transient  # noqa: E402
from crm.domain.email_templates import TemplateContent, record_context, render  # noqa: E402
from crm.domain.emails import Recipient  # noqa: E402
from crm.domain.events import CloudEvent  # noqa: E402
from crm.domain.messaging import InboundMessage, RetrySchedule  # noqa: E402
from crm.domain.tenants import Tenant, User  # noqa: E402
from crm.services.consuming import Consumer, consume_batch  # noqa: E402
from crm.services.emails import deliver_requested, enqueue_email  # noqa: E402

from local.services import ensure_test_services  # noqa: E402

BATCH = 10
HTML = (
    "<html><body><h1>Hello {{ record.first_name }}</h1><p>{{ sender.name }} of "
    "{{ tenant.name }} here. Your plan: {{ record.custom_fields.plan }}.</p><ul>"
    "{% for tag in record.tags %}<li>{{ tag }}</li>{% endfor %}</ul>"
    "<p><a href='https://crm.example.com/offer'>See the offer</a></p></body></html>"
)


class NoRetries:
    """The failure publisher: a benchmark run has no failures to send anywhere."""

    def retry(self, message: Any, failure: Any, delay_seconds: float) -> None:
        raise AssertionError(f"a send failed: {failure}")

    def dead_letter(self, message: Any, failure: Any) -> None:
        raise AssertionError(f"a send failed: {failure}")


def _tenant(db: PostgresDatabase) -> uuid.UUID:
    tenant = Tenant(name="Bench Mail", slug=f"bench-mail-{uuid.uuid4().hex[:8]}", plan="enterprise")
    owner = User(tenant_id=tenant.id, email=f"o-{uuid.uuid4().hex[:6]}@example.com",
                 name="Owner", password_hash="!bench", role="owner")  # noqa: S106  # fmt: skip
    with db.unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        uow.commit()
    return tenant.id


def _queue(db: PostgresDatabase, tenant_id: uuid.UUID, count: int) -> list[CloudEvent]:
    events: list[CloudEvent] = []
    with db.unit_of_work(tenant_id) as uow:
        for i in range(count):
            enqueue_email(
                uow, to=Recipient(f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com"),
                subject=f"Bench {i}", text="Hello from the benchmark.\n",
                html="<p>Hello from the <b>benchmark</b>.</p>", purpose="message",
                from_address="no-reply@crm.local",
            )  # fmt: skip
        events = list(uow._events)
        uow.commit()
    return events


def _inbound(event: CloudEvent) -> InboundMessage:
    return InboundMessage(queue="q.email", body=event.to_json(), headers={}, message_id=None,
                          redelivered=False, event=event)  # fmt: skip


def worker_rate(db: PostgresDatabase, mailer: SmtpMailer, events: list[CloudEvent]) -> float:
    consumer = Consumer(
        name="email", unit_of_work=db.unit_of_work,  # type: ignore[arg-type]
        failures=NoRetries(), schedule=RetrySchedule((10,)), is_transient=is_transient,
    )  # fmt: skip

    def send(event: CloudEvent, uow: Any) -> None:
        deliver_requested(event, uow, unit_of_work=consumer.unit_of_work, transport=mailer)

    started = time.perf_counter()
    for first in range(0, len(events), BATCH):
        messages = [_inbound(e) for e in events[first : first + BATCH]]
        outcome = consume_batch(messages, consumer, send)
        # A local cloud left running on the test servers relays the same outbox rows and may
        # send some first: those come back as duplicates, each still sent exactly once.
        assert outcome.handled + outcome.duplicates == len(messages), outcome
    return len(events) / (time.perf_counter() - started)


def bare_rate(host: str, port: int, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        message = EmailMessage()
        message["From"], message["To"] = "no-reply@crm.local", f"bare-{i}@example.com"
        message["Subject"] = f"Bare {i}"
        message.set_content("Hello from the benchmark.\n")
        message.add_alternative("<p>Hello from the <b>benchmark</b>.</p>", subtype="html")
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.send_message(message)
    return count / (time.perf_counter() - started)


def render_costs(renders: int) -> tuple[float, float, float]:
    """Microseconds per render: ours (text derived from the HTML), ours with a text body
    given (no derivation), and bare Jinja2."""
    context = {
        "record": record_context({"name": "Ana <b>Souza</b>", "tags": ["vip", "q4"],
                                  "custom_fields": {"plan": "pro"}}),
        "sender": {"name": "Bob"}, "tenant": {"name": "Acme"}, "owner": {}, "vars": {},
    }  # fmt: skip
    derived = TemplateContent("Hello {{ record.first_name }}", HTML, None)
    given = TemplateContent("Hello {{ record.first_name }}", HTML, "Hi {{ record.name }}")
    bare = jinja2.Environment(autoescape=True).from_string(HTML)

    def best(call: Any) -> float:
        return min(timeit.repeat(call, number=renders, repeat=5)) / renders * 1e6

    return (best(lambda: render(derived, context)), best(lambda: render(given, context)),
            best(lambda: bare.render(context)))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=300)
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="a few of each: proves it runs")
    args = parser.parse_args()
    emails, renders = (20, 50) if args.smoke else (args.emails, args.renders)

    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    pool = ConnectionPool(migrated.app_url, size=2)
    db = PostgresDatabase(pool)
    mailer = SmtpMailer(endpoints.smtp_host, endpoints.smtp_port, starttls=False)
    events = _queue(db, _tenant(db), emails)
    bare_rate(endpoints.smtp_host, endpoints.smtp_port, 3)  # warm-up
    worker = worker_rate(db, mailer, events)
    bare = bare_rate(endpoints.smtp_host, endpoints.smtp_port, emails)
    derived_us, given_us, bare_us = render_costs(renders)
    pool.close()
    print(
        f"emails through the worker to Mailpit: {worker:8.1f}/s  ({emails} emails, batches of {BATCH})"
    )
    print(f"bare smtplib sends to Mailpit:       {bare:8.1f}/s")
    print(f"  ratio worker/bare: {worker / bare:.2f} (1.00 = the pipeline costs nothing over SMTP)")
    print(f"template render, text derived from the HTML: {derived_us:8.1f} us")
    print(f"template render, text body given:            {given_us:8.1f} us")
    print(f"bare Jinja2 render of the same HTML:         {bare_us:8.1f} us")
    print(
        f"  ratio ours/bare: {derived_us / bare_us:.2f} (derived), {given_us / bare_us:.2f} (given)"
    )


if __name__ == "__main__":
    main()
