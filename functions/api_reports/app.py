"""GET /reports/leads and GET /reports/pipelines: read from OpenSearch (the analytics worker's
projection of lead and deal events); pipeline and stage names from Postgres.
GET /reports/automations: from Postgres's automation_runs (why: crm.services.automation_reports).
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import principal
from crm.api.contract import responses
from crm.api.resolver import build_resolver
from crm.api.strict import StrictDate
from crm.domain.errors import ValidationFailed
from crm.observability import bind_api_event, logger
from crm.services.analytics import leads_report
from crm.services.automation_reports import automations_report
from crm.services.pipeline_reports import ReportPeriod, pipelines_report
from crm.settings import ReportsSettings
from crm.tracing import tracer

settings = ReportsSettings.from_env()
app = build_resolver()

DEFAULT_PERIOD_DAYS = 365
MAX_PERIOD_DAYS = 3 * 366  # bounds the per-month buckets and the work of one request

Day = Annotated[StrictDate | None, Query(alias="from", description="first day (YYYY-MM-DD), UTC")]
LastDay = Annotated[StrictDate | None, Query(alias="to", description="last day, included (UTC)")]


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.get("/reports/leads", responses=responses(200))
@tracer.capture_method
def report_leads() -> dict[str, Any]:
    return leads_report(
        principal(app),
        index=bootstrap.lead_index(
            settings.opensearch_url, settings.opensearch_auth, settings.aws_region
        ),
    )


@app.get("/reports/pipelines", responses=responses(200, 404))
@tracer.capture_method
def report_pipelines(
    pipeline_id: Annotated[uuid.UUID | None, Query(description="only this pipeline")] = None,
    start: Day = None,
    end: LastDay = None,
) -> dict[str, Any]:
    """Per pipeline (or the one asked): live deals and value by stage, per currency (amounts
    in different currencies are never added); won and lost deals and value closed in the
    period, the conversion rate won / (won + lost) (null when nothing closed) and the average
    days to close of the won ones; deals created per month in the period. `from`/`to` are
    days, both included (default: the last 365 days). Sellers count only their deals and
    unassigned ones."""
    return pipelines_report(
        principal(app),
        report_period(start, end),
        pipeline_id,
        deals=bootstrap.deal_index(
            settings.opensearch_url, settings.opensearch_auth, settings.aws_region
        ),
        unit_of_work=_db().unit_of_work,
    )


@app.get("/reports/automations", responses=responses(200))
@tracer.capture_method
def report_automations(start: Day = None, end: LastDay = None) -> dict[str, Any]:
    """Runs started in the period (`from`/`to`: days, both included; default the last 365
    days) per automation and per day: runs, succeeded, failed (failed, timed out, aborted)
    and still running; with totals. Runs still cached as running are first checked with
    Step Functions (at most 100 per request)."""
    return automations_report(
        principal(app),
        report_period(start, end),
        unit_of_work=_db().unit_of_work,
        executions=bootstrap.workflow_executions(),
    )


def report_period(start: date | None, end: date | None) -> ReportPeriod:
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise _period_error("from", "must not be after to")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise _period_error("to", f"the period may span at most {MAX_PERIOD_DAYS} days")
    return ReportPeriod(start, end)


def _period_error(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(
        "the report period is not valid",
        [{"loc": ["query", field], "msg": msg, "type": "value_error"}],
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
