"""GET /reports/automations: runs started per automation and per day, with their outcomes.

Why Postgres and not OpenSearch: the event catalog has no automation run events (no
crm.automation.run_*), and emitting them would mean changing the router and the step
function, which others are changing now. automation_runs already holds one row per started
run (the router's ledger, unique per automation version and event) with its outcome cached
(migration 0014), so an aggregate over it is exact, per tenant by RLS, and cheap (a GROUP BY
over one tenant's runs of a period). An outcome is cached only once someone asked Step
Functions; so, as the runs API does, the report first describes the runs of the period still
cached as running (at most REFRESH_LIMIT per request, oldest first) and writes finished
outcomes back; beyond that limit a run counts as running until a later read catches up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from crm.domain.run_inspection import RunRecord
from crm.domain.tenants import Principal
from crm.ports import ExecutionInspector, UnitOfWorkFactory
from crm.services import automation_run_events as run_events
from crm.services.pipeline_reports import ReportPeriod

REFRESH_LIMIT = 100

# Statuses as the report counts them: a run either succeeded, failed (however it ended
# badly) or is still running.
OUTCOME = {
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "timed_out": "failed",
    "aborted": "failed",
    "pending_redrive": "failed",
    # recorded by the product: never started (plan limit, re-enrolment), stopped, ended early
    "skipped": "skipped",
    "cancelled": "cancelled",
    "exited": "exited",
}


def automations_report(
    principal: Principal,
    period: ReportPeriod,
    *,
    unit_of_work: UnitOfWorkFactory,
    executions: ExecutionInspector,
) -> dict[str, Any]:
    start = datetime.combine(period.start, time.min, tzinfo=UTC)
    end = datetime.combine(period.end + timedelta(days=1), time.min, tzinfo=UTC)
    with unit_of_work(principal.tenant_id) as uow:
        running = uow.run_stats.still_running(start, end, REFRESH_LIMIT)
    # Step Functions is asked outside any transaction (no connection held during the calls)
    finished: list[RunRecord] = []
    for run in running:
        assert run.execution_arn is not None  # still_running selects runs that have one
        described = run.with_outcome(executions.describe(run.execution_arn))
        if described.status != "running":
            finished.append(described)
    with unit_of_work(principal.tenant_id) as uow:
        for run in finished:
            run_events.record_outcome(uow, principal.tenant_id, run)
        counts = uow.run_stats.counts(start, end)
        uow.commit()
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        **shape_automations(counts),
    }


def _tally() -> dict[str, int]:
    return {
        "runs": 0, "succeeded": 0, "failed": 0, "running": 0,
        "skipped": 0, "cancelled": 0, "exited": 0,
    }  # fmt: skip


def shape_automations(
    counts: Sequence[tuple[uuid.UUID, str, date, str, int]],
) -> dict[str, Any]:
    """{totals, automations: [{automation_id, name, runs, succeeded, failed, running,
    per_day: [{date, runs, succeeded, failed, running}]}]} from (automation, name, day,
    status, runs) rows; automations without runs in the period are not listed."""
    totals = _tally()
    automations: dict[uuid.UUID, dict[str, Any]] = {}
    days: dict[uuid.UUID, dict[date, dict[str, int]]] = {}
    for automation_id, name, day, status, runs in counts:
        entry = automations.setdefault(
            automation_id, {"automation_id": str(automation_id), "name": name, **_tally()}
        )
        per_day = days.setdefault(automation_id, {}).setdefault(day, _tally())
        outcome = OUTCOME.get(status, "failed")
        for tally in (totals, entry, per_day):
            tally["runs"] += runs
            tally[outcome] += runs
    return {
        "totals": totals,
        "automations": [
            {
                **entry,
                "per_day": [
                    {"date": day.isoformat(), **tally}
                    for day, tally in sorted(days[automation_id].items())
                ],
            }
            for automation_id, entry in automations.items()
        ],
    }
