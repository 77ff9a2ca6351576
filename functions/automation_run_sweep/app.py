"""Scheduled: records the outcome of automation runs whose execution ended while nobody read
them, and publishes their crm.automation.run_succeeded / run_failed events."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger, metrics
from crm.services.automation_run_events import sweep_running_runs
from crm.settings import RunSweepSettings

settings = RunSweepSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    ended = sweep_running_runs(
        bootstrap.expired_records(settings.relay_database_url),
        unit_of_work=bootstrap.database(settings.database_url).unit_of_work,
        executions=bootstrap.workflow_executions(),
    )
    metrics.add_metric(name="AutomationRunsEnded", unit="Count", value=ended)
    return {"ended": ended}
