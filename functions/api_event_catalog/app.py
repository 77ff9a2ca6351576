"""GET /events/catalog: every event type the platform publishes, with the JSON Schema of its
data (generated from the pydantic models in crm.domain.event_catalog). Any signed-in caller."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm.api.context import principal
from crm.api.contract import responses
from crm.api.resolver import build_resolver
from crm.domain.event_catalog import catalog_document
from crm.observability import bind_api_event, logger

app = build_resolver()
CATALOG = catalog_document()  # static: built once per container


@app.get("/events/catalog", responses=responses(200))
def read_catalog() -> dict[str, Any]:
    principal(app)  # the authorizer's context must be there (401 otherwise)
    return CATALOG


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
