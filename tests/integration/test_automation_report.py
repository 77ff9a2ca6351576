"""GET /reports/automations' service on the real PostgreSQL (app role, RLS) and embedded moto's
Step Functions with real execution: runs the router started are counted per automation and UTC
day; runs still cached as running are described once and their outcome written back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm.services.automation_reports import automations_report
from crm.services.pipeline_reports import ReportPeriod

from tests.integration.test_automation_runs import Cloud, Org, cloud

pytestmark = pytest.mark.integration

__all__ = ["cloud"]  # the fixture, imported for this module's tests


def _report(org: Org, executions: Any, days_back: int = 1) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return automations_report(
        org.owner,
        ReportPeriod(today - timedelta(days=days_back), today),
        unit_of_work=org.cloud.db.unit_of_work,
        executions=executions,
    )


def test_runs_are_counted_per_day_and_described_once(cloud: Cloud) -> None:
    org, stranger = Org(cloud), Org(cloud)
    arns = [org.lead_run(source)[1] for source in ("web", "web", "referral")]
    for arn in arns:
        org.wait(arn)
    # one run started yesterday (UTC)
    cloud.admin_conn.run(
        "UPDATE automation_runs SET created_at = created_at - interval '1 day'"
        " WHERE execution_arn = :arn",
        arn=arns[2],
    )

    first = cloud.executions()
    report = _report(org, first)
    assert sorted(first.described) == sorted(arns)  # all three were cached as running
    assert report["totals"] == {
        "runs": 3,
        "succeeded": 3,
        "failed": 0,
        "running": 0,
        "skipped": 0,
        "cancelled": 0,
        "exited": 0,
    }
    (automation,) = report["automations"]
    assert automation["automation_id"] == str(org.automation_id)
    assert automation["name"] == "Web leads"
    today = datetime.now(UTC).date()
    assert [(day["date"], day["runs"]) for day in automation["per_day"]] == [
        ((today - timedelta(days=1)).isoformat(), 1),
        (today.isoformat(), 2),
    ]

    second = cloud.executions()
    assert _report(org, second) == report
    assert second.described == []  # the outcomes were written back

    only_today = _report(org, cloud.executions(), days_back=0)
    assert only_today["totals"]["runs"] == 2
    assert _report(stranger, cloud.executions())["automations"] == []
