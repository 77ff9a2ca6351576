"""Automation definitions: validated, versioned, compiled on save so errors surface early."""

from __future__ import annotations

import uuid
from typing import Any

from crm.automation.chains import ChainNode, find_cycle
from crm.automation.compiler import compile_workflow
from crm.automation.model import Workflow
from crm.domain.audit import RequestMeta
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.plans import Metric
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services.audit_logs import record_change
from crm.services.automation_webhooks import (
    OutboundSettings,
    check_workflow,
    issue_signing_secret,
    public_definition,
    sealed_definition,
    webhook_actions,
)
from crm.services.plans import ensure_within_limit


def create_automation(
    name: str,
    workflow: Workflow,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    step_function_arn: str,
    meta: RequestMeta | None = None,
    outbound: OutboundSettings | None = None,
) -> dict[str, Any]:
    """`outbound` guards webhook actions (target policy, sealed secret headers): a workflow
    with one cannot be saved without it. With it, the automation gets its webhook signing
    secret, answered once as `webhook_secret`."""
    # Compiling here proves the workflow maps onto a state machine before anyone relies on it.
    compile_workflow(workflow, step_function_arn=step_function_arn)
    automation_id, version_id = uuid.uuid4(), uuid.uuid4()
    if outbound is not None:
        check_workflow(workflow, outbound)
        definition = sealed_definition(workflow, automation_id, outbound.cipher)
    elif any(webhook_actions(workflow.steps)):
        raise RuntimeError("a workflow with a webhook action needs the outbound settings")
    else:
        definition = workflow.model_dump(mode="json")
    with unit_of_work(principal.tenant_id) as uow:
        ensure_within_limit(uow, Metric.ACTIVE_AUTOMATIONS)  # a new automation is active
        check_no_cycle(uow, ChainNode(automation_id, name, workflow))
        uow.automations.add(
            automation_id,
            version_id,
            name,
            workflow.trigger.event,
            definition,
            created_by=principal.user_id,
        )
        created = uow.automations.get(automation_id)
        assert created is not None
        view = automation_view(created)
        if outbound is not None:  # shown in this answer only
            view["webhook_secret"] = issue_signing_secret(uow, automation_id, outbound.cipher)
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
        raise NotFound(f"automation {automation_id} not found")
    return automation_view(found)


def automation_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "status": row["status"],
        "version": row["version"],
        "trigger": {"event": row["trigger_event"]},
        "workflow": public_definition(row["definition"]),
        "created_at": row["created_at"].isoformat(),
    }


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
