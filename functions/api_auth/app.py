"""POST /auth/login (access token) and GET /.well-known/jwks.json. Public routes."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.resolver import build_resolver
from crm.api.schemas import LoginIn
from crm.observability import bind_api_event, logger
from crm.services.accounts import log_in
from crm.settings import AuthApiSettings
from crm.tracing import tracer

settings = AuthApiSettings.from_env()
app = build_resolver()


def _tokens() -> Any:
    return bootstrap.token_service(
        settings.jwt_signing_secret_arn, settings.jwt_issuer, settings.jwt_audience
    )


@app.post("/auth/login")
@tracer.capture_method
def login(body: LoginIn) -> dict[str, Any]:
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    return log_in(
        body.email,
        body.password,
        body.tenant,
        login_directory=db.login_directory,
        unit_of_work=db.unit_of_work,
        hasher=bootstrap.password_hasher(),
        tokens=_tokens(),
    )


@app.get("/.well-known/jwks.json")
def jwks() -> dict[str, Any]:
    return _tokens().jwks()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
