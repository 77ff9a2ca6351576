"""POST /tenants: sign-up (a tenant and its owner user). Public route."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.schemas import SignUpIn
from crm.observability import bind_api_event, logger
from crm.services.accounts import SignUp, sign_up
from crm.settings import DatabaseSettings
from crm.tracing import tracer

settings = DatabaseSettings.from_env()
app = build_resolver()


@app.post("/tenants")
@tracer.capture_method
def create_tenant(body: SignUpIn) -> Response[dict[str, Any]]:
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    tenant, owner = sign_up(
        SignUp(body.name, body.slug, body.owner.email, body.owner.password, body.owner.name),
        unit_of_work=db.unit_of_work,
        hasher=bootstrap.password_hasher(),
    )
    return json_response(
        201,
        {
            "id": str(tenant.id),
            "name": tenant.name,
            "slug": tenant.slug,
            "plan": tenant.plan,
            "owner": {"id": str(owner.id), "email": owner.email, "role": owner.role.value},
        },
        Location=f"/tenants/{tenant.id}",
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
