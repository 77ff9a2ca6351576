"""POST /tenants: sign-up (a tenant and its owner user; public). A tenant's settings, usage
against its plan's limits, and plan changes (the caller's own tenant only)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import etag, if_match
from crm.api.context import path_uuid, principal, request_meta
from crm.api.contract import contract, responses
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.schemas import PlanChangeIn, SignUpIn, TenantSettingsPatchIn
from crm.observability import bind_api_event, logger
from crm.services.accounts import SignUp, sign_up
from crm.services.plans import change_plan, usage_report
from crm.services.tenant_settings import get_settings, update_settings
from crm.settings import DatabaseSettings
from crm.tracing import tracer

settings = DatabaseSettings.from_env()
app = build_resolver()


@app.post("/tenants", responses=responses(201, 409))
@tracer.capture_method
def create_tenant(body: SignUpIn) -> Response[dict[str, Any]]:
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    tenant, owner = sign_up(
        SignUp(body.name, body.slug, body.owner.email, body.owner.password, body.owner.name),
        unit_of_work=db.unit_of_work,
        hasher=bootstrap.password_hasher(),
        meta=request_meta(app),
    )
    return json_response(
        201,
        {
            "id": str(tenant.id),
            "name": tenant.name,
            "slug": tenant.slug,
            "plan": tenant.plan,
            "owner": {"id": str(owner.id), "email": owner.email, "role": str(owner.role)},
        },
        Location=f"/tenants/{tenant.id}",
    )


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


@app.get("/tenants/<tenant_id>/settings", responses=responses(200))
@tracer.capture_method
def read_settings(tenant_id: str) -> Response[dict[str, Any]]:
    found = get_settings(
        path_uuid(tenant_id, "tenant"), principal(app), unit_of_work=_db().unit_of_work
    )
    return json_response(200, found, ETag=etag(found["version"]))


@app.patch("/tenants/<tenant_id>/settings", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_settings(tenant_id: str, body: TenantSettingsPatchIn) -> Response[dict[str, Any]]:
    updated = update_settings(
        path_uuid(tenant_id, "tenant"),
        body.model_dump(exclude_none=True),
        principal(app),
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
        precondition=if_match(app),
    )
    return json_response(200, updated, ETag=etag(updated["version"]))


@app.get("/tenants/<tenant_id>/usage", responses=responses(200))
@tracer.capture_method
def read_usage(tenant_id: str) -> dict[str, Any]:
    return usage_report(
        path_uuid(tenant_id, "tenant"), principal(app), unit_of_work=_db().unit_of_work
    )


@app.patch("/tenants/<tenant_id>/plan", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_plan(tenant_id: str, body: PlanChangeIn) -> Response[dict[str, Any]]:
    updated = change_plan(
        path_uuid(tenant_id, "tenant"),
        body.plan,
        principal(app),
        unit_of_work=_db().unit_of_work,
        meta=request_meta(app),
        precondition=if_match(app),
    )
    return json_response(200, updated, ETag=etag(updated["version"]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
