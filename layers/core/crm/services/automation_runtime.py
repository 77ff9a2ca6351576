"""Running automations: the router starts runs for events, the step executes actions once.

Exactly-once, layer by layer: an event maps to one run id and one execution name per
automation version (a redelivered event starts nothing new), and each action's effect is
guarded by the action ledger row written in the same transaction (a retried or duplicated step
does nothing).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from crm.automation.compiler import compile_workflow, execution_name, state_machine_name
from crm.automation.model import AddTagAction, MoveStageAction, SendEmailAction, Workflow
from crm.automation.triggers import trigger_matches
from crm.automation.wake import wake_time
from crm.domain.audit import AuditEntry, RequestMeta
from crm.domain.automation_actions import ActionFailed, event_subject, parse_action, parse_id
from crm.domain.automation_run_events import RUN_EVENT_PREFIX
from crm.domain.errors import Conflict, Forbidden, NotFound, PlanLimitExceeded, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.plans import Metric
from crm.observability import logger
from crm.ports import (
    ExecutionInspector,
    Mailer,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookSender,
    WorkflowEngine,
)
from crm.services import automation_actions
from crm.services import automation_run_events as run_events
from crm.services.plans import consume_quota

RUN_NAMESPACE = uuid.UUID("5c0c5a63-5c1b-4d8e-9a57-1f1f6a1d2b10")


def run_id_for(version_id: uuid.UUID, event_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(RUN_NAMESPACE, f"{version_id}:{event_id}")


def route_event(
    event: CloudEvent,
    uow: UnitOfWork,
    *,
    engine: WorkflowEngine,
    step_function_arn: str,
    executions: ExecutionInspector | None = None,
) -> list[str]:
    """Start one execution per active automation of the event's tenant whose live version's
    trigger accepts the event, inside the consumer's transaction (the one that records the
    event as handled). A run the re-enrolment policy or the plan's monthly runs refuse is
    recorded as skipped, with its reason, and starts nothing."""
    if event.type.startswith(RUN_EVENT_PREFIX):
        return []  # runs' own events never start runs (see automation_validation)
    started = []
    for automation in uow.automations.active_for_trigger(event.type):
        workflow = Workflow.model_validate(automation["definition"])
        if not trigger_matches(workflow.trigger, event.data):
            continue
        arn = _start_run(
            event,
            automation,
            workflow,
            uow,
            engine=engine,
            step_function_arn=step_function_arn,
            executions=executions,
        )
        if arn is not None:
            started.append(arn)
    return started


def run_input(
    tenant_id: uuid.UUID,
    automation_id: uuid.UUID,
    version: int,
    run_id: uuid.UUID,
    envelope: dict[str, Any],
) -> dict[str, Any]:
    """The execution input of a run (the compiler's contract: see crm.automation.compiler)."""
    return {
        "tenant_id": str(tenant_id),
        "automation_id": str(automation_id),
        "version": version,
        "run_id": str(run_id),
        "event": envelope,
    }


def _start_run(
    event: CloudEvent,
    automation: dict[str, Any],
    workflow: Workflow,
    uow: UnitOfWork,
    *,
    engine: WorkflowEngine,
    step_function_arn: str,
    executions: ExecutionInspector | None,
) -> str | None:
    version_id: uuid.UUID = automation["version_id"]
    run_id = run_id_for(version_id, event.id)
    name = execution_name(str(version_id), str(event.id))
    known = uow.run_control.get(run_id)
    if known is not None and known["status"] != "running":
        return None  # a redelivered event whose run was skipped or has ended
    if known is None:
        reason = _refusal(event, automation, workflow, uow, executions)
        if reason is not None:
            _skip(event, automation, uow, run_id, name, reason)
            return None
    state_machine_arn = automation["state_machine_arn"]
    if state_machine_arn is None:
        definition = compile_workflow(workflow, step_function_arn=step_function_arn)
        machine = state_machine_name(
            str(event.tenant_id), str(automation["id"]), automation["version"]
        )
        state_machine_arn = engine.ensure_state_machine(machine, definition)
        uow.automations.set_state_machine_arn(version_id, state_machine_arn)
    is_new = uow.runs.add_if_absent(run_id, automation["id"], version_id, event.id, name)
    # Started inside the transaction: if the start fails, the run row rolls back with it; if
    # the commit fails after a start, the redelivered event finds the same execution name.
    execution_arn = engine.start(
        state_machine_arn,
        name,
        run_input(
            event.tenant_id, automation["id"], automation["version"], run_id, event.to_dict()
        ),
    )
    uow.runs.set_execution_arn(run_id, execution_arn)
    if is_new:
        run_events.started(
            uow,
            event.tenant_id,
            {
                "id": run_id,
                "automation_id": automation["id"],
                "version": automation["version"],
                "event_id": event.id,
                "attempt": 1,
                "subject": event.subject,
            },
        )
    logger.info(
        "automation run started" if is_new else "automation run already existed",
        extra={"run_id": str(run_id), "execution_name": name, "event_id": str(event.id)},
    )
    return execution_arn


def _refusal(
    event: CloudEvent,
    automation: dict[str, Any],
    workflow: Workflow,
    uow: UnitOfWork,
    executions: ExecutionInspector | None,
) -> str | None:
    """Why this event may not start a run of the automation (None: it may). Counts the run
    against the plan's monthly runs when it may."""
    policy = workflow.reenrolment
    if policy == "once_per_record" and uow.run_control.has_run_for(automation["id"], event.subject):
        return f"re-enrolment: {event.subject} already had a run (once per record)"
    if policy == "not_while_active" and _has_active_run(uow, automation["id"], event, executions):
        return f"re-enrolment: a run for {event.subject} is still active"
    try:
        consume_quota(uow, Metric.AUTOMATION_RUNS_PER_MONTH)
    except PlanLimitExceeded as error:
        return f"plan limit: {error}"
    return None


def _has_active_run(
    uow: UnitOfWork,
    automation_id: uuid.UUID,
    event: CloudEvent,
    executions: ExecutionInspector | None,
) -> bool:
    for run in uow.run_control.running_for(automation_id, event.subject):
        if executions is None or run["execution_arn"] is None:
            return True
        found = executions.describe(run["execution_arn"])
        if found is None or not found.finished:
            return True
        run_events.finish(uow, event.tenant_id, run, found.status, at=found.stopped_at)
    return False


def _skip(
    event: CloudEvent,
    automation: dict[str, Any],
    uow: UnitOfWork,
    run_id: uuid.UUID,
    name: str,
    reason: str,
) -> None:
    uow.run_control.add_skipped(
        run_id,
        automation["id"],
        automation["version_id"],
        event.id,
        name,
        reason,
        event.subject,
        event.type,
    )
    uow.audit.record(
        AuditEntry(
            tenant_id=event.tenant_id,
            action="automation.run_skipped",
            actor_type="system",
            actor_id=None,
            entity_type="automation_run",
            entity_id=str(run_id),
            changes={
                "automation_id": {"old": None, "new": str(automation["id"])},
                "event_id": {"old": None, "new": str(event.id)},
                "reason": {"old": None, "new": reason},
            },
            meta=RequestMeta(),
        )
    )
    logger.info("automation run skipped", extra={"run_id": str(run_id), "reason": reason})


def execute_step(
    payload: dict[str, Any],
    *,
    unit_of_work: UnitOfWorkFactory,
    webhooks: WebhookSender,
    mailer: Mailer | None = None,
) -> dict[str, Any]:
    """Run one action of one run, at most once per (run, step).

    The ledger row is claimed first; a database effect (add_tag, move_stage) is written in
    the same transaction, so both commit or neither does. An action that cannot be performed
    raises ActionFailed, which fails the Task: nothing is committed, and a retry may try again.
    """
    operation = payload.get("operation")
    if operation is not None:
        return run_operation(operation, payload, unit_of_work=unit_of_work)
    tenant_id = uuid.UUID(payload["tenant_id"])
    run_id = uuid.UUID(payload["run_id"])
    step_id: str = payload["step_id"]
    action: dict[str, Any] = payload["action"]
    key = f"{run_id}:{step_id}"
    with unit_of_work(tenant_id) as uow:
        earlier = uow.actions.claim(key, run_id, step_id, action["kind"])
        if earlier is not None:
            logger.info("step already executed", extra={"idempotency_key": key})
            return {**earlier, "deduplicated": True}
        try:
            result = _perform(uow, action, payload, key, webhooks, mailer)
        except (NotFound, ValidationFailed, PlanLimitExceeded, Conflict, Forbidden) as error:
            # A rule refused the change: the same refusal a user would get, as the step's error.
            raise ActionFailed(f"{action['kind']}: {_describe(error)}") from error
        uow.actions.record_result(key, result)
        uow.commit()
    return {**result, "deduplicated": False}


def _describe(error: Exception) -> str:
    """The error and its per-field problems, named by field (`lost_reason: required ...`)."""
    details = [
        f"{'.'.join(str(part) for part in item.get('loc', [])[1:])}: {item.get('msg')}"
        for item in getattr(error, "extra", {}).get("errors", [])
    ]
    return "; ".join([str(error), *details])


def _perform(
    uow: UnitOfWork,
    action: dict[str, Any],
    payload: dict[str, Any],
    key: str,
    webhooks: WebhookSender,
    mailer: Mailer | None,
) -> dict[str, Any]:
    kind = action["kind"]
    if kind in ("add_tag", "move_stage", "send_email"):
        return _perform_record_action(uow, action, payload, mailer)
    if kind == "webhook":
        status = webhooks.send(
            action["url"],
            {
                "automation_id": payload["automation_id"],
                "run_id": payload["run_id"],
                "step_id": payload["step_id"],
                "event": payload["event"],
            },
            message_id=key,
            headers=dict(action.get("headers") or {}),
        )
        return {"kind": kind, "status": status}
    raise UnsupportedAction(kind)


def _perform_record_action(
    uow: UnitOfWork, config: dict[str, Any], payload: dict[str, Any], mailer: Mailer | None
) -> dict[str, Any]:
    action = parse_action(config)
    try:
        event = CloudEvent.from_dict(payload["event"])
    except (KeyError, ValueError, TypeError) as error:
        raise ActionFailed(f"the run's event is not a CRM CloudEvent: {error}") from None
    automation_id = parse_id(payload.get("automation_id", ""), "automation_id")
    context = automation_actions.automation_context(
        uuid.UUID(payload["tenant_id"]), event, automation_id, uuid.UUID(payload["run_id"])
    )
    if isinstance(action, AddTagAction):
        return automation_actions.add_tag(uow, action, event, context)
    if isinstance(action, MoveStageAction):
        return automation_actions.move_stage(uow, action, event, context)
    if isinstance(action, SendEmailAction):
        if mailer is None:
            raise UnsupportedAction(action.kind)  # a wiring error, not the workflow's
        return automation_actions.send_email(uow, action, event, mailer)
    raise UnsupportedAction(action.kind)


class UnsupportedAction(Exception):
    """An action kind this runtime cannot run (or a function wired without what it needs)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"action kind {kind!r} is not supported by automation_step")


def run_operation(
    operation: str, payload: dict[str, Any], *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    """The run's own Task states (no effect on records, no ledger row):

    - `load_record`: the record the run is about as it is now, read as the automation (it
      sees every record), for conditions on `record.<field>`; null when it no longer exists;
    - `exit`: the exit condition matched: the run is recorded as exited;
    - `wake_time`: when a `delay_until` step wakes up (in the tenant's time zone).
    """
    tenant_id = uuid.UUID(payload["tenant_id"])
    run_id = uuid.UUID(payload["run_id"])
    with unit_of_work(tenant_id) as uow:
        if operation == "load_record":
            return {"record": _current_record(uow, str(payload["event"].get("subject", "")))}
        if operation == "wake_time":
            until: dict[str, Any] = payload["until"]
            data = dict(payload["event"].get("data") or {})
            if str(until.get("field") or "").startswith("record."):
                data["record"] = _current_record(uow, str(payload["event"].get("subject", "")))
            profile = uow.tenant_profile.get()
            zone = str((profile.settings if profile else {}).get("timezone") or "UTC")
            return {"at": wake_time(until, data, datetime.now(UTC), zone)}
        if operation == "exit":
            run = uow.run_control.get(run_id)
            if run is not None:
                reason = f"the exit condition matched before {payload['step_id']}"
                run_events.finish(uow, tenant_id, run, "exited", reason=reason)
            uow.commit()
            logger.info("automation run exited", extra={"run_id": str(run_id)})
            return {"record": None}
    raise UnsupportedAction(operation)


def _current_record(uow: UnitOfWork, subject: str) -> dict[str, Any] | None:
    found = event_subject(subject)
    if found is None:
        return None
    kind, record_id = found
    record: Any
    if kind == "lead":
        record = uow.leads.get(record_id)
    elif kind == "contact":
        record = uow.contacts.get(record_id)
    else:
        record = uow.deals.get(record_id)
    if record is None:
        return None
    snapshot: dict[str, Any] = json.loads(json.dumps(record.to_dict(), default=str))
    return snapshot
