"""Operating runs: cancel a running run, retry a failed one (alone or in bulk).

A retry starts a new execution of the run's own version with the run's id and event, named
`<execution name>-r<attempt>`. Its actions are keyed by (run, step) in the action ledger, so
every action the failed attempt completed answers from the ledger without acting again, and
the run continues with the step that failed. (Step Functions' RedriveExecution would do the
same without re-entering the earlier states; the embedded emulator does not implement it.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm.automation.compiler import execution_name
from crm.domain.audit import RequestMeta
from crm.domain.errors import Conflict, NotFound, ValidationFailed
from crm.domain.tenants import Principal
from crm.ports import ExecutionInspector, UnitOfWork, UnitOfWorkFactory, WorkflowEngine
from crm.ports.automation_lifecycle import ExecutionStopper
from crm.services import automation_run_events as run_events
from crm.services.audit_logs import record_change
from crm.services.automation_runtime import run_input

MAX_BULK_RETRY = 500


def cancel_running(
    uow: UnitOfWork, automation_id: uuid.UUID, *, stopper: ExecutionStopper, reason: str
) -> int:
    """Stop every run of the automation still running; returns how many were stopped."""
    cancelled = 0
    for run in uow.run_control.running(automation_id):
        if _stop(uow, run, stopper, reason):
            cancelled += 1
    return cancelled


def cancel_run(
    run_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    stopper: ExecutionStopper,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        run = _run(uow, run_id, for_update=True)
        if run["status"] != "running" or not _stop(
            uow, run, stopper, f"cancelled by {principal.actor_type} {principal.actor_id}"
        ):
            raise Conflict(f"the run is not running (it is {_status(uow, run_id)})")
        _audit(uow, principal, "automation_run.cancelled", run, "cancelled", meta)
        uow.commit()
    return {"id": str(run_id), "status": "cancelled"}


def retry_run(
    run_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    engine: WorkflowEngine,
    executions: ExecutionInspector,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    """A failed run continues from its failed step in a new execution (no earlier action
    repeats: the ledger answers for them)."""
    with unit_of_work(principal.tenant_id) as uow:
        run = _run(uow, run_id, for_update=True)
        _refresh(uow, run, executions)
        if run["status"] not in ("failed", "timed_out", "aborted"):
            raise Conflict(f"only a failed run can be retried; this one is {run['status']}")
        attempt = _restart(uow, run, principal, engine)
        _audit(uow, principal, "automation_run.retried", run, "running", meta)
        uow.commit()
    return {"id": str(run_id), "status": "running", "attempt": attempt}


def retry_failed_runs(
    automation_id: uuid.UUID,
    principal: Principal,
    start: datetime,
    end: datetime,
    *,
    unit_of_work: UnitOfWorkFactory,
    engine: WorkflowEngine,
    meta: RequestMeta | None = None,
) -> dict[str, Any]:
    """Retry the automation's runs recorded as failed that started in [start, end)."""
    if start >= end:
        raise ValidationFailed(
            "the time range is empty",
            [{"loc": ["body", "created_before"], "msg": "must be after created_after",
              "type": "value_error"}],
        )  # fmt: skip
    with unit_of_work(principal.tenant_id) as uow:
        if uow.automations.get(automation_id) is None:
            raise NotFound(f"automation {automation_id} not found")
        run_ids = uow.run_control.failed_between(automation_id, start, end, MAX_BULK_RETRY)
        retried = []
        for run_id in run_ids:
            run = _run(uow, run_id, for_update=True)
            _restart(uow, run, principal, engine)
            retried.append(str(run_id))
        record_change(
            uow, principal, "automation.runs_retried", entity_type="automation",
            entity_id=str(automation_id), before=None,
            after={"runs": retried, "from": start.isoformat(), "to": end.isoformat()},
            meta=meta or RequestMeta(),
        )  # fmt: skip
        uow.commit()
    return {"retried": retried, "count": len(retried)}


def _restart(
    uow: UnitOfWork, run: dict[str, Any], principal: Principal, engine: WorkflowEngine
) -> int:
    if run["envelope"] is None or run["state_machine_arn"] is None:
        raise Conflict("the run's triggering event is no longer kept: it cannot be retried")
    attempt = run["attempt"] + 1
    name = f"{execution_name(str(run['version_id']), str(run['event_id']))}-r{attempt}"
    arn = engine.start(
        run["state_machine_arn"],
        name,
        run_input(
            principal.tenant_id, run["automation_id"], run["version"], run["id"], run["envelope"]
        ),
    )
    attempt = uow.run_control.restart(run["id"], name, arn)
    run_events.started(uow, principal.tenant_id, {**run, "attempt": attempt})
    return attempt


def _stop(uow: UnitOfWork, run: dict[str, Any], stopper: ExecutionStopper, reason: str) -> bool:
    if run["execution_arn"] is not None and not stopper.stop(run["execution_arn"], reason):
        return False  # it had ended already: the runs list records its real outcome
    return run_events.finish(
        uow, uow.tenant_id, run, "cancelled", reason=reason, at=datetime.now(UTC)
    )


def _refresh(uow: UnitOfWork, run: dict[str, Any], executions: ExecutionInspector) -> None:
    if run["status"] == "running" and run["execution_arn"] is not None:
        found = executions.describe(run["execution_arn"])
        if found is not None and found.finished:
            run_events.finish(uow, uow.tenant_id, run, found.status, at=found.stopped_at)
            run["status"] = found.status


def _run(uow: UnitOfWork, run_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any]:
    run = uow.run_control.get(run_id, for_update=for_update)
    if run is None:
        raise NotFound(f"automation run {run_id} not found")
    return run


def _status(uow: UnitOfWork, run_id: uuid.UUID) -> str:
    run = uow.run_control.get(run_id)
    return str(run["status"]) if run else "unknown"


def _audit(
    uow: UnitOfWork,
    principal: Principal,
    action: str,
    run: dict[str, Any],
    status: str,
    meta: RequestMeta | None,
) -> None:
    record_change(
        uow, principal, action, entity_type="automation_run", entity_id=str(run["id"]),
        before={"status": run["status"]}, after={"status": status},
        meta=meta or RequestMeta(),
    )  # fmt: skip
