"""GET /gdpr/export?email=, POST /gdpr/erase: everything held about a person, and its
anonymisation. Owners and admins (gdpr:export, gdpr:erase); both audited."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.contract import contract, responses
from crm.api.record_schemas import EraseIn
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.writes import idempotency_key, request_context
from crm.observability import bind_api_event, logger
from crm.services.gdpr import erase_person, export_person
from crm.settings import GdprApiSettings
from crm.tracing import tracer
from pydantic import EmailStr

settings = GdprApiSettings.from_env()
app = build_resolver()


def _db() -> Any:
    return bootstrap.database(settings.database_url, settings.amqp_url, settings.database_pool_size)


@app.get("/gdpr/export", responses=responses(200))
@tracer.capture_method
def read_export(
    email: Annotated[EmailStr, Query(max_length=254, description="the person's email")],
) -> Response[dict[str, Any]]:
    """The person's leads and contacts (deleted ones too), their history, notes, linked
    deals and the automation runs their events started."""
    bundle = export_person(email, request_context(app), unit_of_work=_db().unit_of_work)
    return json_response(200, bundle, Content_Disposition='attachment; filename="export.json"')


@app.post("/gdpr/erase", responses=responses(200))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_erase(body: EraseIn) -> Response[dict[str, Any]]:
    counts, replayed = erase_person(
        body.email,
        request_context(app),
        unit_of_work=_db().unit_of_work,
        files=bootstrap.files(settings.imports_bucket),
        idempotency_key=idempotency_key(app),
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return json_response(200, counts, **headers)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
