"""Services on in-memory fakes: the rules (events with writes, idempotency, exactly-once)."""

from __future__ import annotations

import uuid

import pytest
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.automation.model import Workflow
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.tenants import Principal, Role
from crm.domain.webhooks import TargetPolicy
from crm.services.automation_runtime import WebhookDeliveryFailed, execute_step, route_event
from crm.services.automation_webhooks import OutboundSettings, issue_signing_secret
from crm.services.automations import create_automation
from crm.services.leads import NewLead, create_lead, get_lead

from tests.unit.fakes import FakeEngine, FakeStore, FakeUnitOfWork, FakeWebhooks

STEP_ARN = "arn:aws:lambda:us-east-1:123456789012:function:AutomationStepFunction"


CIPHER = FieldCipher(bytes(32))


@pytest.fixture()
def store() -> FakeStore:
    return FakeStore()


def uow_factory(store: FakeStore):  # type: ignore[no-untyped-def]
    return lambda tenant_id: FakeUnitOfWork(store, tenant_id)


def principal(tenant_id: uuid.UUID | None = None) -> Principal:
    return Principal(tenant_id=tenant_id or uuid.uuid4(), user_id=uuid.uuid4(), role=Role.SELLER)


def test_creating_a_lead_writes_its_event_in_the_same_unit_of_work(store: FakeStore) -> None:
    caller = principal()
    lead, replayed = create_lead(
        NewLead(name="Ana", email="ANA@x.io"), caller, unit_of_work=uow_factory(store)
    )
    assert not replayed and lead["email"] == "ana@x.io" and lead["owner_id"] == str(caller.user_id)
    assert [e.type for e in store.outbox] == ["crm.lead.created"]
    assert store.outbox[0].data["lead"]["id"] == lead["id"]


def test_another_tenant_cannot_read_the_lead(store: FakeStore) -> None:
    lead, _ = create_lead(NewLead(name="Ana"), principal(), unit_of_work=uow_factory(store))
    with pytest.raises(NotFound):
        get_lead(uuid.UUID(lead["id"]), principal(), unit_of_work=uow_factory(store))


def test_idempotency_key_replays_and_refuses_a_different_body(store: FakeStore) -> None:
    caller = principal()
    first, _ = create_lead(
        NewLead(name="A"), caller, unit_of_work=uow_factory(store), idempotency_key="k"
    )
    again, replayed = create_lead(
        NewLead(name="A"), caller, unit_of_work=uow_factory(store), idempotency_key="k"
    )
    assert replayed and again == first and len(store.leads) == 1 and len(store.outbox) == 1
    with pytest.raises(ValidationFailed):
        create_lead(NewLead(name="B"), caller, unit_of_work=uow_factory(store), idempotency_key="k")


def _automation(store: FakeStore, caller: Principal) -> None:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {
                    "id": "notify",
                    "type": "action",
                    "action": {"kind": "webhook", "url": "https://h.example/x"},
                }
            ],
        }
    )
    create_automation(
        "hook",
        workflow,
        caller,
        unit_of_work=uow_factory(store),
        step_function_arn=STEP_ARN,
        outbound=OutboundSettings(
            cipher=CIPHER,
            policy=TargetPolicy(),
            resolve=lambda host, port: ["93.184.216.34"],
        ),
    )


def test_a_redelivered_event_maps_onto_the_same_execution(store: FakeStore) -> None:
    caller = principal()
    _automation(store, caller)
    create_lead(NewLead(name="Ana"), caller, unit_of_work=uow_factory(store))
    event, engine = store.outbox[0], FakeEngine()
    first = _route(store, event, engine)
    second = _route(store, event, engine)
    assert first == second and len(engine.executions) == 1 and len(store.runs) == 1


def _route(store: FakeStore, event, engine: FakeEngine) -> list[str]:  # type: ignore[no-untyped-def]
    with FakeUnitOfWork(store, event.tenant_id) as uow:
        started = route_event(event, uow, engine=engine, step_function_arn=STEP_ARN)
        uow.commit()
    return started


def test_events_of_a_tenant_without_automations_start_nothing(store: FakeStore) -> None:
    _automation(store, principal())
    create_lead(NewLead(name="Ana"), principal(), unit_of_work=uow_factory(store))
    assert _route(store, store.outbox[0], FakeEngine()) == []


def _step_payload(store: FakeStore, tenant_id: uuid.UUID) -> dict:
    automation_id = uuid.uuid4()
    with FakeUnitOfWork(store, tenant_id) as uow:
        issue_signing_secret(uow, automation_id, CIPHER)
        uow.commit()
    return {
        "tenant_id": str(tenant_id), "automation_id": str(automation_id), "version": 1,
        "run_id": str(uuid.uuid4()), "step_id": "notify", "event": {"id": "e1"},
        "action": {"kind": "webhook", "url": "https://h.example/x", "headers": {}},
    }  # fmt: skip


def _step(store: FakeStore, payload: dict, webhooks: FakeWebhooks) -> dict:
    return execute_step(payload, unit_of_work=uow_factory(store), webhooks=webhooks, cipher=CIPHER)


def test_a_step_runs_its_side_effect_once(store: FakeStore) -> None:
    payload, webhooks = _step_payload(store, uuid.uuid4()), FakeWebhooks()
    first = _step(store, payload, webhooks)
    second = _step(store, payload, webhooks)
    assert len(webhooks.sent) == 1
    assert first["deduplicated"] is False and second["deduplicated"] is True
    assert webhooks.sent[0][2] == f"{payload['run_id']}:notify"


def test_a_failed_delivery_leaves_no_ledger_row_so_the_retry_sends(store: FakeStore) -> None:
    payload, webhooks = _step_payload(store, uuid.uuid4()), FakeWebhooks(fail_times=1)
    with pytest.raises(WebhookDeliveryFailed):
        _step(store, payload, webhooks)
    _step(store, payload, webhooks)
    assert len(webhooks.sent) == 1
    # Both attempts carried the same webhook-id: a receiver deduplicates the resend.
    assert len({headers["webhook-id"] for headers in webhooks.attempts}) == 1
