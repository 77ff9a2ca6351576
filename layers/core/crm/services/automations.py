"""Automations: an editable draft and immutable, numbered published versions.

Lifecycle: `draft` (never published: it never fires) -> `active` (its live version runs on
every qualifying event) <-> `paused` (no new runs); any of them -> `archived` (no new runs, kept
for its history; optionally its running runs are stopped). PATCH edits the draft only; publish
validates the draft against the catalog and the tenant's data, compiles it, creates its state
machine and makes it the live version. Runs keep the version they started on: each version has
its own state machine, so publishing v2 leaves v1's executions running on v1.

Every change grows the automation's `revision`, its ETag: PATCH, DELETE and the lifecycle
POSTs honour If-Match against the row they lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from crm.automation.chains import ChainNode, find_cycle
from crm.automation.compiler import compile_workflow, state_machine_name
from crm.automation.model import Workflow
from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.errors import Conflict, NotFound, ValidationFailed
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.plans import Metric
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory, WorkflowEngine
from crm.ports.automation_lifecycle import ExecutionStopper
from crm.services.audit_logs import record_change
from crm.services.automation_validation import validate_workflow
from crm.services.automation_webhooks import (
    OutboundSettings,
    check_workflow,
    issue_signing_secret,
    public_definition,
    sealed_definition,
    webhook_actions,
)
from crm.services.plans import ensure_within_limit

STATUSES = ("draft", "active", "paused", "archived")


@dataclass(frozen=True)
class AutomationFilters:
    status: str | None = None
    trigger_kind: str | None = None
    q: str | None = None


def create_automation(
    name: str,
    workflow: Workflow,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    step_function_arn: str,
    meta: RequestMeta | None = None,
    publish: bool = True,
    engine: WorkflowEngine | None = None,
    outbound: OutboundSettings | None = None,
) -> dict[str, Any]:
    """A new automation whose draft is `workflow`; with `publish` also its version 1, live.

    Without an engine the state machine of a published version is created by the router when
    the first event arrives (as before versions existed). `outbound` guards webhook actions
    (target policy, sealed secret headers): a workflow with one cannot be saved without it.
    With it, the automation gets its webhook signing secret, answered once as
    `webhook_secret`."""
    # Compiling here proves the workflow maps onto a state machine before anyone relies on it.
    compile_workflow(workflow, step_function_arn=step_function_arn)
    automation_id = uuid.uuid4()
    definition = _guarded_definition(workflow, automation_id, outbound, previous=None)
    with unit_of_work(principal.tenant_id) as uow:
        validate_workflow(uow, workflow)
        uow.automations.add(
            automation_id,
            name,
            workflow.trigger.event,
            definition,
            created_by=principal.user_id,
        )
        secret = (
            issue_signing_secret(uow, automation_id, outbound.cipher)
            if outbound is not None
            else None
        )
        if publish:
            row = _locked(uow, automation_id)
            _publish(uow, row, principal, engine=engine, step_function_arn=step_function_arn)
        view = automation_view(_locked(uow, automation_id))
        if secret is not None:  # shown in this answer only
            view["webhook_secret"] = secret
        record_change(
            uow, principal, "automation.created", entity_type="automation",
            entity_id=str(automation_id), before=None,
            after={"name": name, "status": view["status"], "trigger": view["trigger"]},
            meta=meta or RequestMeta(),
        )  # fmt: skip
        uow.commit()
    return view


def get_automation(
    automation_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        found = uow.automations.get(automation_id)
    if found is None:
        raise _not_found(automation_id)
    return automation_view(found)


def list_automations(
    principal: Principal,
    filters: AutomationFilters,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> Page[dict[str, Any]]:
    """Newest first, by status, trigger kind and a case-insensitive part of the name."""
    with unit_of_work(principal.tenant_id) as uow:
        rows = uow.automations.find(
            status=filters.status,
            trigger_kind=filters.trigger_kind,
            name_contains=filters.q,
            after=page.after,
            limit=page.limit + 1,
        )
    fetched = Page.from_rows(rows, page.limit, lambda row: Keyset(row["created_at"], row["id"]))
    return Page(items=[automation_view(row) for row in fetched.items], next=fetched.next)


def update_automation(
    automation_id: uuid.UUID,
    principal: Principal,
    *,
    name: str | None,
    workflow: Workflow | None,
    unit_of_work: UnitOfWorkFactory,
    step_function_arn: str,
    precondition: Precondition | None = None,
    meta: RequestMeta | None = None,
    outbound: OutboundSettings | None = None,
) -> dict[str, Any]:
    """Edit the draft (and the name). The live version does not change until publish. A
    secret header sent without its value keeps the one the draft holds."""
    if workflow is not None:
        compile_workflow(workflow, step_function_arn=step_function_arn)
    with unit_of_work(principal.tenant_id) as uow:
        row = _editable(uow, automation_id, precondition)
        before = automation_view(row)
        draft = (
            _guarded_definition(workflow, automation_id, outbound, previous=row["draft"])
            if workflow is not None
            else row["draft"]
        )
        if workflow is not None:
            validate_workflow(uow, workflow)
        # The router listens to the live version's trigger; a draft-only automation shows its
        # draft's trigger.
        trigger_event = (
            workflow.trigger.event
            if workflow is not None and row["version"] is None
            else row["trigger_event"]
        )
        uow.automations.update(
            automation_id,
            name=name if name is not None else row["name"],
            draft=draft,
            trigger_event=trigger_event,
            status=row["status"],
            at=datetime.now(UTC),
        )
        after = automation_view(_locked(uow, automation_id))
        _audit(uow, principal, "automation.updated", before, after, meta)
        uow.commit()
    return after


def publish_automation(
    automation_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    engine: WorkflowEngine,
    step_function_arn: str,
    precondition: Precondition | None = None,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    """The draft becomes the next numbered version and the live one."""
    with unit_of_work(principal.tenant_id) as uow:
        row = _editable(uow, automation_id, precondition)
        before = automation_view(row)
        _publish(uow, row, principal, engine=engine, step_function_arn=step_function_arn)
        after = automation_view(_locked(uow, automation_id))
        _audit(uow, principal, "automation.published", before, after, meta)
        uow.commit()
    return after


def pause_automation(
    automation_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    return _transition(
        automation_id, principal, "active", "paused", "automation.paused",
        unit_of_work=unit_of_work, precondition=precondition, meta=meta,
    )  # fmt: skip


def resume_automation(
    automation_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    return _transition(
        automation_id, principal, "paused", "active", "automation.resumed",
        unit_of_work=unit_of_work, precondition=precondition, meta=meta,
    )  # fmt: skip


def archive_automation(
    automation_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    stopper: ExecutionStopper,
    cancel_runs: bool = False,
    precondition: Precondition | None = None,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    """No new runs from now on; with `cancel_runs` its running runs are stopped too (each
    recorded as cancelled). Archiving an archived automation changes nothing."""
    with unit_of_work(principal.tenant_id) as uow:
        row = _locked(uow, automation_id)
        if precondition is not None:
            precondition.check(row["revision"], "the automation")
        before = automation_view(row)
        if row["status"] != "archived":
            _set_status(uow, row, "archived")
        cancelled = 0
        if cancel_runs:
            from crm.services.automation_run_control import cancel_running

            cancelled = cancel_running(
                uow, automation_id, stopper=stopper, reason="the automation was archived"
            )
        after = automation_view(_locked(uow, automation_id))
        _audit(uow, principal, "automation.archived", before, after, meta)
        uow.commit()
    return {**after, "cancelled_runs": cancelled}


def list_versions(
    automation_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> list[dict[str, Any]]:
    """Every published version, newest first (without the bulky ASL)."""
    with unit_of_work(principal.tenant_id) as uow:
        if uow.automations.get(automation_id) is None:
            raise _not_found(automation_id)
        rows = uow.automations.versions(automation_id)
    return [_version_view(row, with_asl=False) for row in rows]


def get_version(
    automation_id: uuid.UUID,
    version: int,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        if uow.automations.get(automation_id) is None:
            raise _not_found(automation_id)
        row = uow.automations.version(automation_id, version)
    if row is None:
        raise NotFound(f"automation {automation_id} has no version {version}")
    return _version_view(row, with_asl=True)


def restore_version(
    automation_id: uuid.UUID,
    version: int,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    """Copy a published version into the draft (publish it to make it live again)."""
    with unit_of_work(principal.tenant_id) as uow:
        row = _editable(uow, automation_id, precondition)
        found = uow.automations.version(automation_id, version)
        if found is None:
            raise NotFound(f"automation {automation_id} has no version {version}")
        before = automation_view(row)
        uow.automations.update(
            automation_id,
            name=row["name"],
            draft=found["definition"],
            trigger_event=row["trigger_event"],
            status=row["status"],
            at=datetime.now(UTC),
        )
        after = automation_view(_locked(uow, automation_id))
        _audit(uow, principal, "automation.version_restored", before, after, meta)
        uow.commit()
    return after


def automation_view(row: dict[str, Any]) -> dict[str, Any]:
    draft = row["draft"] if row.get("draft") is not None else row["definition"]
    live = row.get("definition")
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "status": row["status"],
        "version": row["version"],
        "revision": row.get("revision", 1),
        "trigger": {**draft["trigger"], "event": _trigger_event(draft)},
        "workflow": public_definition(draft),
        "draft_differs": live is not None and _comparable(live) != _comparable(draft),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat() if row.get("updated_at") else None,
        "archived_at": row["archived_at"].isoformat() if row.get("archived_at") else None,
    }


def _guarded_definition(
    workflow: Workflow,
    automation_id: uuid.UUID,
    outbound: OutboundSettings | None,
    *,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """The definition to store: webhook targets checked against the target policy and secret
    headers sealed (kept from `previous` where a request sends none)."""
    if outbound is not None:
        check_workflow(workflow, outbound, previous=previous)
        return sealed_definition(workflow, automation_id, outbound.cipher, previous=previous)
    if any(webhook_actions(workflow.steps)):
        raise RuntimeError("a workflow with a webhook action needs the outbound settings")
    return workflow.model_dump(mode="json")


def check_no_cycle(uow: UnitOfWork, node: ChainNode) -> None:
    """422 when `node`, active among the tenant's active automations, closes a cycle (its
    actions trigger automations whose actions trigger it again), unless it sets
    `max_chain_depth`: then the chain is bounded at run time and the user chose so."""
    if node.workflow.max_chain_depth is not None:
        return
    others = [
        ChainNode(automation_id, name, Workflow.model_validate(definition))
        for automation_id, name, definition in uow.automation_chains.active_workflows()
    ]
    cycle = find_cycle(node, others)
    if cycle is None:
        return
    path = "; ".join(link.describe() for link in cycle)
    raise ValidationFailed(
        "the automation would close a cycle of automations",
        [
            {
                "loc": ["body", "workflow", "max_chain_depth"],
                "msg": f"cycle: {path}, which triggers '{node.name}' again. Change a step, or "
                "set max_chain_depth to let the chain run that many automations deep",
                "type": "automation_cycle",
                "cycle": [
                    {"automation_id": str(link.automation_id), "name": link.name,
                     "steps": list(link.steps), "event": link.event}
                    for link in cycle
                ],
            }
        ],
    )  # fmt: skip


def _trigger_event(definition: dict[str, Any]) -> str:
    try:
        return str(Workflow.model_validate(definition).trigger.event)
    except ValidationError:
        return str(definition.get("trigger", {}).get("event", ""))


def _comparable(definition: dict[str, Any]) -> Any:
    """A stored definition in its current canonical form (defaults filled in)."""
    try:
        return Workflow.model_validate(definition).model_dump(mode="json")
    except ValidationError:
        return definition


def _version_view(row: dict[str, Any], *, with_asl: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "version": row["version"],
        "workflow": public_definition(row["definition"]),
        "published_by": str(row["published_by"]) if row["published_by"] else None,
        "published_at": row["published_at"].isoformat(),
        "state_machine_arn": row["state_machine_arn"],
    }
    if with_asl:
        view["asl"] = row["asl"]
    return view


def _publish(
    uow: UnitOfWork,
    row: dict[str, Any],
    principal: Principal,
    *,
    engine: WorkflowEngine | None,
    step_function_arn: str,
) -> None:
    try:
        workflow = Workflow.model_validate(row["draft"])
    except ValidationError as error:  # a draft saved under older rules
        raise ValidationFailed(
            "the draft is not a valid workflow",
            [
                {"loc": ["body", "workflow", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in error.errors()
            ],
        ) from error
    validate_workflow(uow, workflow)
    check_no_cycle(uow, ChainNode(row["id"], row["name"], workflow))
    asl = compile_workflow(workflow, step_function_arn=step_function_arn)
    version_id = uuid.uuid4()
    number = uow.automations.add_version(
        row["id"], version_id, workflow.model_dump(mode="json"), asl, principal.user_id
    )
    if engine is not None:
        name = state_machine_name(str(principal.tenant_id), str(row["id"]), number)
        uow.automations.set_state_machine_arn(version_id, engine.ensure_state_machine(name, asl))
    uow.automations.make_live(row["id"], number)
    status = row["status"]
    if status == "draft":
        ensure_within_limit(uow, Metric.ACTIVE_AUTOMATIONS)  # it becomes active
        status = "active"
    uow.automations.update(
        row["id"],
        name=row["name"],
        draft=row["draft"],
        trigger_event=workflow.trigger.event,
        status=status,
        at=datetime.now(UTC),
    )


def _transition(
    automation_id: uuid.UUID,
    principal: Principal,
    source: str,
    target: str,
    action: str,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None,
    meta: RequestMeta | None,
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        row = _locked(uow, automation_id)
        if precondition is not None:
            precondition.check(row["revision"], "the automation")
        if row["status"] != source:
            raise Conflict(
                f"the automation is {row['status']}: only an automation that is {source} can"
                f" become {target}"
            )
        before = automation_view(row)
        if target == "active":
            ensure_within_limit(uow, Metric.ACTIVE_AUTOMATIONS)
        _set_status(uow, row, target)
        after = automation_view(_locked(uow, automation_id))
        _audit(uow, principal, action, before, after, meta)
        uow.commit()
    return after


def _set_status(uow: UnitOfWork, row: dict[str, Any], status: str) -> None:
    uow.automations.update(
        row["id"],
        name=row["name"],
        draft=row["draft"],
        trigger_event=row["trigger_event"],
        status=status,
        at=datetime.now(UTC),
    )


def _locked(uow: UnitOfWork, automation_id: uuid.UUID) -> dict[str, Any]:
    row = uow.automations.get(automation_id, for_update=True)
    if row is None:
        raise _not_found(automation_id)
    return row


def _editable(
    uow: UnitOfWork, automation_id: uuid.UUID, precondition: Precondition | None
) -> dict[str, Any]:
    row = _locked(uow, automation_id)
    if precondition is not None:
        precondition.check(row["revision"], "the automation")
    if row["status"] == "archived":
        raise Conflict("the automation is archived: it can no longer be changed")
    return row


def _audit(
    uow: UnitOfWork,
    principal: Principal,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    meta: RequestMeta | None,
) -> None:
    keys = ("name", "status", "version", "trigger", "workflow")
    record_change(
        uow, principal, action, entity_type="automation", entity_id=after["id"],
        before={k: before[k] for k in keys}, after={k: after[k] for k in keys},
        meta=meta or RequestMeta(),
    )  # fmt: skip


def _not_found(automation_id: uuid.UUID) -> NotFound:
    return NotFound(f"automation {automation_id} not found")
