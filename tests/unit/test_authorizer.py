"""The Lambda authorizer's decision on fakes: access tokens and API keys, the database checks
that make deactivation and revocation bite, the MFA-enrolment restriction, the WebSocket
$connect event, and failures that must not read as 401."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json
from crm.domain.audit import RequestMeta
from crm.domain.errors import InvalidCredentials
from crm.domain.tenants import Principal
from crm.services.api_keys import create_api_key, revoke_api_key
from crm.services.authorization import (
    Caller,
    RequestAuthorizer,
    allow_policy,
    api_wildcard_arn,
    authorize_event,
    credential_from_event,
)
from crm.services.tokens import PASSWORD_AND_OTP, TokenService

from tests.support import load_event
from tests.unit.auth_fakes import AuthWorld, Clock

REST_ARN = "arn:aws:execute-api:us-east-1:123456789012:api123/dev/GET/leads/42"
WS_ARN = "arn:aws:execute-api:us-east-1:123456789012:wsapi123/dev/$connect"


class StaticKeys:
    def __init__(self) -> None:
        self._keys = SigningKeySet.from_json(new_keyset_json())

    def keys(self, wanted_kid: str | None = None) -> SigningKeySet:
        return self._keys


@pytest.fixture()
def world() -> AuthWorld:
    return AuthWorld()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def tokens() -> TokenService:
    return TokenService(StaticKeys(), issuer="https://crm.test", audience="crm-api")


@pytest.fixture()
def authorizer(world: AuthWorld, tokens: TokenService, clock: Clock) -> RequestAuthorizer:
    return RequestAuthorizer(tokens=tokens, unit_of_work=world.unit_of_work, clock=clock)


def _rest_event(credential: str) -> dict:  # type: ignore[type-arg]
    event = load_event("authorizer/request")
    event["headers"] = {"Authorization": f"Bearer {credential}"}
    event["methodArn"] = REST_ARN
    return event


def _token(tokens: TokenService, user, **kw) -> str:  # type: ignore[no-untyped-def]
    return tokens.issue_for(user.tenant_id, user.id, user.role, **kw)["access_token"]


def test_an_access_token_of_an_active_user_is_allowed_on_every_route(
    world: AuthWorld, tokens: TokenService, authorizer: RequestAuthorizer
) -> None:
    user = world.add_user("ann@acme.example", "hash:x", role="seller")
    token = _token(tokens, user)
    policy = authorize_event(_rest_event(token), authorizer)
    assert policy["principalId"] == str(user.id)
    [statement] = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == [api_wildcard_arn(REST_ARN)]
    assert policy["context"] == {
        "tenant_id": str(user.tenant_id),
        "user_id": str(user.id),
        "role": "seller",
        "auth_type": "user",
        # for the API gate's per-request check against a later password reset
        "issued_at": str(jwt.decode(token, options={"verify_signature": False})["iat"]),
    }


def test_a_token_of_an_ended_or_unknown_session_is_refused(
    world: AuthWorld, tokens: TokenService, authorizer: RequestAuthorizer
) -> None:
    user = world.add_user("sid@acme.example", "hash:x")
    other = world.add_user("other@acme.example", "hash:x", tenant_id=user.tenant_id)
    family, theirs = uuid.uuid4(), uuid.uuid4()
    with world.unit_of_work(user.tenant_id) as uow:
        uow.refresh_tokens.start_family(family, user.id, ("pwd",), None, RequestMeta())
        uow.refresh_tokens.start_family(theirs, other.id, ("pwd",), None, RequestMeta())
        uow.commit()

    def token(session_id: uuid.UUID) -> str:
        issued = tokens.issue_for(user.tenant_id, user.id, user.role, session_id=session_id)
        return str(issued["access_token"])

    caller = authorizer.authenticate(token(family))
    assert caller.session_id == family and caller.context()["session_id"] == str(family)
    for ended in (uuid.uuid4(), theirs):  # unknown, or another user's session
        with pytest.raises(InvalidCredentials, match="session has ended"):
            authorizer.authenticate(token(ended))
    with world.unit_of_work(user.tenant_id) as uow:  # logout
        uow.refresh_tokens.revoke_family(family, "logout", datetime.now(UTC))
        uow.commit()
    with pytest.raises(InvalidCredentials, match="session has ended"):
        authorizer.authenticate(token(family))


def test_the_role_comes_from_the_database_not_the_token(
    world: AuthWorld, tokens: TokenService, authorizer: RequestAuthorizer
) -> None:
    user = world.add_user("ann@acme.example", "hash:x", role="admin")
    token = _token(tokens, user)
    world.auth.users[user.id] = dataclasses.replace(user, role="viewer")
    assert authorizer.authenticate(token).role == "viewer"


@pytest.mark.parametrize("status", ["deactivated", "pending"])
def test_an_inactive_users_token_is_refused(
    world: AuthWorld, tokens: TokenService, authorizer: RequestAuthorizer, status: str
) -> None:
    user = world.add_user("ann@acme.example", "hash:x")
    token = _token(tokens, user)
    world.auth.users[user.id] = dataclasses.replace(user, status=status)
    with pytest.raises(InvalidCredentials):
        authorizer.authenticate(token)


def test_a_token_of_a_user_that_no_longer_exists_is_refused(
    tokens: TokenService, authorizer: RequestAuthorizer
) -> None:
    token = tokens.issue_for(uuid.uuid4(), uuid.uuid4(), "owner")["access_token"]
    with pytest.raises(InvalidCredentials):
        authorizer.authenticate(token)


def test_tokens_issued_before_a_password_change_are_refused(
    world: AuthWorld, tokens: TokenService, authorizer: RequestAuthorizer, clock: Clock
) -> None:
    user = world.add_user("ann@acme.example", "hash:x")
    before = _token(tokens, user)
    world.auth.users[user.id] = dataclasses.replace(
        user, tokens_valid_after=clock.now + timedelta(seconds=5)
    )
    with pytest.raises(InvalidCredentials):
        authorizer.authenticate(before)
    world.auth.users[user.id] = dataclasses.replace(user, tokens_valid_after=clock.now)
    assert authorizer.authenticate(before).user_id == user.id  # same second: still good


def test_a_tenant_requiring_mfa_restricts_password_only_tokens_to_enrolment(
    world: AuthWorld, tokens: TokenService, authorizer: RequestAuthorizer
) -> None:
    user = world.add_user("ann@acme.example", "hash:x")
    world.auth.require_mfa[user.tenant_id] = True
    policy = authorize_event(_rest_event(_token(tokens, user)), authorizer)
    [statement] = policy["policyDocument"]["Statement"]
    stage = "arn:aws:execute-api:us-east-1:123456789012:api123/dev"
    assert statement["Resource"] == [
        f"{stage}/POST/auth/mfa/enrol",
        f"{stage}/POST/auth/mfa/confirm",
    ]
    assert policy["context"]["mfa_enrolment_required"] == "true"
    with_otp = authorize_event(_rest_event(_token(tokens, user, amr=PASSWORD_AND_OTP)), authorizer)
    assert with_otp["policyDocument"]["Statement"][0]["Resource"] == [api_wildcard_arn(REST_ARN)]


def _api_key(world: AuthWorld, clock: Clock, role: str = "admin", **kw):  # type: ignore[no-untyped-def]
    user = world.add_user(f"{uuid.uuid4().hex[:6]}@acme.example", "hash:x", role=role)
    creator = Principal(tenant_id=user.tenant_id, user_id=user.id, role=role)
    created = create_api_key(
        creator, "integration", kw.get("scopes", ("leads:read", "api_keys:read")),
        kw.get("expires_at"), unit_of_work=world.unit_of_work, meta=RequestMeta(), clock=clock,
    )  # fmt: skip
    return user, creator, created


def test_an_api_key_is_allowed_with_its_scopes_and_its_creators_role(
    world: AuthWorld, authorizer: RequestAuthorizer, clock: Clock
) -> None:
    user, _, created = _api_key(world, clock)
    policy = authorize_event(_rest_event(created["secret"]), authorizer)
    assert policy["principalId"] == created["id"]
    assert policy["context"] == {
        "tenant_id": str(user.tenant_id),
        "user_id": str(user.id),
        "role": "admin",
        "auth_type": "api_key",
        "api_key_id": created["id"],
        "scopes": "api_keys:read leads:read",
    }
    assert world.auth.api_keys[uuid.UUID(created["id"])].last_used_at == clock.now


def test_revoked_expired_and_orphaned_keys_are_refused(
    world: AuthWorld, authorizer: RequestAuthorizer, clock: Clock
) -> None:
    _, creator, revoked = _api_key(world, clock)
    revoke_api_key(
        creator, uuid.UUID(revoked["id"]), unit_of_work=world.unit_of_work, meta=RequestMeta()
    )
    _, _, expiring = _api_key(world, clock, expires_at=clock.now + timedelta(hours=1))
    owner, _, orphaned = _api_key(world, clock)
    world.auth.users[owner.id] = dataclasses.replace(owner, status="deactivated")
    clock.advance(hours=2)
    for created in (revoked, expiring, orphaned):
        with pytest.raises(InvalidCredentials):
            authorizer.authenticate(created["secret"])


def test_a_tampered_api_key_is_refused(
    world: AuthWorld, authorizer: RequestAuthorizer, clock: Clock
) -> None:
    _, _, created = _api_key(world, clock)
    secret = created["secret"]
    for forged in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "crm_live_garbage"):
        with pytest.raises(InvalidCredentials):
            authorizer.authenticate(forged)


def test_websocket_connect_takes_the_token_from_the_query_string(
    world: AuthWorld, tokens: TokenService, authorizer: RequestAuthorizer
) -> None:
    user = world.add_user("ann@acme.example", "hash:x")
    event = load_event("authorizer/websocket_connect")
    event["queryStringParameters"] = {"token": _token(tokens, user)}
    policy = authorize_event(event, authorizer)
    assert policy["policyDocument"]["Statement"][0]["Resource"] == [
        "arn:aws:execute-api:us-east-1:123456789012:wsapi123/dev/*"
    ]
    assert policy["context"]["tenant_id"] == str(user.tenant_id)


def test_websocket_connect_also_takes_a_bearer_header_and_refuses_no_credential() -> None:
    event = load_event("authorizer/websocket_connect")
    event["headers"]["Authorization"] = "Bearer from-the-header"
    assert credential_from_event(event) == "from-the-header"
    del event["headers"]["Authorization"]
    event["queryStringParameters"] = {}
    with pytest.raises(InvalidCredentials):
        credential_from_event(event)


def test_a_rest_request_never_reads_a_query_string_token() -> None:
    event = load_event("authorizer/request")
    event["headers"] = {}
    event["queryStringParameters"] = {"token": "leaks-into-logs"}
    with pytest.raises(InvalidCredentials):
        credential_from_event(event)


def test_a_database_failure_is_not_an_unauthorized(tokens: TokenService) -> None:
    def broken_unit_of_work(tenant_id: uuid.UUID):  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("database down")

    authorizer = RequestAuthorizer(tokens=tokens, unit_of_work=broken_unit_of_work)
    token = tokens.issue_for(uuid.uuid4(), uuid.uuid4(), "owner")["access_token"]
    with pytest.raises(ConnectionRefusedError):
        authorize_event(_rest_event(token), authorizer)


def test_the_policy_of_a_restricted_caller_still_carries_its_identity() -> None:
    caller = Caller(uuid.uuid4(), uuid.uuid4(), "owner", mfa_enrolment_required=True)
    policy = allow_policy(caller, WS_ARN)
    assert all(r.startswith("arn:aws:execute-api:us-east-1:123456789012:wsapi123/dev/POST/auth/mfa/")
               for r in policy["policyDocument"]["Statement"][0]["Resource"])  # fmt: skip
    assert policy["context"]["user_id"] == str(caller.user_id)
