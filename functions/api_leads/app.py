"""POST /leads, GET /leads/{id}. Authorizer-protected; the tenant comes from its context."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import correlation_id, header, path_uuid, principal, request_meta
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.schemas import LeadIn
from crm.observability import bind_api_event, logger
from crm.services.leads import NewLead, create_lead, get_lead
from crm.settings import ApiSettings
from crm.tracing import tracer

settings = ApiSettings.from_env()
app = build_resolver()


def _db() -> Any:
    return bootstrap.database(settings.database_url, settings.amqp_url, settings.database_pool_size)


@app.post("/leads")
@tracer.capture_method
def post_lead(body: LeadIn) -> Response[dict[str, Any]]:
    lead, replayed = create_lead(
        NewLead(**body.model_dump()),
        principal(app),
        unit_of_work=_db().unit_of_work,
        idempotency_key=header(app, "Idempotency-Key"),
        correlation_id=correlation_id(app),
        meta=request_meta(app),
    )
    headers = {"Location": f"/leads/{lead['id']}", "ETag": f'"{lead["version"]}"'}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(201, lead, **headers)


@app.get("/leads/<lead_id>")
@tracer.capture_method
def read_lead(lead_id: str) -> Response[dict[str, Any]]:
    lead = get_lead(path_uuid(lead_id, "lead"), principal(app), unit_of_work=_db().unit_of_work)
    return json_response(200, lead, ETag=f'"{lead["version"]}"')


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
