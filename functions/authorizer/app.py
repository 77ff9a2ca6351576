"""Lambda REQUEST authorizer for the REST API and the WebSocket API's $connect: establishes
the caller from an access token or an API key and returns its tenant, user, role and scopes
as context. Raising "Unauthorized" makes API Gateway answer 401; any other exception (the
database is down) makes it answer 500, so an outage never looks like a bad credential."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.domain.errors import InvalidCredentials
from crm.observability import logger
from crm.services.authorization import RequestAuthorizer, authorize_event
from crm.settings import AuthorizerSettings

settings = AuthorizerSettings.from_env()


@cache
def _authorizer() -> RequestAuthorizer:
    tokens = bootstrap.token_service(
        settings.jwt_signing_secret_arn, settings.jwt_issuer, settings.jwt_audience
    )
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    return RequestAuthorizer(tokens=tokens, unit_of_work=db.unit_of_work)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return authorize_event(event, _authorizer())
    except InvalidCredentials as error:
        logger.info("credential rejected", extra={"reason": str(error.__cause__ or error)})
        raise Exception("Unauthorized") from error
