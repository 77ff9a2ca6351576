"""Lambda REQUEST authorizer for the REST API: verifies the bearer token, returns the
principal's tenant, user and role as context. Raising "Unauthorized" makes API Gateway 401."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.domain.errors import InvalidCredentials
from crm.observability import logger
from crm.services.authorization import allow_policy, bearer_token
from crm.settings import JwtSettings

settings = JwtSettings.from_env()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tokens = bootstrap.token_service(
        settings.jwt_signing_secret_arn, settings.jwt_issuer, settings.jwt_audience
    )
    try:
        caller = tokens.verify(bearer_token(event.get("headers") or {}))
    except InvalidCredentials as error:
        logger.info("token rejected", extra={"reason": str(error.__cause__ or error)})
        raise Exception("Unauthorized") from error
    return allow_policy(caller, event["methodArn"])
