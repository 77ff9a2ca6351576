"""Authentication routes. Public: login, refresh, logout, password reset, the JWKS. Behind the
authorizer: the caller's own two-factor authentication (enrol, confirm, disable, recovery
codes)."""

from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import principal, request_meta
from crm.api.contract import responses
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.schemas import (
    LoginIn,
    MfaCodeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RefreshTokenIn,
)
from crm.observability import bind_api_event, logger
from crm.services.authentication import Authenticator
from crm.services.emails import enqueue_email
from crm.services.mfa import MfaService
from crm.services.password_reset import PasswordResets
from crm.services.tokens import TokenService
from crm.settings import AuthApiSettings
from crm.tracing import tracer

settings = AuthApiSettings.from_env()
app = build_resolver()
# Token responses must not be stored by browsers or proxies (RFC 6749 section 5.1).
NO_STORE = {"Cache_Control": "no-store", "Pragma": "no-cache"}


def _tokens() -> TokenService:
    return bootstrap.token_service(
        settings.jwt_signing_secret_arn, settings.jwt_issuer, settings.jwt_audience
    )


def _db() -> Any:
    return bootstrap.database(
        settings.database_url, settings.amqp_url, pool_size=settings.database_pool_size
    )


@cache
def _authenticator() -> Authenticator:
    return Authenticator(
        unit_of_work=_db().unit_of_work,
        login_directory=_db().login_directory,
        hasher=bootstrap.password_hasher(),
        tokens=_tokens(),
        cipher=bootstrap.field_cipher(settings.mfa_encryption_secret_arn),
    )


@cache
def _mfa() -> MfaService:
    return MfaService(
        unit_of_work=_db().unit_of_work,
        cipher=bootstrap.field_cipher(settings.mfa_encryption_secret_arn),
    )


@cache
def _password_resets() -> PasswordResets:
    return PasswordResets(
        unit_of_work=_db().unit_of_work,
        login_directory=_db().login_directory,
        hasher=bootstrap.password_hasher(),
        mail=enqueue_email,
        mail_from=settings.mail_from,
        reset_url=f"{settings.base_url}/reset-password",
    )


@app.post("/auth/login", responses=responses(200, 401, 429))
@tracer.capture_method
def login(body: LoginIn) -> Response[dict[str, Any]]:
    session = _authenticator().log_in(
        body.email,
        body.password,
        body.tenant,
        totp_code=body.totp_code,
        recovery_code=body.recovery_code,
        meta=request_meta(app),
    )
    return json_response(200, session, **NO_STORE)


@app.post("/auth/refresh", responses=responses(200, 401))
@tracer.capture_method
def refresh(body: RefreshTokenIn) -> Response[dict[str, Any]]:
    session = _authenticator().refresh(body.refresh_token, request_meta(app))
    return json_response(200, session, **NO_STORE)


@app.post("/auth/logout", responses=responses(204, 401))
@tracer.capture_method
def logout(body: RefreshTokenIn) -> Response[str]:
    _authenticator().log_out(body.refresh_token, request_meta(app))
    return Response(status_code=204, body="")


@app.post("/auth/password-reset", responses=responses(202))
@tracer.capture_method
def request_password_reset(body: PasswordResetIn) -> Response[dict[str, Any]]:
    _password_resets().request(body.email, body.tenant, request_meta(app))
    detail = "if this email belongs to an account, a reset link is on its way"
    return json_response(202, {"detail": detail})


@app.post("/auth/password-reset/confirm", responses=responses(204))
@tracer.capture_method
def confirm_password_reset(body: PasswordResetConfirmIn) -> Response[str]:
    _password_resets().confirm(body.token, body.password, request_meta(app))
    return Response(status_code=204, body="")


@app.post("/auth/mfa/enrol", responses=responses(200))
@tracer.capture_method
def enrol_mfa() -> Response[dict[str, Any]]:
    return json_response(200, _mfa().enrol(principal(app), request_meta(app)), **NO_STORE)


@app.post("/auth/mfa/confirm", responses=responses(200))
@tracer.capture_method
def confirm_mfa(body: MfaCodeIn) -> Response[dict[str, Any]]:
    codes = _mfa().confirm(principal(app), body.code, request_meta(app))
    return json_response(200, codes, **NO_STORE)


@app.post("/auth/mfa/disable", responses=responses(204))
@tracer.capture_method
def disable_mfa(body: MfaCodeIn) -> Response[str]:
    _mfa().disable(principal(app), body.code, request_meta(app))
    return Response(status_code=204, body="")


@app.post("/auth/mfa/recovery-codes", responses=responses(200))
@tracer.capture_method
def regenerate_recovery_codes(body: MfaCodeIn) -> Response[dict[str, Any]]:
    codes = _mfa().regenerate_recovery_codes(principal(app), body.code, request_meta(app))
    return json_response(200, codes, **NO_STORE)


@app.get("/.well-known/jwks.json", responses=responses(200))
def jwks() -> Response[dict[str, Any]]:
    return json_response(200, _tokens().jwks(), Cache_Control="public, max-age=300")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
