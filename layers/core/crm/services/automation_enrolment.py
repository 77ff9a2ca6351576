"""Manual enrolment: POST /automations/{id}/enrol starts the live version for records a person
picks, each as its own run, once per (version, record).

Each record gets a crm.automation.record_enrolled event (written to the outbox like every
event, so the run detail shows it and a retry can start from it) whose data carries the record
under its kind, as a record event does; the run is started from it directly, not through the
router. Its id is derived from (version, record): enrolling the same record in the same version
again finds the run and starts nothing. The re-enrolment policy and the monthly runs limit
apply as for events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from crm.automation.compiler import compile_workflow, execution_name, state_machine_name
from crm.automation.model import Workflow
from crm.domain.errors import Conflict, NotFound
from crm.domain.events import CloudEvent
from crm.domain.tenants import Principal
from crm.ports import UnitOfWorkFactory, WorkflowEngine
from crm.services import automation_run_events as run_events
from crm.services.automation_runtime import _refusal, _skip, run_id_for, run_input

ENROLMENT_NAMESPACE = uuid.UUID("b1f0a3c2-6f44-4c55-9d7e-3c1e2a9f8e21")
MAX_ENROLLED = 100
_PLURAL = {"lead": "leads", "contact": "contacts", "deal": "deals"}


def enrol_records(
    automation_id: uuid.UUID,
    record_ids: Sequence[uuid.UUID],
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    engine: WorkflowEngine,
    step_function_arn: str,
) -> dict[str, Any]:
    """Start a run per record (read as the caller: one it cannot see is `not_found`)."""
    results: list[dict[str, Any]] = []
    with unit_of_work(principal.tenant_id) as uow:
        found = uow.automations.get(automation_id)
    if found is None:
        raise NotFound(f"automation {automation_id} not found")
    kind = _record_kind(Workflow.model_validate(found["definition"] or found["draft"]))
    # Read as the caller, before the enrolment's own transaction (no connection held twice).
    snapshots = {
        record_id: _visible_record(kind, record_id, principal, unit_of_work)
        for record_id in dict.fromkeys(record_ids)
    }
    with unit_of_work(principal.tenant_id) as uow:
        automation = uow.automations.get(automation_id, for_update=True)
        if automation is None:
            raise NotFound(f"automation {automation_id} not found")
        if automation["status"] != "active":
            raise Conflict(f"the automation is {automation['status']}: only an active one enrols")
        workflow = Workflow.model_validate(automation["definition"])
        kind = _record_kind(workflow)
        for record_id, snapshot in snapshots.items():
            if snapshot is None:
                results.append({"record_id": str(record_id), "status": "not_found"})
                continue
            event = CloudEvent(
                id=uuid.uuid5(ENROLMENT_NAMESPACE, f"{automation['version_id']}:{record_id}"),
                type="crm.automation.record_enrolled",
                tenant_id=principal.tenant_id,
                subject=f"{_PLURAL[kind]}/{record_id}",
                data={"automation_id": str(automation_id), "enrolled_by": _user(principal),
                      kind: snapshot},
            )  # fmt: skip
            run_id = run_id_for(automation["version_id"], event.id)
            if uow.run_control.get(run_id) is not None:
                results.append({"record_id": str(record_id), "status": "already_enrolled",
                                "run_id": str(run_id)})  # fmt: skip
                continue
            uow.add_event(event)
            name = execution_name(str(automation["version_id"]), str(event.id))
            reason = _refusal(event, automation, workflow, uow, None)
            if reason is not None:
                _skip(event, automation, uow, run_id, name, reason)
                results.append({"record_id": str(record_id), "status": "skipped",
                                "reason": reason, "run_id": str(run_id)})  # fmt: skip
                continue
            arn = automation["state_machine_arn"] or _state_machine(
                automation, workflow, principal, uow, engine, step_function_arn
            )
            automation["state_machine_arn"] = arn
            uow.runs.add_if_absent(run_id, automation_id, automation["version_id"], event.id, name)
            execution = engine.start(
                arn,
                name,
                run_input(principal.tenant_id, automation_id, automation["version"], run_id,
                          event.to_dict()),
            )  # fmt: skip
            uow.runs.set_execution_arn(run_id, execution)
            run_events.started(uow, principal.tenant_id, {
                "id": run_id, "automation_id": automation_id, "version": automation["version"],
                "event_id": event.id, "attempt": 1, "subject": event.subject,
            })  # fmt: skip
            results.append({"record_id": str(record_id), "status": "started",
                            "run_id": str(run_id)})  # fmt: skip
        uow.commit()
    started = sum(1 for result in results if result["status"] == "started")
    return {"automation_id": str(automation_id), "version": automation["version"],
            "started": started, "records": results}  # fmt: skip


def _record_kind(workflow: Workflow) -> str:
    """The kind of record the trigger's events are about (crm.<kind>.<...>)."""
    kind = workflow.trigger.event.split(".")[1]
    if kind not in _PLURAL:
        raise Conflict(
            f"the trigger's events are about {kind}s: only lead, contact and deal automations"
            " enrol records"
        )
    return kind


def _visible_record(
    kind: str, record_id: uuid.UUID, principal: Principal, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any] | None:
    from crm.services import person_records
    from crm.services.contacts import CONTACTS
    from crm.services.deals import get_deal
    from crm.services.leads import LEADS

    try:
        if kind == "deal":
            return get_deal(record_id, principal, unit_of_work=unit_of_work)
        spec: Any = LEADS if kind == "lead" else CONTACTS
        found: dict[str, Any] = person_records.get(
            spec, record_id, principal, unit_of_work=unit_of_work
        )
        return found
    except NotFound:
        return None


def _state_machine(
    automation: dict[str, Any],
    workflow: Workflow,
    principal: Principal,
    uow: Any,
    engine: WorkflowEngine,
    step_function_arn: str,
) -> str:
    definition = compile_workflow(workflow, step_function_arn=step_function_arn)
    name = state_machine_name(
        str(principal.tenant_id), str(automation["id"]), automation["version"]
    )
    arn = engine.ensure_state_machine(name, definition)
    uow.automations.set_state_machine_arn(automation["version_id"], arn)
    return arn


def _user(principal: Principal) -> str | None:
    return str(principal.user_id) if principal.user_id else None
