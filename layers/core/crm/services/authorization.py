"""The Lambda authorizer's decision, apart from its Lambda plumbing.

One authorizer serves the REST API and the WebSocket API's `$connect`. It accepts an access
token (JWT) or an API key (`crm_live_...`), both as `Authorization: Bearer <credential>`; on
`$connect` also as the `token` query parameter, because browsers cannot set headers on a
WebSocket. A cryptographically valid credential is not enough: the user (or the key and its
creator) is looked up in the database, in the credential's tenant, so a deactivated user, a
revoked or expired key, a token issued before a password reset or whose session has ended is
refused here; once the
decision is cached by the gateway (ReauthorizeEvery), the API gate checks the same per request
(crm.services.admission), so revocation applies to the next request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm.domain.credentials import API_KEY_PREFIX, OpaqueCredential, looks_like_api_key
from crm.domain.errors import InvalidCredentials
from crm.ports import UnitOfWorkFactory
from crm.services.tokens import TokenService

# What a user of a tenant that requires MFA may call before enrolling (their token has no
# "otp" in amr): the enrolment routes, nothing else. API Gateway answers 403 to the rest.
ENROLMENT_ROUTES = (("POST", "/auth/mfa/enrol"), ("POST", "/auth/mfa/confirm"))


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the authorizer hands it to the API (its `context`)."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = frozenset()
    mfa_enrolment_required: bool = False
    # an access token's iat and session (sid): the API gate checks them on every request
    issued_at: int | None = None
    session_id: uuid.UUID | None = None

    def context(self) -> dict[str, str]:
        """API Gateway context values are strings; scopes travel space-separated."""
        context = {
            "tenant_id": str(self.tenant_id),
            "user_id": str(self.user_id),
            "role": self.role,
            "auth_type": "api_key" if self.api_key_id else "user",
        }
        if self.api_key_id is not None:
            context["api_key_id"] = str(self.api_key_id)
            context["scopes"] = " ".join(sorted(self.scopes))
        if self.mfa_enrolment_required:
            context["mfa_enrolment_required"] = "true"
        if self.issued_at is not None:
            context["issued_at"] = str(self.issued_at)
        if self.session_id is not None:
            context["session_id"] = str(self.session_id)
        return context


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RequestAuthorizer:
    tokens: TokenService
    unit_of_work: UnitOfWorkFactory
    clock: Callable[[], datetime] = _utcnow

    def authenticate(self, credential: str) -> Caller:
        """The caller behind `credential`, or InvalidCredentials. Database errors propagate:
        an outage must not look like a bad token (API Gateway answers 500, not 401)."""
        if looks_like_api_key(credential):
            return self._api_key(credential)
        claims = self.tokens.verify_claims(credential)
        with self.unit_of_work(claims.tenant_id) as uow:
            state = uow.credentials.session_state(claims.user_id, claims.session_id)
        if state is None or state.status != "active":
            raise InvalidCredentials("the user is not active")
        if state.session_ended:
            raise InvalidCredentials("the session has ended")
        if (
            state.tokens_valid_after is not None
            and claims.issued_at < state.tokens_valid_after.timestamp()
        ):
            raise InvalidCredentials("the token predates a password change")
        return Caller(
            tenant_id=claims.tenant_id,
            user_id=claims.user_id,
            # The current role, not the one in the token: a demotion applies at once.
            role=state.role,
            mfa_enrolment_required=state.tenant_requires_mfa and not claims.multi_factor,
            issued_at=claims.issued_at,
            session_id=claims.session_id,
        )

    def _api_key(self, credential: str) -> Caller:
        presented = OpaqueCredential.parse(API_KEY_PREFIX, credential)
        now = self.clock()
        with self.unit_of_work(presented.tenant_id) as uow:
            holder = uow.api_keys.holder(presented.id)
            if holder is None or not presented.matches(holder.key.digest):
                raise InvalidCredentials("unknown API key")
            if not holder.key.usable_at(now):
                raise InvalidCredentials("the API key is revoked or expired")
            if holder.creator_status != "active":
                raise InvalidCredentials("the API key's creator is not active")
            uow.api_keys.touch(holder.key.id, now)
            uow.commit()
        return Caller(
            tenant_id=presented.tenant_id,
            user_id=holder.key.created_by,
            role=holder.creator_role,
            api_key_id=holder.key.id,
            scopes=holder.key.scopes,
        )


# ------------------------------------------------------------------ the Lambda event


def _header(headers: Mapping[str, str] | None, name: str) -> str:
    return next((v for k, v in (headers or {}).items() if k.lower() == name), "")


def bearer_token(headers: Mapping[str, str]) -> str:
    scheme, _, token = _header(headers, "authorization").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidCredentials("missing bearer token")
    return token.strip()


def is_websocket_connect(event: Mapping[str, Any]) -> bool:
    context = event.get("requestContext") or {}
    return context.get("eventType") == "CONNECT" or context.get("routeKey") == "$connect"


def credential_from_event(event: Mapping[str, Any]) -> str:
    """The credential of a REST or WebSocket `$connect` REQUEST authorizer event. Query-string
    tokens are taken on `$connect` only: in a REST URL they would end up in access logs."""
    if is_websocket_connect(event) and not _header(event.get("headers"), "authorization"):
        token = (event.get("queryStringParameters") or {}).get("token") or ""
        if not token.strip():
            raise InvalidCredentials("missing token")
        return str(token).strip()
    return bearer_token(event.get("headers") or {})


def _stage_prefix(method_arn: str) -> str:
    """arn:...:api-id/stage/METHOD/path -> arn:...:api-id/stage"""
    prefix, _, rest = method_arn.partition(":execute-api:")
    api, _, after = rest.partition("/")
    stage = after.split("/", 1)[0] or "*"
    return f"{prefix}:execute-api:{api}/{stage}"


def api_wildcard_arn(method_arn: str) -> str:
    """The decision is cached per credential by API Gateway, so it must cover every route
    the caller may call, not just the one that triggered it."""
    return f"{_stage_prefix(method_arn)}/*"


def allow_policy(caller: Caller, method_arn: str) -> dict[str, Any]:
    if caller.mfa_enrolment_required:
        stage = _stage_prefix(method_arn)
        resources: list[str] = [f"{stage}/{method}{path}" for method, path in ENROLMENT_ROUTES]
    else:
        resources = [api_wildcard_arn(method_arn)]
    return {
        "principalId": str(caller.api_key_id or caller.user_id),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resources}
            ],
        },
        "context": caller.context(),
    }


def authorize_event(event: Mapping[str, Any], authorizer: RequestAuthorizer) -> dict[str, Any]:
    """The authorizer's answer to a REST or `$connect` REQUEST event; InvalidCredentials when
    the caller is not let in."""
    caller = authorizer.authenticate(credential_from_event(event))
    return allow_policy(caller, str(event["methodArn"]))
