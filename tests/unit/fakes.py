"""In-memory fakes of the ports, for unit tests of services (pure logic, no I/O).
Integration tests run the same services on the real adapters."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from crm.domain.audit import AuditEntry
from crm.domain.dead_letters import DeadLetter
from crm.domain.event_catalog import validate_event
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead
from crm.domain.webhooks import AttemptResult

from tests.unit.backbone_fakes import FakeDeadLetters, FakeProcessedEvents
from tests.unit.crm_core_fakes import CrmCoreState
from tests.unit.crm_core_fakes import attach as attach_crm_core_fakes
from tests.unit.tenancy_fakes import TenancyState
from tests.unit.tenancy_fakes import attach as attach_tenancy_fakes


@dataclass
class FakeStore:
    leads: dict[uuid.UUID, Lead] = field(default_factory=dict)
    automations: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    runs: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    outbox: list[CloudEvent] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    processed: dict[tuple[uuid.UUID, str, uuid.UUID], int] = field(default_factory=dict)
    dead_letters: dict[uuid.UUID, DeadLetter] = field(default_factory=dict)
    webhook_secrets: dict[uuid.UUID, str] = field(default_factory=dict)
    tenancy: TenancyState = field(default_factory=TenancyState)
    crm_core: CrmCoreState = field(default_factory=CrmCoreState)


class _Leads:
    def __init__(self, staged: FakeStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def add(self, lead: Lead) -> None:
        self._s.leads[lead.id] = lead

    def get(self, lead_id: uuid.UUID) -> Lead | None:
        lead = self._s.leads.get(lead_id)
        return lead if lead and lead.tenant_id == self._t else None


class _Automations:
    def __init__(self, staged: FakeStore, tenant_id: uuid.UUID) -> None:
        self._s, self._t = staged, tenant_id

    def add(self, automation_id, name, trigger_event, draft, created_by) -> None:  # type: ignore[no-untyped-def]
        now = __import__("datetime").datetime.now()
        self._s.automations[automation_id] = {
            "id": automation_id, "tenant_id": self._t, "name": name, "trigger_event": trigger_event,
            "status": "draft", "version": None, "version_id": None, "definition": None,
            "state_machine_arn": None, "created_at": now, "draft": draft, "revision": 1,
            "updated_at": now, "archived_at": None, "created_by": created_by, "versions": {},
        }  # fmt: skip

    def get(self, automation_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        found = self._s.automations.get(automation_id)
        return dict(found) if found and found["tenant_id"] == self._t else None

    def update(self, automation_id, *, name, draft, trigger_event, status, at) -> None:  # type: ignore[no-untyped-def]
        row = self._s.automations[automation_id]
        row.update(name=name, draft=draft, trigger_event=trigger_event, status=status,
                   revision=row["revision"] + 1, updated_at=at)  # fmt: skip

    def add_version(self, automation_id, version_id, definition, asl, published_by) -> int:  # type: ignore[no-untyped-def]
        row = self._s.automations[automation_id]
        number = len(row["versions"]) + 1
        row["versions"][number] = {"version_id": version_id, "definition": definition, "arn": None}
        return number

    def make_live(self, automation_id: uuid.UUID, version: int) -> None:
        row = self._s.automations[automation_id]
        live = row["versions"][version]
        row.update(version=version, version_id=live["version_id"], definition=live["definition"])

    def active_for_trigger(self, trigger_event: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self._s.automations.values()
            if a["tenant_id"] == self._t
            and a["trigger_event"] == trigger_event
            and a["status"] == "active"
        ]

    def set_state_machine_arn(self, version_id: uuid.UUID, arn: str) -> None:
        for automation in self._s.automations.values():
            if automation["version_id"] == version_id:
                automation["state_machine_arn"] = arn


class _RunControl:
    """Only what the router asks: no run is known, no record had one."""

    def get(self, run_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        return None

    def has_run_for(self, automation_id: uuid.UUID, subject: str) -> bool:
        return False

    def running_for(self, automation_id: uuid.UUID, subject: str) -> list[dict[str, Any]]:
        return []


class _Runs:
    def __init__(self, staged: FakeStore) -> None:
        self._s = staged

    def add_if_absent(self, run_id, automation_id, version_id, event_id, execution_name) -> bool:  # type: ignore[no-untyped-def]
        if (version_id, event_id) in self._s.runs:
            return False
        self._s.runs[(version_id, event_id)] = run_id
        return True

    def set_execution_arn(self, run_id: uuid.UUID, arn: str) -> None:
        return None


class _Actions:
    def __init__(self, staged: FakeStore) -> None:
        self._s = staged

    def claim(self, key: str, run_id: uuid.UUID, step_id: str, kind: str) -> dict[str, Any] | None:
        if key in self._s.actions:
            return self._s.actions[key]
        self._s.actions[key] = {}
        return None

    def record_result(self, key: str, result: dict[str, Any]) -> None:
        self._s.actions[key] = result


class _Idempotency:
    def __init__(self, staged: FakeStore) -> None:
        self._s = staged

    def get(self, key: str) -> tuple[str, int, dict[str, Any]] | None:
        return self._s.idempotency.get(key)

    def put(self, key: str, request_hash: str, status_code: int, response: dict[str, Any]) -> None:
        self._s.idempotency[key] = (request_hash, status_code, response)

    def claim(self, key: str, request_hash: str) -> tuple[str, int, dict[str, Any]] | None:
        if key in self._s.idempotency:
            return self._s.idempotency[key]
        self._s.idempotency[key] = (request_hash, 0, {})
        return None

    def complete(self, key: str, status_code: int, response: dict[str, Any]) -> None:
        self._s.idempotency[key] = (self._s.idempotency[key][0], status_code, response)


class _Audit:
    def __init__(self, staged: FakeStore) -> None:
        self._s = staged

    def record(self, entry: AuditEntry) -> None:
        self._s.audit.append(entry)


class _AutomationWebhookSecrets:
    def __init__(self, staged: FakeStore) -> None:
        self._s = staged

    def get(self, automation_id: uuid.UUID) -> str | None:
        return self._s.webhook_secrets.get(automation_id)

    def put(self, automation_id: uuid.UUID, sealed: str) -> None:
        self._s.webhook_secrets[automation_id] = sealed


class _Chains:
    """The chain rules' view: the tenant's active automations; the default depth limit."""

    def __init__(self, staged: FakeStore, tenant_id: uuid.UUID) -> None:
        self._s = staged
        self._t = tenant_id

    def active_workflows(self) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
        return [
            (a["id"], a["name"], a["definition"])
            for a in self._s.automations.values()
            if a["tenant_id"] == self._t and a["status"] == "active"
        ]

    def chain_depth_limit(self) -> int:
        return 10

    def add_skipped_run(self, run_id: uuid.UUID, *args: Any) -> bool:
        raise AssertionError("no chain reaches the depth limit in the unit tests")


class _NoAdministrators:
    """Notifications of a tenant with no owner or admin to tell (nothing is produced)."""

    def administrators(self) -> list[uuid.UUID]:
        return []

    def is_active_user(self, user_id: uuid.UUID) -> bool:
        return False

    def muted_kinds(self, user_ids: object) -> dict[uuid.UUID, frozenset[str]]:
        return {}


class FakeUnitOfWork:
    """Stages writes on a copy and applies them on commit, so a rollback loses them."""

    def __init__(self, store: FakeStore, tenant_id: uuid.UUID) -> None:
        self._store = store
        self.tenant_id = tenant_id
        self.committed = False

    def __enter__(self) -> FakeUnitOfWork:
        import copy

        self._staged = copy.deepcopy(self._store)
        self.leads = _Leads(self._staged, self.tenant_id)
        self.automations = _Automations(self._staged, self.tenant_id)
        self.runs = _Runs(self._staged)
        self.run_control = _RunControl()
        self.actions = _Actions(self._staged)
        self.idempotency = _Idempotency(self._staged)
        self.automation_chains = _Chains(self._staged, self.tenant_id)
        self.audit = _Audit(self._staged)
        self.processed_events = FakeProcessedEvents(self._staged, self.tenant_id)
        self.dead_letters = FakeDeadLetters(self._staged, self.tenant_id)
        self.automation_webhook_secrets = _AutomationWebhookSecrets(self._staged)
        self.notifications = _NoAdministrators()
        attach_tenancy_fakes(self, self._staged, self.tenant_id)
        attach_crm_core_fakes(self, self._staged, self.tenant_id)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def caused_by(self, event: CloudEvent) -> None:
        self._cause = event

    def add_event(self, event: CloudEvent) -> None:
        if getattr(self, "_cause", None) is not None:
            event = self._cause.caused(event)
        validate_event(event)  # as the real unit of work does
        self._staged.outbox.append(event)

    def commit(self) -> None:
        self._store.__dict__.update(self._staged.__dict__)
        self.committed = True


class FakeEngine:
    def __init__(self) -> None:
        self.machines: dict[str, dict[str, Any]] = {}
        self.types: dict[str, str] = {}
        self.executions: dict[tuple[str, str], dict[str, Any]] = {}

    def ensure_state_machine(
        self, name: str, definition: dict[str, Any], machine_type: str = "STANDARD"
    ) -> str:
        self.machines[name] = definition
        self.types[name] = machine_type
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"

    def start(self, state_machine_arn: str, execution_name: str, payload: dict[str, Any]) -> str:
        self.executions.setdefault((state_machine_arn, execution_name), payload)
        return f"{state_machine_arn}:{execution_name}"


class FakeWebhooks:
    """The outbound sender's port: records each POST; the first `fail_times` get no answer."""

    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self.headers: list[dict[str, str]] = []
        self.attempts: list[dict[str, str]] = []  # failed ones too
        self._fail_times = fail_times

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, read_limit: int = 0
    ) -> AttemptResult:
        self.attempts.append(headers)
        if self._fail_times:
            self._fail_times -= 1
            return AttemptResult(None, "could not connect")
        self.sent.append((url, json.loads(body), headers["webhook-id"]))
        self.headers.append(headers)
        return AttemptResult(204)
