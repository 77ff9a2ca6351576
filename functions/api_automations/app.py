"""POST /automations, GET /automations/{id}: workflow definitions, validated and versioned."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import path_uuid, principal, request_meta
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.schemas import AutomationIn
from crm.observability import bind_api_event, logger
from crm.services.automations import create_automation, get_automation
from crm.settings import AutomationsApiSettings
from crm.tracing import tracer

settings = AutomationsApiSettings.from_env()
app = build_resolver()


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.post("/automations")
@tracer.capture_method
def post_automation(body: AutomationIn) -> Response[dict[str, Any]]:
    automation = create_automation(
        body.name,
        body.workflow,
        principal(app),
        unit_of_work=_db().unit_of_work,
        step_function_arn=settings.automation_step_function_arn,
        meta=request_meta(app),
    )
    return json_response(201, automation, Location=f"/automations/{automation['id']}")


@app.get("/automations/<automation_id>")
@tracer.capture_method
def read_automation(automation_id: str) -> dict[str, Any]:
    return get_automation(
        path_uuid(automation_id, "automation"), principal(app), unit_of_work=_db().unit_of_work
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
