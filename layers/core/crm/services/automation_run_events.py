"""Recording a run's outcome and publishing its lifecycle event in the same transaction, once:
an outcome is written only over a run still recorded as running, and only that write emits
crm.automation.run_<outcome>, whoever notices the outcome first (the runs list, the sweep of
running runs, a retry, a cancel, the exit step)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.domain.automation_run_events import FINISHED_EVENTS, run_event
from crm.domain.run_inspection import RunRecord
from crm.observability import logger
from crm.ports import ExecutionInspector, UnitOfWork, UnitOfWorkFactory
from crm.ports.automation_lifecycle import RunningRunsDirectory

# A run younger than this is left to finish on its own before the sweep describes it.
SWEEP_MIN_AGE = timedelta(seconds=5)
SWEEP_BATCH = 200


def started(uow: UnitOfWork, tenant_id: uuid.UUID, run: dict[str, Any]) -> None:
    uow.add_event(run_event("crm.automation.run_started", tenant_id, run, status="running"))


def finish(
    uow: UnitOfWork,
    tenant_id: uuid.UUID,
    run: dict[str, Any],
    status: str,
    *,
    reason: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Record the outcome of a run (a run_control row) and emit its event; False when it was
    no longer running (someone recorded it first)."""
    if not uow.run_control.finish(run["id"], status, reason, at):
        return False
    uow.add_event(run_event(FINISHED_EVENTS[status], tenant_id, run, status=status, reason=reason))
    return True


def record_outcome(uow: UnitOfWork, tenant_id: uuid.UUID, run: RunRecord) -> None:
    """The runs list's and the reports' path: cache a finished execution's outcome."""
    if uow.run_records.record_outcome(run) and run.status in FINISHED_EVENTS:
        uow.add_event(
            run_event(FINISHED_EVENTS[run.status], tenant_id, _as_row(run), status=run.status)
        )


def _as_row(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "automation_id": run.automation_id,
        "version": run.version,
        "event_id": run.event_id,
        "attempt": run.attempt,
        "subject": run.subject,
    }


def sweep_running_runs(
    directory: RunningRunsDirectory,
    *,
    unit_of_work: UnitOfWorkFactory,
    executions: ExecutionInspector,
    now: datetime | None = None,
) -> int:
    """Scheduled: every tenant's runs still recorded as running are described, and those that
    ended get their outcome and event. Returns how many ended."""
    cutoff = (now or datetime.now(UTC)) - SWEEP_MIN_AGE
    ended = 0
    for tenant_id in directory.tenants_with_running_runs(cutoff):
        try:
            with unit_of_work(tenant_id) as uow:
                for run in uow.run_control.running_since(cutoff, SWEEP_BATCH):
                    found = executions.describe(run["execution_arn"])
                    if found is not None and found.finished:
                        ended += finish(uow, tenant_id, run, found.status, at=found.stopped_at)
                uow.commit()
        except Exception:
            # One tenant's failure must not hold back the others; the next sweep retries.
            logger.exception(
                "run sweep failed for a tenant", extra={"sweep_tenant": str(tenant_id)}
            )
    return ended
