"""The automation engine's own code vs a bare loop doing the same database writes, and the
backtest's throughput, in one run on one PostgreSQL.

Engine (per event, the emulator excluded): the router's match and dispatch decision
(`route_event`: active automations for the event's type, the run row, the execution name; the
engine's start is a no-op returning an ARN) in one transaction, then the step executor
(`execute_step` of an add_tag action: ledger claim, the lead locked and tagged through the
service code with history, two events in the outbox, the audit row, the ledger result) in
another. Baseline: the same rows written by hand-written SQL in two transactions per event
(run row; ledger row, lead update, history row, two outbox rows, audit row, ledger result).

Backtest: events/s of POST /automations/{id}/backtest's service over archived events (tag +
mail per event, dry runs rolled back).

Runs on the test profile's servers (CRM_PORT_OFFSET respected).
Run: .venv/bin/python bench/bench_automation_engine.py [--smoke] [N]
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from crm.adapters.postgres.connection import ConnectionPool  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase, begin_for_tenant  # noqa: E402
from crm.automation.model import Workflow  # noqa: E402
from crm.domain.events import CloudEvent  # noqa: E402
from crm.domain.tenants import Principal, Role, Tenant, User  # noqa: E402
from crm.services.automation_backtest import BacktestRequest, backtest_automation  # noqa: E402
from crm.services.automation_runtime import execute_step, route_event  # noqa: E402
from crm.services.automations import create_automation  # noqa: E402
from crm.services.leads import NewLead, create_lead  # noqa: E402
from crm.services.request_context import RequestContext  # noqa: E402
from crm.services.taxonomy import create_tag  # noqa: E402

from local.services import ensure_test_services  # noqa: E402

STEP_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation-step"


class NoEmulator:
    """The workflow engine's calls cost nothing here: the emulator is measured elsewhere."""

    def ensure_state_machine(self, name: str, definition: dict[str, Any], **kw: Any) -> str:
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"

    def start(self, arn: str, name: str, payload: dict[str, Any]) -> str:
        return arn.replace(":stateMachine:", ":execution:") + f":{name}"


class NoWebhooks:
    def send(self, *args: Any, **kwargs: Any) -> int:
        raise AssertionError("no webhook in this benchmark")


def tenant_with_leads(db: PostgresDatabase, n: int) -> tuple[Principal, list[CloudEvent], str]:
    tenant = Tenant(name="Bench", slug=f"bench-{uuid.uuid4().hex[:10]}", plan="enterprise")
    owner = User(tenant.id, f"o-{uuid.uuid4().hex[:8]}@example.com", "O", "h", Role.OWNER)
    with db.unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        uow.commit()
    principal = Principal(tenant.id, owner.id, Role.OWNER)
    create_tag("vip", None, RequestContext(principal), unit_of_work=db.unit_of_work)
    workflow = Workflow.model_validate({
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}},
            {"id": "mail", "type": "action",
             "action": {"kind": "send_email", "to": "{{lead.email}}", "subject": "Hi",
                        "body": "Hello {{lead.name}}"}},
        ],
    })  # fmt: skip
    automation = create_automation(
        "Bench", workflow, principal, unit_of_work=db.unit_of_work, step_function_arn=STEP_ARN
    )
    events = []
    for i in range(n):
        lead, _ = create_lead(
            NewLead(name=f"L{i}", email=f"l{i}-{uuid.uuid4().hex[:6]}@example.com"),
            principal,
            unit_of_work=db.unit_of_work,
        )
        events.append(
            CloudEvent("crm.lead.created", tenant.id, f"leads/{lead['id']}", {"lead": lead})
        )
    return principal, events, automation["id"]


def engine(db: PostgresDatabase, events: list[CloudEvent], automation_id: str) -> float:
    started = time.perf_counter()
    for event in events:
        with db.unit_of_work(event.tenant_id) as uow:
            route_event(event, uow, engine=NoEmulator(), step_function_arn=STEP_ARN)
            uow.commit()
        execute_step(
            {
                "tenant_id": str(event.tenant_id),
                "automation_id": automation_id,
                "version": 1,
                "run_id": str(uuid.uuid4()),
                "step_id": "tag",
                "event": event.to_dict(),
                "action": {"kind": "add_tag", "tag": "vip"},
            },
            unit_of_work=db.unit_of_work,
            webhooks=NoWebhooks(),
        )
    return time.perf_counter() - started


def bare_loop(pool: ConnectionPool, events: list[CloudEvent], automation_id: str) -> float:
    """The same rows, by hand: run row; ledger, lead, history, two outbox rows, audit, result."""
    automation = uuid.UUID(automation_id)
    with pool.connection() as conn:
        begin_for_tenant(conn, events[0].tenant_id)
        version_id = conn.run(
            "SELECT id FROM automation_versions WHERE automation_id = :a", a=automation
        )[0][0]
        conn.run("COMMIT")
        started = time.perf_counter()
        for event in events:
            tenant, lead_id = event.tenant_id, uuid.UUID(event.subject.split("/")[1])
            run_id = uuid.uuid4()
            begin_for_tenant(conn, tenant)
            conn.run(
                "INSERT INTO automation_runs (id, tenant_id, automation_id, version_id,"
                " event_id, execution_name) VALUES (:id, :t, :a, :v, :e, :n)",
                id=run_id, t=tenant, a=automation, v=version_id, e=event.id, n=str(run_id),
            )  # fmt: skip
            conn.run("COMMIT")
            begin_for_tenant(conn, tenant)
            key = f"{run_id}:tag"
            conn.run(
                "INSERT INTO action_executions (tenant_id, idempotency_key, run_id, step_id,"
                " kind) VALUES (:t, :k, :r, 'tag', 'add_tag')",
                t=tenant, k=key, r=run_id,
            )  # fmt: skip
            conn.run(
                "UPDATE leads SET tags = array_append(tags, 'vip'), version = version + 1,"
                " updated_at = now() WHERE id = :id",
                id=lead_id,
            )
            conn.run(
                "INSERT INTO record_history (id, tenant_id, lead_id, change_id, action, field,"
                " old_value, new_value, actor_type, actor_id, changed_at) VALUES (:id, :t, :l,"
                " :c, 'tagged', 'tags', '[]', '[\"vip\"]', 'automation', :a, now())",
                id=uuid.uuid4(), t=tenant, l=lead_id, c=uuid.uuid4(), a=automation,
            )  # fmt: skip
            for kind in ("updated", "tagged"):
                envelope = CloudEvent(f"crm.lead.{kind}", tenant, event.subject, {}).to_dict()
                conn.run(
                    "WITH next AS (INSERT INTO aggregate_sequences AS s (tenant_id, aggregate,"
                    " last_sequence) VALUES (:t, :agg, 1) ON CONFLICT (tenant_id, aggregate)"
                    " DO UPDATE SET last_sequence = s.last_sequence + 1 RETURNING last_sequence)"
                    " INSERT INTO outbox (id, tenant_id, type, aggregate, sequence, envelope)"
                    " SELECT :id, :t, :type, :agg, next.last_sequence, CAST(:env AS jsonb)"
                    " FROM next",
                    id=uuid.UUID(envelope["id"]), t=tenant, type=envelope["type"],
                    agg=event.subject, env=json.dumps(envelope),
                )  # fmt: skip
            conn.run(
                "INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, entity_type,"
                " entity_id, changes, request_id) VALUES (:t, 'automation', :a, 'lead.updated',"
                " 'lead', :e, '{}', :r)",
                t=tenant, a=automation, e=str(lead_id), r=f"automation-run:{run_id}",
            )  # fmt: skip
            conn.run(
                "UPDATE action_executions SET result = CAST(:r AS jsonb)"
                " WHERE idempotency_key = :k",
                r=json.dumps({"kind": "add_tag", "tags": ["vip"]}), k=key,
            )  # fmt: skip
            conn.run("COMMIT")
        return time.perf_counter() - started


def backtest(db: PostgresDatabase, principal: Principal, automation_id: str, n: int) -> float:
    now = datetime.now(UTC)
    request = BacktestRequest(None, now - timedelta(days=1), now + timedelta(minutes=1), n)
    started = time.perf_counter()
    result = backtest_automation(
        uuid.UUID(automation_id), principal, request, unit_of_work=db.unit_of_work
    )
    elapsed = time.perf_counter() - started
    assert result["summary"]["events"] == n, result["summary"]
    return elapsed


def main(argv: list[str]) -> None:
    smoke = "--smoke" in argv
    numbers = [int(a) for a in argv if a.isdigit()]
    n = numbers[0] if numbers else (30 if smoke else 500)
    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    pool = ConnectionPool(migrated.app_url, size=2)
    db = PostgresDatabase(pool)
    try:
        # Two tenants, so each side tags leads that have no tag yet.
        principal, events, automation_id = tenant_with_leads(db, n)
        _, bare_events, bare_automation = tenant_with_leads(db, n)
        engine_s = engine(db, events, automation_id)
        bare_s = bare_loop(pool, bare_events, bare_automation)
        backtest_n = min(n, 500)
        backtest_s = backtest(db, principal, automation_id, backtest_n)
    finally:
        pool.close()
    engine_rate, bare_rate = n / engine_s, n / bare_s
    print(f"events: {n}{' (smoke)' if smoke else ''}")
    print(f"engine (route + step with ledger): {engine_rate:8.0f} events/s")
    print(f"bare loop, same writes:            {bare_rate:8.0f} events/s")
    print(f"ratio engine / bare:               {engine_rate / bare_rate:8.2f}")
    print(f"backtest (tag + mail, dry runs):   {backtest_n / backtest_s:8.0f} events/s")
    print(f"ratio backtest / engine:           {backtest_n / backtest_s / engine_rate:8.2f}")
    if smoke:
        # CI guards that the code paths run, not the figures (shared runners vary).
        assert engine_rate > 0 and bare_rate > 0


if __name__ == "__main__":
    main(sys.argv[1:])
