"""The API gate in front of every API function: rate limit, current role from the database,
the route's permission, all before the body is validated."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from crm.api.context import principal
from crm.api.resolver import build_resolver
from crm.api.schemas import InviteIn
from crm.domain.audit import RequestMeta
from crm.domain.roles import CustomRole
from crm.domain.tenants import Principal, Tenant, User

from tests.unit.tenancy_fakes import FakeAdmission, FakeTenants, FakeUsers, TenancyState

PROBLEM = "https://crm.example.com/problems/"


class World:
    def __init__(self, plan: str = "free") -> None:
        self.state = TenancyState()
        self.tenant = Tenant(name="Acme", slug="acme", plan=plan)
        FakeTenants(self.state).add(self.tenant)
        self.clock = datetime(2026, 11, 28, 12, 0, 15, tzinfo=UTC)
        self.admission = FakeAdmission(self.state, clock=lambda: self.clock)
        self.seen: list[Principal] = []

    def user(self, role: str, status: str = "active") -> uuid.UUID:
        user = User(self.tenant.id, f"{uuid.uuid4().hex[:8]}@x.io", "U", "h", role, status)
        FakeUsers(self.state, self.tenant.id).add(user, "acme")
        return user.id

    def app(self) -> APIGatewayRestResolver:
        app = build_resolver(lambda: self.admission)

        @app.post("/users")
        def invite(body: InviteIn) -> dict[str, Any]:
            self.seen.append(principal(app))
            return {"ok": True}

        @app.get("/users/<user_id>")
        def read(user_id: str) -> dict[str, Any]:
            self.seen.append(principal(app))
            return {"id": user_id}

        @app.get("/unmapped")
        def unmapped() -> dict[str, Any]:
            return {}

        @app.post("/tenants")
        def public() -> dict[str, Any]:
            return {"public": True}

        return app

    def event(
        self,
        method: str,
        resource: str,
        user_id: uuid.UUID | None,
        body: Any = None,
        role: str = "owner",
        credential: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        context: dict[str, Any] = {"requestId": "r-1", "identity": {"sourceIp": "10.1.2.3"}}
        if user_id is not None:
            context["authorizer"] = {
                "tenant_id": str(self.tenant.id), "user_id": str(user_id), "role": role,
                **(credential or {}),
            }  # fmt: skip
        return {
            "resource": resource,
            "path": resource.replace("{id}", str(uuid.uuid4())),
            "httpMethod": method,
            "headers": {"Content-Type": "application/json"},
            "requestContext": context,
            "body": json.dumps(body) if body is not None else None,
            "isBase64Encoded": False,
        }

    def call(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        result = self.app().resolve(self.event(*args, **kwargs), None)  # type: ignore[arg-type]
        headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
        return result["statusCode"], headers, json.loads(result["body"])


VALID_INVITE = {"email": "new@x.io", "name": "New", "role": "viewer"}


def test_a_caller_without_the_permission_gets_403_whatever_the_body() -> None:
    world = World()
    viewer = world.user("viewer")
    status, headers, body = world.call("POST", "/users", viewer, {"nonsense": 1})
    assert status == 403 and body["type"] == PROBLEM + "forbidden"
    assert body["permission"] == "users:create"
    assert headers["RateLimit-Limit"] == "120" and headers["RateLimit-Remaining"] == "119"
    assert world.seen == []


def test_an_allowed_caller_then_meets_validation_and_the_route() -> None:
    world = World()
    owner = world.user("owner")
    status, _, body = world.call("POST", "/users", owner, {"nonsense": 1})
    assert status == 422 and body["type"] == PROBLEM + "validation-failed"
    status, headers, _ = world.call("POST", "/users", owner, VALID_INVITE)
    assert status == 200 and headers["RateLimit-Remaining"] == "118"
    assert headers["RateLimit-Reset"] == "45"  # the window ends at 12:01:00


def test_the_database_role_wins_over_the_token_role() -> None:
    world = World()
    demoted = world.user("viewer")  # the token still says owner
    status, _, _ = world.call("POST", "/users", demoted, VALID_INVITE, role="owner")
    assert status == 403
    status, _, _ = world.call("GET", "/users/{id}", world.user("admin"), role="viewer")
    assert status == 200 and world.seen[-1].role == "admin"


@pytest.mark.parametrize("status_in_db", ["deactivated", "pending"])
def test_an_inactive_user_is_refused_with_401(status_in_db: str) -> None:
    world = World()
    status, _, body = world.call("GET", "/users/{id}", world.user("owner", status_in_db))
    assert status == 401 and body["type"] == PROBLEM + "invalid-credentials"


def test_a_revoked_api_key_is_refused_on_its_next_request_despite_a_cached_decision() -> None:
    world = World()
    creator, key = world.user("owner"), uuid.uuid4()
    as_key = {"api_key_id": str(key), "scopes": "users:read", "auth_type": "api_key"}
    assert world.call("GET", "/users/{id}", creator, credential=as_key)[0] == 200
    world.admission.revoked_keys.add(key)  # DELETE /api-keys/{id}, or its expiry
    status, _, body = world.call("GET", "/users/{id}", creator, credential=as_key)
    assert status == 401 and body["type"] == PROBLEM + "invalid-credentials"
    assert "revoked" in body["detail"] and len(world.seen) == 1
    assert world.call("GET", "/users/{id}", creator)[0] == 200  # the creator's own token


def test_an_access_token_older_than_a_password_reset_is_refused_newer_ones_pass() -> None:
    world = World()
    owner = world.user("owner")
    world.admission.tokens_valid_after[owner] = 1_800_000_000
    old = {"issued_at": "1799999999"}
    assert world.call("GET", "/users/{id}", owner, credential=old)[0] == 401
    for issued in ("1800000000", "1800000900"):  # the same second counts as after
        assert world.call("GET", "/users/{id}", owner, credential={"issued_at": issued})[0] == 200
    status, _, body = world.call("GET", "/users/{id}", owner, credential={"issued_at": "soon"})
    assert status == 401 and body["detail"] == "malformed authorizer context"
    assert world.admission.calls == 3  # the malformed context never reached the database


def test_an_access_token_of_an_ended_session_is_refused() -> None:
    world = World()
    owner, session = world.user("owner"), uuid.uuid4()
    in_session = {"issued_at": "1800000000", "session_id": str(session)}
    assert world.call("GET", "/users/{id}", owner, credential=in_session)[0] == 200
    world.admission.revoked_sessions.add(session)  # logout, or a reused refresh token
    status, _, body = world.call("GET", "/users/{id}", owner, credential=in_session)
    assert status == 401 and body["detail"] == "this credential has been revoked"
    other_session = {"issued_at": "1800000000", "session_id": str(uuid.uuid4())}
    assert world.call("GET", "/users/{id}", owner, credential=other_session)[0] == 200
    status, _, body = world.call("GET", "/users/{id}", owner, credential={"session_id": "x"})
    assert status == 401 and body["detail"] == "malformed authorizer context"


def test_an_unknown_user_is_refused_with_401() -> None:
    world = World()
    status, _, _ = world.call("GET", "/users/{id}", uuid.uuid4())
    assert status == 401


def test_over_the_plan_rate_limit_is_429_with_retry_after_and_the_route_never_runs() -> None:
    world = World()
    world.state.limits["free"]["api_requests_per_minute"] = 3
    owner = world.user("owner")
    for _ in range(3):
        assert world.call("GET", "/users/{id}", owner)[0] == 200
    status, headers, body = world.call("GET", "/users/{id}", owner)
    assert status == 429 and body["type"] == PROBLEM + "rate-limited"
    assert body["limit"] == 3 and body["retry_after"] == 45
    assert headers["Retry-After"] == "45" and headers["RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Limit"] == "3" and headers["RateLimit-Reset"] == "45"
    assert len(world.seen) == 3
    # the next minute is a new window
    world.clock = world.clock.replace(minute=1)
    assert world.call("GET", "/users/{id}", owner)[0] == 200


def test_a_plan_without_a_per_minute_limit_sends_no_ratelimit_headers() -> None:
    world = World()
    world.state.limits["free"]["api_requests_per_minute"] = None
    status, headers, _ = world.call("GET", "/users/{id}", world.user("owner"))
    assert status == 200 and not any(h.startswith("RateLimit") for h in headers)


def test_a_custom_role_is_allowed_what_its_grant_allows() -> None:
    world = World()
    now = datetime.now(UTC)
    world.state.roles[(world.tenant.id, "recruiter")] = CustomRole(
        "recruiter", "Recruiter", "", frozenset({"users:create"}), False, now, now, 1
    )
    recruiter = world.user("recruiter")
    assert world.call("POST", "/users", recruiter, VALID_INVITE)[0] == 200
    assert world.call("GET", "/users/{id}", recruiter)[0] == 403


def test_a_route_missing_from_the_matrix_is_refused() -> None:
    world = World()
    status, _, body = world.call("GET", "/unmapped", world.user("owner"))
    assert status == 500 and body["type"] == PROBLEM + "internal"


def test_public_routes_are_not_admitted_nor_counted() -> None:
    world = World()
    status, headers, body = world.call("POST", "/tenants", None)
    assert status == 200 and body == {"public": True}
    assert world.admission.calls == 0 and "RateLimit-Limit" not in headers


def test_when_admission_cannot_reach_the_database_the_gate_fails_closed() -> None:
    world = World()

    class Down:
        def admit(self, tenant_id: uuid.UUID, user_id: uuid.UUID, **credential: Any) -> Any:
            raise ConnectionError("database down")

    app = build_resolver(lambda: Down())

    @app.get("/users/<user_id>")
    def read(user_id: str) -> dict[str, Any]:
        raise AssertionError("must not run")

    result = app.resolve(world.event("GET", "/users/{id}", uuid.uuid4()), None)  # type: ignore[arg-type]
    assert result["statusCode"] == 503
    assert json.loads(result["body"])["type"] == PROBLEM + "unavailable"


def test_request_meta_is_what_the_audit_log_records() -> None:
    from crm.api.context import request_meta

    world = World()
    app = world.app()
    captured: list[RequestMeta] = []

    @app.get("/users")
    def listing() -> dict[str, Any]:
        captured.append(request_meta(app))
        return {}

    event = world.event("GET", "/users", world.user("owner"))
    event["headers"]["User-Agent"] = "pytest-agent"
    assert app.resolve(event, None)["statusCode"] == 200  # type: ignore[arg-type]
    assert captured == [RequestMeta(ip="10.1.2.3", user_agent="pytest-agent", request_id="r-1")]


def test_an_unreadable_authorizer_context_is_401_not_a_crash() -> None:
    world = World()
    event = world.event("GET", "/users/{id}", world.user("owner"))
    event["requestContext"]["authorizer"]["tenant_id"] = "not-a-uuid"
    result = world.app().resolve(event, None)  # type: ignore[arg-type]
    assert result["statusCode"] == 401 and world.admission.calls == 0
