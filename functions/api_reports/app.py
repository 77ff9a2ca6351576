"""GET /reports/leads: lead counts by status, read from OpenSearch."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import principal
from crm.api.resolver import build_resolver
from crm.observability import bind_api_event, logger
from crm.services.analytics import leads_report
from crm.settings import ReportsSettings
from crm.tracing import tracer

settings = ReportsSettings.from_env()
app = build_resolver()


@app.get("/reports/leads")
@tracer.capture_method
def report_leads() -> dict[str, Any]:
    return leads_report(principal(app), index=bootstrap.lead_index(settings.opensearch_url))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
