"""Running automations: the router starts runs for events, the step executes actions once.

Exactly-once, layer by layer: an event maps to one run id and one execution name per
automation version (a redelivered event starts nothing new), and each action's effect is
guarded by the action ledger row written in the same transaction (a retried or duplicated step
does nothing).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crm.automation.compiler import (
    compile_workflow,
    execution_name,
    execution_type,
    state_machine_name,
)
from crm.automation.model import WebhookAction, Workflow
from crm.automation.triggers import trigger_matches
from crm.automation.wake import wake_time
from crm.domain.audit import AuditEntry, RequestMeta
from crm.domain.automation_actions import ActionFailed, event_subject, parse_action, parse_id
from crm.domain.automation_run_events import RUN_EVENT_PREFIX
from crm.domain.errors import Conflict, Forbidden, NotFound, PlanLimitExceeded, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.plans import Metric
from crm.domain.webhook_responses import EXCERPT_BYTES, MAPPED_BODY_BYTES, excerpt, map_response
from crm.domain.webhooks import TARGET_NOT_ALLOWED, signed_headers
from crm.observability import logger
from crm.ports import (
    ExecutionInspector,
    Mailer,
    SecretCipher,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookSender,
    WorkflowEngine,
)
from crm.ports.automation_effects import Notifier, SmsSender, TaskBoard
from crm.services import automation_actions
from crm.services import automation_run_events as run_events
from crm.services.automation_actions import ActionEffects
from crm.services.automation_webhooks import open_headers, signing_secret
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
    recorded as skipped, with its reason, and starts nothing; so is one whose event is deeper
    in a chain of automations than allowed (the tenant's limit, or the automation's lower
    max_chain_depth): skipped with reason chain-depth."""
    if event.type.startswith(RUN_EVENT_PREFIX):
        return []  # runs' own events never start runs (see automation_validation)
    automations = uow.automations.active_for_trigger(event.type)
    if not automations:
        return []
    tenant_limit = uow.automation_chains.chain_depth_limit() if event.chain_depth else None
    started = []
    for automation in automations:
        workflow = Workflow.model_validate(automation["definition"])
        if not trigger_matches(workflow.trigger, event.data):
            continue
        if tenant_limit is not None:
            own = workflow.max_chain_depth
            limit = min(tenant_limit, own) if own is not None else tenant_limit
            if event.chain_depth > limit:
                _skip_run(event, automation, uow, limit)
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


def _skip_run(event: CloudEvent, automation: dict[str, Any], uow: UnitOfWork, limit: int) -> None:
    version_id: uuid.UUID = automation["version_id"]
    run_id = run_id_for(version_id, event.id)
    uow.automation_chains.add_skipped_run(
        run_id,
        automation["id"],
        version_id,
        event.id,
        execution_name(str(version_id), str(event.id)),
        "chain-depth",
    )
    logger.warning(
        "automation run skipped: chain too deep",
        extra={"run_id": str(run_id), "event_id": str(event.id),
               "chain_depth": event.chain_depth, "limit": limit},
    )  # fmt: skip


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
        state_machine_arn = engine.ensure_state_machine(
            machine, definition, machine_type=execution_type(workflow)
        )
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
    cipher: SecretCipher | None = None,
    sms: SmsSender | None = None,
    tasks: TaskBoard | None = None,
    notifier: Notifier | None = None,
) -> dict[str, Any]:
    """Run one action of one run, at most once per (run, step).

    The ledger row is claimed first; a database effect (add_tag, move_stage, ...) is written
    in the same transaction, so both commit or neither does. An action that cannot be
    performed raises ActionFailed naming the step and the field, which fails the Task:
    nothing is committed, and a retry may try again. Tasks and notifications go to the
    timeline (automation_actions.TimelineEffects) unless other ports are given.
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
        cause = _cause(payload)
        if cause is not None:
            uow.caused_by(cause)  # the events the action writes are one level deeper
        earlier = uow.actions.claim(key, run_id, step_id, action["kind"])
        if earlier is not None:
            logger.info("step already executed", extra={"idempotency_key": key})
            return {**earlier, "deduplicated": True}
        try:
            effects = ActionEffects(mailer, sms, tasks, notifier)
            result = _perform(uow, action, payload, key, webhooks, effects, cipher)
        except ActionFailed as error:
            raise ActionFailed(f"step {step_id}: {action['kind']}: {error}") from error
        except (NotFound, ValidationFailed, PlanLimitExceeded, Conflict, Forbidden) as error:
            # A rule refused the change: the same refusal a user would get, as the step's error.
            raise ActionFailed(f"step {step_id}: {action['kind']}: {_describe(error)}") from error
        uow.actions.record_result(key, result)
        uow.commit()
    return {**result, "deduplicated": False}


def _cause(payload: dict[str, Any]) -> CloudEvent | None:
    try:
        return CloudEvent.from_dict(payload["event"])
    except (KeyError, ValueError, TypeError):
        return None  # the record actions refuse such an event themselves


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
    effects: ActionEffects,
    cipher: SecretCipher | None,
) -> dict[str, Any]:
    kind = action["kind"]
    if kind != "webhook":
        return _perform_record_action(uow, action, payload, effects)
    if kind == "webhook":
        return _perform_webhook(uow, action, payload, key, webhooks, cipher)
    raise UnsupportedAction(kind)


class WebhookTargetNotAllowed(Exception):
    """The target policy refused the webhook's URL at send time (after resolving its host).
    Its message is only "target not allowed": the run detail shows it to the tenant, who must
    not learn where a name points or what answers there."""

    def __init__(self) -> None:
        super().__init__(TARGET_NOT_ALLOWED)


class WebhookDeliveryFailed(Exception):
    """The receiver did not take the webhook (a non-2xx answer, no answer); a retry may."""


def _perform_webhook(
    uow: UnitOfWork,
    action: dict[str, Any],
    payload: dict[str, Any],
    key: str,
    webhooks: WebhookSender,
    cipher: SecretCipher | None,
) -> dict[str, Any]:
    """POST the run's event, signed per Standard Webhooks with the automation's secret. The
    `webhook-id` is the ledger key (run, step): every retry of the step carries the same one,
    so a receiver drops the rare resend after a crash between its 2xx and our commit."""
    try:
        webhook = WebhookAction.model_validate(action)
    except ValidationError:
        raise ActionFailed("webhook: the action's configuration is not valid") from None
    if cipher is None:
        raise UnsupportedAction("webhook")  # a wiring error: signing needs the field cipher
    automation_id = parse_id(payload.get("automation_id", ""), "automation_id")
    secret = signing_secret(uow, automation_id, cipher)
    if secret is None:
        raise ActionFailed(
            "webhook: the automation has no signing secret; create one with "
            f"POST /automations/{automation_id}/webhook-secret/rotate"
        )
    headers = open_headers(webhook, automation_id, payload["step_id"], cipher)
    body = json.dumps(
        {
            "automation_id": payload["automation_id"],
            "run_id": payload["run_id"],
            "step_id": payload["step_id"],
            "event": payload["event"],
        },
        separators=(",", ":"),
        default=str,
    ).encode()
    headers.update(signed_headers(secret, key, int(time.time()), body))
    limit = MAPPED_BODY_BYTES if webhook.response_mapping else EXCERPT_BYTES
    # One byte more than kept tells whether the answer was longer.
    result = webhooks.post(webhook.url, body, headers, read_limit=limit + 1)
    if result.refused:
        raise WebhookTargetNotAllowed()
    if not result.delivered:
        raise WebhookDeliveryFailed(result.error or "the receiver did not take it")
    answer = result.body_excerpt or b""
    recorded: dict[str, Any] = {
        "kind": "webhook",
        "status": result.status_code,
        "webhook_id": key,
        "response": {"status": result.status_code, **excerpt(answer)},
    }
    if webhook.response_mapping:
        data, problems = map_response(
            answer[:limit], len(answer) <= limit, webhook.response_mapping
        )
        recorded["data"] = data
        if problems:
            recorded["mapping_problems"] = problems
    return recorded


def _perform_record_action(
    uow: UnitOfWork, config: dict[str, Any], payload: dict[str, Any], effects: ActionEffects
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
    try:
        return automation_actions.perform(
            uow, action, event, context, step_id=payload["step_id"], effects=effects
        )
    except automation_actions.NotWired as error:
        raise UnsupportedAction(action.kind) from error  # a wiring error, not the workflow's


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
