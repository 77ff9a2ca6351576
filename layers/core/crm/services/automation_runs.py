"""Runs you can inspect: an automation's runs, and one run step by step.

Where a run's status comes from: automation_runs caches it. The router inserts a run as
'running'; these reads call DescribeExecution only for the runs still cached as running that
they are about to show, and write a finished outcome back (a finished execution never changes),
so a list page costs at most one AWS call per row still running and none for finished ones,
without the router or the step function having to report completions. Step Functions is asked
outside the database transaction, so no connection is held during the calls.
"""

from __future__ import annotations

import uuid
from typing import Any

from crm.domain.errors import NotFound
from crm.domain.pagination import Page, PageRequest
from crm.domain.run_inspection import (
    ExecutionInfo,
    RunFilters,
    RunRecord,
    run_view,
)
from crm.domain.tenants import Principal
from crm.ports import ExecutionInspector, UnitOfWorkFactory
from crm.services import automation_run_events as run_events


def list_runs(
    automation_id: uuid.UUID,
    principal: Principal,
    filters: RunFilters,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    executions: ExecutionInspector,
) -> Page[RunRecord]:
    """The automation's runs, newest first. With a status filter a page may hold fewer than
    `limit` runs while `next` is set: runs cached as running are fetched with the page, then
    dropped when their execution turns out to have ended in another status."""
    with unit_of_work(principal.tenant_id) as uow:
        if uow.automations.get(automation_id) is None:
            raise NotFound(f"automation {automation_id} not found")
        rows = uow.run_records.newest(
            automation_id, filters, page.after, page.limit + 1, also_running=True
        )
    fetched = Page.from_rows(rows, page.limit, lambda run: run.keyset)
    fresh = _refresh(fetched.items, principal, unit_of_work=unit_of_work, executions=executions)
    wanted = set(filters.statuses)
    items = [run for run in fresh if not wanted or run.status in wanted]
    return Page(items=items, next=fetched.next)


def get_run(
    run_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    executions: ExecutionInspector,
) -> dict[str, Any]:
    """One run: its event, status and every step of its workflow version with what happened
    to it, from the execution history (all pages) and the action ledger."""
    with unit_of_work(principal.tenant_id) as uow:
        detail = uow.run_records.get(run_id)
    if detail is None:
        raise NotFound(f"automation run {run_id} not found")
    arn = detail.run.execution_arn
    execution: ExecutionInfo | None = None
    history: list[dict[str, Any]] = []
    if arn is not None:
        execution = executions.describe(arn)
        history = executions.history(arn) if execution is not None else []
    if execution is not None and execution.finished and detail.run.status == "running":
        _record_outcomes([detail.run.with_outcome(execution)], principal, unit_of_work)
    return run_view(detail, execution, history)


def _refresh(
    runs: list[RunRecord],
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    executions: ExecutionInspector,
) -> list[RunRecord]:
    fresh: list[RunRecord] = []
    finished: list[RunRecord] = []
    for run in runs:
        if run.status == "running" and run.execution_arn is not None:
            described = run.with_outcome(executions.describe(run.execution_arn))
            if described.status != "running":
                finished.append(described)
            run = described
        fresh.append(run)
    if finished:
        _record_outcomes(finished, principal, unit_of_work)
    return fresh


def _record_outcomes(
    runs: list[RunRecord], principal: Principal, unit_of_work: UnitOfWorkFactory
) -> None:
    with unit_of_work(principal.tenant_id) as uow:
        for run in runs:
            run_events.record_outcome(uow, principal.tenant_id, run)
        uow.commit()


def run_logs(
    automation_id: uuid.UUID,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    executions: ExecutionInspector,
) -> Page[dict[str, Any]]:
    """The runs list with each run's log: one line per step it reached, in the order it
    reached them (skipped runs: the reason they never started)."""
    runs = list_runs(
        automation_id,
        principal,
        RunFilters(),
        page,
        unit_of_work=unit_of_work,
        executions=executions,
    )
    items = []
    for run in runs.items:
        detail = get_run(run.id, principal, unit_of_work=unit_of_work, executions=executions)
        items.append({**run.summary(), "log": log_lines(detail)})
    return Page(items=items, next=runs.next)


def log_lines(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's steps as log lines: when, which step, what happened."""
    if detail["status"] == "skipped":
        return [
            {"at": detail["started_at"], "step": None, "message": f"skipped: {detail['reason']}"}
        ]
    lines = []
    for step in detail["steps"]:
        if step["state"] in ("not_reached", "skipped") or step.get("entered_at") is None:
            continue
        message = f"{step['type']} {step['state']}"
        if step["type"] == "condition" and step.get("outcome") is not None:
            message += f": {'then' if step['outcome'] else 'else'}"
        elif step["type"] == "delay" and step.get("wakes_at"):
            message += f": until {step['wakes_at']}"
        elif step["type"] == "action":
            if step.get("error"):
                message += f": {step['error'].get('error')} {step['error'].get('message') or ''}"
            elif step.get("result") is not None:
                message += f": {step['result']}"
        lines.append({"at": step["entered_at"], "step": step["id"], "message": message.strip()})
    if detail["status"] not in ("running", "succeeded"):
        lines.append(
            {"at": detail.get("finished_at"), "step": None,
             "message": f"run {detail['status']}" + (f": {detail['reason']}" if detail.get("reason") else "")}
        )  # fmt: skip
    return lines
