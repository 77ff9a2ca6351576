"""GET /reports/automations: shaping the per automation/day/status counts, and the refresh of
runs still cached as running (in-memory unit of work and executions)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Self

from crm.domain.run_inspection import ExecutionInfo, RunRecord
from crm.domain.tenants import Principal
from crm.services.automation_reports import automations_report, shape_automations
from crm.services.pipeline_reports import ReportPeriod


def test_counts_fold_into_outcomes_per_automation_and_day() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    nov1, nov2 = date(2026, 11, 1), date(2026, 11, 2)
    report = shape_automations(
        [
            (first, "Welcome", nov1, "succeeded", 3),
            (first, "Welcome", nov1, "failed", 1),
            (first, "Welcome", nov2, "timed_out", 1),
            (first, "Welcome", nov2, "aborted", 1),
            (second, "Hook", nov2, "running", 2),
            (second, "Hook", nov2, "pending_redrive", 1),
        ]
    )
    assert report["totals"] == {
        "runs": 9,
        "succeeded": 3,
        "failed": 4,
        "running": 2,
        "skipped": 0,
        "cancelled": 0,
        "exited": 0,
    }
    welcome, hook = report["automations"]
    assert welcome == {
        "automation_id": str(first),
        "name": "Welcome",
        "runs": 6,
        "succeeded": 3,
        "failed": 3,
        "running": 0,
        "skipped": 0,
        "cancelled": 0,
        "exited": 0,
        "per_day": [
            {
                "date": "2026-11-01",
                "runs": 4,
                "succeeded": 3,
                "failed": 1,
                "running": 0,
                "skipped": 0,
                "cancelled": 0,
                "exited": 0,
            },
            {
                "date": "2026-11-02",
                "runs": 2,
                "succeeded": 0,
                "failed": 2,
                "running": 0,
                "skipped": 0,
                "cancelled": 0,
                "exited": 0,
            },
        ],
    }
    assert hook["per_day"] == [
        {
            "date": "2026-11-02",
            "runs": 3,
            "succeeded": 0,
            "failed": 1,
            "running": 2,
            "skipped": 0,
            "cancelled": 0,
            "exited": 0,
        }
    ]


def test_no_runs_is_an_empty_report() -> None:
    assert shape_automations([]) == {
        "totals": {
            "runs": 0,
            "succeeded": 0,
            "failed": 0,
            "running": 0,
            "skipped": 0,
            "cancelled": 0,
            "exited": 0,
        },
        "automations": [],
    }


def _run(status: str = "running", arn: str = "arn:1") -> RunRecord:
    return RunRecord(
        id=uuid.uuid4(),
        automation_id=uuid.uuid4(),
        version=1,
        event_id=uuid.uuid4(),
        event_type="crm.lead.created",
        subject="leads/1",
        status=status,  # type: ignore[arg-type]
        created_at=datetime(2026, 11, 2, tzinfo=UTC),
        finished_at=None,
        execution_arn=arn,
    )


class _Stats:
    def __init__(self, running: list[RunRecord]) -> None:
        self.running = running
        self.asked: list[tuple[datetime, datetime, int]] = []

    def still_running(self, start: datetime, end: datetime, limit: int) -> list[RunRecord]:
        self.asked.append((start, end, limit))
        return self.running

    def counts(self, start: datetime, end: datetime) -> list[Any]:
        return []


class _Records:
    def __init__(self) -> None:
        self.recorded: list[RunRecord] = []

    def record_outcome(self, run: RunRecord) -> None:
        self.recorded.append(run)


class _Uow:
    def __init__(self, stats: _Stats, records: _Records) -> None:
        self.run_stats, self.run_records, self.commits = stats, records, 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def commit(self) -> None:
        self.commits += 1


class _Executions:
    def __init__(self, outcomes: dict[str, ExecutionInfo | None]) -> None:
        self.outcomes = outcomes

    def describe(self, arn: str) -> ExecutionInfo | None:
        return self.outcomes[arn]

    def history(self, arn: str) -> list[dict[str, Any]]:
        raise AssertionError("the report never reads histories")


def test_runs_still_cached_as_running_are_described_and_finished_ones_recorded() -> None:
    done, still, unknown = _run(arn="arn:done"), _run(arn="arn:still"), _run(arn="arn:gone")
    stats, records = _Stats([done, still, unknown]), _Records()
    uow = _Uow(stats, records)
    started = datetime(2026, 11, 2, tzinfo=UTC)
    executions = _Executions(
        {
            "arn:done": ExecutionInfo("failed", started, datetime(2026, 11, 2, 1, tzinfo=UTC)),
            "arn:still": ExecutionInfo("running", started),
            "arn:gone": None,
        }
    )
    principal = Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), role="owner")
    report = automations_report(
        principal,
        ReportPeriod(date(2026, 11, 1), date(2026, 11, 30)),
        unit_of_work=lambda tenant_id: uow,  # type: ignore[arg-type,return-value]
        executions=executions,
    )
    assert [(run.id, run.status) for run in records.recorded] == [(done.id, "failed")]
    assert uow.commits == 1
    # the period's whole last day is included
    assert stats.asked == [
        (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), 100)
    ]
    assert report["from"] == "2026-11-01" and report["to"] == "2026-11-30"


def test_skipped_cancelled_and_exited_runs_are_not_failures() -> None:
    day = date(2026, 11, 3)
    automation = uuid.uuid4()
    report = shape_automations(
        [
            (automation, "Capped", day, "skipped", 2),
            (automation, "Capped", day, "cancelled", 1),
            (automation, "Capped", day, "exited", 1),
            (automation, "Capped", day, "failed", 1),
        ]
    )
    assert report["totals"] == {
        "runs": 5, "succeeded": 0, "failed": 1, "running": 0,
        "skipped": 2, "cancelled": 1, "exited": 1,
    }  # fmt: skip
