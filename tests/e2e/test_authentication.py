"""Authentication through the local cloud: the gateway, the Lambda authorizer, the handlers,
PostgreSQL and embedded moto (Secrets Manager for the signing keys, SES for mail).

Time-based rules (lockout waits, reset-token expiry) are advanced by moving the stored
timestamps, as the passing of time would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import boto3
import jwt
import pytest
import requests
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json, rotate_signing_key
from crm.domain import totp
from crm.services.tokens import TokenService
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.e2e.conftest import LocalCloudProcess
from tests.mailpit import Mailpit

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery"
ISSUER, AUDIENCE = "https://api.crm.example.com", "crm-api"  # template.yaml's defaults
PROBLEM_JSON = "application/problem+json"


# ------------------------------------------------------------------ helpers


class Api:
    def __init__(self, base_url: str, credential: str | None = None) -> None:
        self.base_url = base_url
        self.credential = credential

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.credential}"} if self.credential else {}
        return requests.request(
            method, self.base_url + path, json=body, headers=headers, params=params, timeout=30
        )

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.call("POST", path, body if body is not None else {})

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, **params)

    def delete(self, path: str) -> requests.Response:
        return self.call("DELETE", path)


def sign_up(cloud: LocalCloudProcess, name: str = "Acme") -> dict[str, Any]:
    slug = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.com"
    response = Api(cloud.url).post(
        "/tenants",
        {"name": name, "slug": slug, "owner": {"email": email, "password": PASSWORD, "name": "O"}},
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "email": email, "slug": slug}


def log_in(
    cloud: LocalCloudProcess, email: str, password: str = PASSWORD, **extra: Any
) -> requests.Response:
    return Api(cloud.url).post("/auth/login", {"email": email, "password": password, **extra})


def session_of(cloud: LocalCloudProcess, email: str, **extra: Any) -> dict[str, Any]:
    response = log_in(cloud, email, **extra)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


def assert_problem(
    response: requests.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = dict(response.json())
    assert body["status"] == status
    if slug is not None:
        assert body["type"].endswith(f"/{slug}"), body
    return body


def signing_keys(cloud: LocalCloudProcess) -> SigningKeySet:
    """The key set the local cloud signs with, read from its Secrets Manager (embedded moto)."""
    value = _secrets(cloud).get_secret_value(SecretId="JwtSigningKeySecret")["SecretString"]
    return SigningKeySet.from_json(value)


def _secrets(cloud: LocalCloudProcess) -> Any:
    return boto3.client(
        "secretsmanager", endpoint_url=cloud.moto_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


class Keys:
    def __init__(self, keys: SigningKeySet) -> None:
        self._keys = keys

    def keys(self, wanted_kid: str | None = None) -> SigningKeySet:
        return self._keys


def mint(keys: SigningKeySet, owner: dict[str, Any], **overrides: Any) -> str:
    """An access token for the owner, signed by `keys`, as the API would issue it."""
    service = TokenService(
        Keys(keys), overrides.pop("issuer", ISSUER), overrides.pop("audience", AUDIENCE),
        clock=overrides.pop("clock", time.time),
    )  # fmt: skip
    return str(
        service.issue_for(uuid.UUID(owner["id"]), uuid.UUID(owner["owner"]["id"]), "owner")[
            "access_token"
        ]
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mails_to(cloud: LocalCloudProcess, address: str, count: int = 0) -> list[dict[str, Any]]:
    """The mails to `address` (through the email pipeline and Mailpit), after waiting for
    `count` of them (0: what is there now), each with its text as "body" and its sender as
    "source"."""
    mailpit = Mailpit(cloud.mailpit_url)
    found = mailpit.wait_for(address, count, timeout=30) if count else mailpit.messages_to(address)
    return [
        {**m, "body": mailpit.message(m["ID"])["Text"], "source": m["From"]["Address"]}
        for m in found
    ]


def reset_token_in(mail: dict[str, Any]) -> str:
    link = next(word for word in mail["body"].split() if "token=" in word)
    return link.split("token=", 1)[1]


def audit_actions(admin_conn: Any, tenant_id: str) -> list[str]:
    """The tenant's security events (sign-up and other writes audit themselves too)."""
    rows = admin_conn.run(
        "SELECT action FROM audit_log WHERE tenant_id = :t"
        " AND (action LIKE 'auth.%' OR action LIKE 'api\\_key.%') ORDER BY id",
        t=uuid.UUID(tenant_id),
    )
    return [row[0] for row in rows]


# ------------------------------------------------------------------ forged access tokens


def _forgeries(keys: SigningKeySet, owner: dict[str, Any], jwks: dict[str, Any]) -> dict[str, str]:
    good = mint(keys, owner)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": keys.active_kid}).encode())
    # HS256 keyed with the published public key: the classic algorithm-confusion attack
    published = next(k for k in jwks["keys"] if k["kid"] == keys.active_kid)
    public_pem = Ed25519PublicKey.from_public_bytes(
        base64.urlsafe_b64decode(published["x"] + "==")
    ).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keys.active_kid}).encode())
    hs_input = f"{hs_header}.{payload}".encode()
    hs_signature = _b64(hmac.new(public_pem, hs_input, hashlib.sha256).digest())
    tampered = _b64(json.dumps({**claims, "role": "owner", "sub": str(uuid.uuid4())}).encode())
    stranger = SigningKeySet.from_json(new_keyset_json())
    return {
        "alg_none": f"{none_header}.{payload}.",
        "hs256_with_public_key": f"{hs_input.decode()}.{hs_signature}",
        "unknown_kid": mint(stranger, owner),
        "tampered_payload": f"{header}.{tampered}.{signature}",
        "expired": mint(keys, owner, clock=lambda: time.time() - 3600),
        "wrong_audience": mint(keys, owner, audience="another-api"),
        "wrong_issuer": mint(keys, owner, issuer="https://evil.example"),
        "not_yet_valid": mint(keys, owner, clock=lambda: time.time() + 3600),
        "garbage": "not.a.jwt",
    }


def test_forged_tokens_are_401_problem_json_and_the_genuine_one_passes(
    local_cloud: LocalCloudProcess,
) -> None:
    owner = sign_up(local_cloud)
    keys = signing_keys(local_cloud)
    jwks = Api(local_cloud.url).get("/.well-known/jwks.json").json()
    assert keys.active_kid in {k["kid"] for k in jwks["keys"]}
    assert all("d" not in k for k in jwks["keys"])
    genuine = Api(local_cloud.url, mint(keys, owner)).get("/api-keys")
    assert genuine.status_code == 200, genuine.text
    for case, forged in _forgeries(keys, owner, jwks).items():
        response = Api(local_cloud.url, forged).get("/api-keys")
        body = assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer", case
        assert body["request_id"] == response.headers["x-amzn-requestid"], case
    missing = Api(local_cloud.url).get("/api-keys")
    assert_problem(missing, 401, "unauthorized")


def test_a_rotated_signing_key_is_picked_up_and_old_tokens_keep_working(
    local_cloud: LocalCloudProcess,
) -> None:
    owner = sign_up(local_cloud)
    before = mint(signing_keys(local_cloud), owner)
    assert Api(local_cloud.url, before).get("/api-keys").status_code == 200
    new_kid = rotate_signing_key(_secrets(local_cloud), "JwtSigningKeySecret")
    after = mint(signing_keys(local_cloud), owner)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    # the authorizer reloads its cached key set for an unknown kid, at most every 10 s
    deadline = time.monotonic() + 20
    while (status := Api(local_cloud.url, after).get("/api-keys").status_code) != 200:
        assert status == 401 and time.monotonic() < deadline, status
        time.sleep(1)
    assert Api(local_cloud.url, before).get("/api-keys").status_code == 200


# ------------------------------------------------------------------ sessions


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner = sign_up(local_cloud)
    first = session_of(local_cloud, owner["email"])
    second = Api(local_cloud.url).post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    assert second.headers["cache-control"] == "no-store"
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    in_session = Api(local_cloud.url, rotated["access_token"])
    assert in_session.get("/api-keys").status_code == 200  # allowed, and cached for 300 s
    reuse = Api(local_cloud.url).post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert "used already" in assert_problem(reuse, 401, "invalid-credentials")["detail"]
    # the session's access tokens end with it, cached decision or not
    refused = assert_problem(in_session.get("/api-keys"), 401, "invalid-credentials")
    assert refused["detail"] == "this credential has been revoked"
    after_theft = Api(local_cloud.url).post(
        "/auth/refresh", {"refresh_token": rotated["refresh_token"]}
    )
    assert_problem(after_theft, 401, "invalid-credentials")
    assert "auth.refresh_reuse_detected" in audit_actions(admin_conn, owner["id"])


def test_logout_ends_the_session(local_cloud: LocalCloudProcess) -> None:
    owner = sign_up(local_cloud)
    session = session_of(local_cloud, owner["email"])
    elsewhere = session_of(local_cloud, owner["email"])  # another device: another session
    signed_in = Api(local_cloud.url, session["access_token"])
    assert signed_in.get("/api-keys").status_code == 200  # allowed, and cached for 300 s
    token = {"refresh_token": session["refresh_token"]}
    assert Api(local_cloud.url).post("/auth/logout", token).status_code == 204
    assert_problem(signed_in.get("/api-keys"), 401, "invalid-credentials")  # at once
    assert Api(local_cloud.url, elsewhere["access_token"]).get("/api-keys").status_code == 200
    assert Api(local_cloud.url).post("/auth/logout", token).status_code == 204
    assert_problem(Api(local_cloud.url).post("/auth/refresh", token), 401)
    assert_problem(Api(local_cloud.url).post("/auth/logout", {"refresh_token": "nope"}), 401)
    assert_problem(Api(local_cloud.url).post("/auth/refresh", {}), 422, "validation-failed")


def test_a_deactivated_users_token_login_and_refresh_stop_working(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner = sign_up(local_cloud)
    session = session_of(local_cloud, owner["email"])  # the token is not used before: uncached
    admin_conn.run(
        "UPDATE users SET status = 'deactivated' WHERE id = :id", id=uuid.UUID(owner["owner"]["id"])
    )
    assert_problem(
        Api(local_cloud.url, session["access_token"]).get("/api-keys"), 401, "unauthorized"
    )
    assert_problem(log_in(local_cloud, owner["email"]), 401, "invalid-credentials")
    refresh = Api(local_cloud.url).post(
        "/auth/refresh", {"refresh_token": session["refresh_token"]}
    )
    assert_problem(refresh, 401, "invalid-credentials")


def test_failed_logins_slow_down_then_lock_the_account(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner = sign_up(local_cloud)
    user_id = uuid.UUID(owner["owner"]["id"])
    for _ in range(5):
        assert_problem(log_in(local_cloud, owner["email"], "wrong password!!"), 401)
    throttled = log_in(local_cloud, owner["email"])  # right password, too soon
    assert_problem(throttled, 429, "too-many-attempts")
    assert throttled.headers["retry-after"] == "1"
    for _ in range(5):  # time passes between attempts
        admin_conn.run("UPDATE users SET throttled_until = NULL WHERE id = :id", id=user_id)
        assert_problem(log_in(local_cloud, owner["email"], "wrong password!!"), 401)
    locked = log_in(local_cloud, owner["email"])
    assert_problem(locked, 429, "account-locked")
    assert 14 * 60 < int(locked.headers["retry-after"]) <= 15 * 60
    actions = audit_actions(admin_conn, owner["id"])
    assert actions.count("auth.login_failed") == 10 and actions.count("auth.account_locked") == 1
    admin_conn.run(
        "UPDATE users SET locked_until = now() - interval '1 second' WHERE id = :id", id=user_id
    )
    assert log_in(local_cloud, owner["email"]).status_code == 200


# ------------------------------------------------------------------ password reset


def test_password_reset_is_silent_single_use_and_expiring(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner = sign_up(local_cloud)
    anonymous = Api(local_cloud.url)
    unknown = f"nobody-{uuid.uuid4().hex[:6]}@example.com"
    for email in (owner["email"], unknown):
        answer = anonymous.post("/auth/password-reset", {"email": email})
        assert answer.status_code == 202, answer.text
    [mail] = mails_to(local_cloud, owner["email"], 1)
    assert mails_to(local_cloud, unknown) == []  # its request was answered before the owner's
    assert mail["source"] == "no-reply@crm.local"
    token = reset_token_in(mail)
    weak = anonymous.post(
        "/auth/password-reset/confirm", {"token": token, "password": "password1234"}
    )
    assert assert_problem(weak, 422, "validation-failed")["errors"][0]["loc"] == [
        "body",
        "password",
    ]
    new_password = "a fresh and long passphrase"
    confirmed = anonymous.post(
        "/auth/password-reset/confirm", {"token": token, "password": new_password}
    )
    assert confirmed.status_code == 204, confirmed.text
    reused = anonymous.post(
        "/auth/password-reset/confirm", {"token": token, "password": "yet another passphrase"}
    )
    assert assert_problem(reused, 422)["errors"][0]["loc"] == ["body", "token"]
    assert_problem(log_in(local_cloud, owner["email"]), 401)
    assert log_in(local_cloud, owner["email"], new_password).status_code == 200
    # a second link, expired before use
    anonymous.post("/auth/password-reset", {"email": owner["email"]})
    second = reset_token_in(mails_to(local_cloud, owner["email"], 2)[-1])
    admin_conn.run(
        "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = :u AND used_at IS NULL",
        u=uuid.UUID(owner["owner"]["id"]),
    )
    expired = anonymous.post(
        "/auth/password-reset/confirm", {"token": second, "password": "one more passphrase!"}
    )
    assert_problem(expired, 422)
    actions = audit_actions(admin_conn, owner["id"])
    assert actions.count("auth.password_reset_requested") == 2
    assert actions.count("auth.password_reset_completed") == 1


# ------------------------------------------------------------------ MFA


def _enrol(cloud: LocalCloudProcess, access_token: str) -> tuple[str, list[str]]:
    me = Api(cloud.url, access_token)
    enrolment = me.post("/auth/mfa/enrol")
    assert enrolment.status_code == 200, enrolment.text
    secret = enrolment.json()["secret"]
    assert enrolment.json()["otpauth_uri"].startswith("otpauth://totp/CRM:")
    confirmed = me.post("/auth/mfa/confirm", {"code": totp.code_at(secret, time.time())})
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def test_mfa_login_with_a_totp_code_or_a_recovery_code(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner = sign_up(local_cloud)
    session = session_of(local_cloud, owner["email"])
    secret, recovery_codes = _enrol(local_cloud, session["access_token"])
    assert len(recovery_codes) == 10
    assert_problem(log_in(local_cloud, owner["email"]), 401, "mfa-required")
    assert_problem(
        log_in(local_cloud, owner["email"], totp_code="000000"), 401, "invalid-credentials"
    )
    next_step_code = totp.code_at(secret, time.time() + 30)  # the current step was used to confirm
    with_code = session_of(local_cloud, owner["email"], totp_code=next_step_code)
    assert jwt.decode(with_code["access_token"], options={"verify_signature": False})["amr"] == [
        "pwd",
        "otp",
    ]
    assert_problem(log_in(local_cloud, owner["email"], totp_code=next_step_code), 401)  # replay
    session_of(local_cloud, owner["email"], recovery_code=recovery_codes[0])
    assert_problem(log_in(local_cloud, owner["email"], recovery_code=recovery_codes[0]), 401)
    me = Api(local_cloud.url, with_code["access_token"])
    assert_problem(me.post("/auth/mfa/disable", {"code": "123456"}), 401)
    assert me.post("/auth/mfa/disable", {"code": recovery_codes[1]}).status_code == 204
    assert log_in(local_cloud, owner["email"]).status_code == 200
    actions = audit_actions(admin_conn, owner["id"])
    for action in (
        "auth.mfa_enrolment_started",
        "auth.mfa_enabled",
        "auth.recovery_code_used",
        "auth.mfa_disabled",
    ):
        assert action in actions


def test_a_tenant_requiring_mfa_lets_only_enrolment_through_until_then(
    local_cloud: LocalCloudProcess,
) -> None:
    owner = sign_up(local_cloud)
    admin = Api(local_cloud.url, session_of(local_cloud, owner["email"])["access_token"])
    switched = admin.call("PATCH", f"/tenants/{owner['id']}/settings", {"require_mfa": True})
    assert switched.status_code == 200, switched.text
    session = session_of(local_cloud, owner["email"])
    assert session["mfa_enrolment_required"] is True
    restricted = Api(local_cloud.url, session["access_token"])
    assert_problem(restricted.get("/api-keys"), 403, "forbidden")
    secret, _ = _enrol(local_cloud, session["access_token"])
    assert_problem(restricted.post("/auth/mfa/disable", {"code": "123456"}), 403)
    full = session_of(local_cloud, owner["email"], totp_code=totp.code_at(secret, time.time() + 30))
    assert full["mfa_enrolment_required"] is False
    enrolled = Api(local_cloud.url, full["access_token"])
    assert enrolled.get("/api-keys").status_code == 200
    refused = enrolled.post("/auth/mfa/disable", {"code": "123456"})
    assert "requires two-factor" in assert_problem(refused, 403, "forbidden")["detail"]


# ------------------------------------------------------------------ API keys


def test_api_keys_authenticate_within_their_scopes_until_revoked(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    owner = sign_up(local_cloud)
    admin = Api(local_cloud.url, session_of(local_cloud, owner["email"])["access_token"])
    created = admin.post(
        "/api-keys", {"name": "Reporting", "scopes": ["api_keys:read", "leads:read"]}
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/api-keys/{created.json()['id']}"
    key = created.json()
    assert key["secret"].startswith("crm_live_")
    as_key = Api(local_cloud.url, key["secret"])
    listed = as_key.get("/api-keys")
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [key["id"]]
    assert "secret" not in listed.json()["items"][0]
    narrow = admin.post("/api-keys", {"name": "Leads only", "scopes": ["leads:read"]}).json()
    assert_problem(Api(local_cloud.url, narrow["secret"]).get("/api-keys"), 403, "forbidden")
    assert_problem(
        as_key.post("/api-keys", {"name": "escalate", "scopes": ["api_keys:create"]}), 403
    )
    beyond = admin.post("/api-keys", {"name": "x", "scopes": ["leads:read", "spaceships:fly"]})
    assert assert_problem(beyond, 422)["errors"][0]["loc"] == ["body", "scopes"]
    unused = admin.post("/api-keys", {"name": "to revoke", "scopes": ["api_keys:read"]}).json()
    assert admin.delete(f"/api-keys/{unused['id']}").status_code == 204
    assert admin.delete(f"/api-keys/{unused['id']}").status_code == 204
    assert_problem(Api(local_cloud.url, unused["secret"]).get("/api-keys"), 401, "unauthorized")
    forged = key["secret"][:-2] + ("xx" if not key["secret"].endswith("xx") else "yy")
    assert_problem(Api(local_cloud.url, forged).get("/api-keys"), 401)
    page = admin.get("/api-keys", limit=2)
    assert len(page.json()["items"]) == 2 and page.json()["next_cursor"]
    rest = admin.get("/api-keys", limit=2, cursor=page.json()["next_cursor"])
    assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None
    assert_problem(admin.get("/api-keys", cursor="garbage"), 422)
    actions = audit_actions(admin_conn, owner["id"])
    assert actions.count("api_key.created") == 3 and actions.count("api_key.revoked") == 1


def test_revocation_applies_to_the_next_request_although_the_gateway_cached_the_decision(
    local_cloud: LocalCloudProcess,
) -> None:
    owner = sign_up(local_cloud)
    session = session_of(local_cloud, owner["email"])
    admin = Api(local_cloud.url, session["access_token"])
    key = admin.post("/api-keys", {"name": "CI", "scopes": ["api_keys:read"]}).json()
    as_key = Api(local_cloud.url, key["secret"])
    assert as_key.get("/api-keys").status_code == 200  # allowed, and cached for 300 s
    assert admin.delete(f"/api-keys/{key['id']}").status_code == 204
    refused = assert_problem(as_key.get("/api-keys"), 401, "invalid-credentials")
    assert refused["detail"] == "this credential has been revoked"  # the API gate, not the cache
    # a password reset ends the access tokens issued before it (whole seconds: wait for the next)
    issued_at = jwt.decode(session["access_token"], options={"verify_signature": False})["iat"]
    time.sleep(max(0.0, issued_at + 1 - time.time()))
    Api(local_cloud.url).post("/auth/password-reset", {"email": owner["email"]})
    token = reset_token_in(mails_to(local_cloud, owner["email"], 1)[-1])
    new_password = "a fresh and long passphrase"
    confirm = {"token": token, "password": new_password}
    assert Api(local_cloud.url).post("/auth/password-reset/confirm", confirm).status_code == 204
    refused = assert_problem(admin.get("/api-keys"), 401, "invalid-credentials")
    assert refused["detail"] == "this credential has been revoked"
    fresh = session_of(local_cloud, owner["email"], password=new_password)
    assert Api(local_cloud.url, fresh["access_token"]).get("/api-keys").status_code == 200


def test_a_seller_may_not_manage_api_keys(local_cloud: LocalCloudProcess, admin_conn: Any) -> None:
    owner = sign_up(local_cloud)
    session = session_of(local_cloud, owner["email"])
    admin_conn.run(
        "UPDATE users SET role = 'seller' WHERE id = :id", id=uuid.UUID(owner["owner"]["id"])
    )
    seller = Api(local_cloud.url, session["access_token"])  # the authorizer reads the new role
    assert_problem(seller.get("/api-keys"), 403, "forbidden")
    assert_problem(seller.post("/api-keys", {"name": "k", "scopes": ["leads:read"]}), 403)


# ------------------------------------------------------------------ tenant isolation


def test_tenant_a_cannot_reach_tenant_bs_credentials_on_any_auth_route(
    local_cloud: LocalCloudProcess,
) -> None:
    a, b = sign_up(local_cloud, "Alpha"), sign_up(local_cloud, "Beta")
    session_a, session_b = session_of(local_cloud, a["email"]), session_of(local_cloud, b["email"])
    api_a, api_b = (
        Api(local_cloud.url, session_a["access_token"]),
        Api(local_cloud.url, session_b["access_token"]),
    )
    key_b = api_b.post("/api-keys", {"name": "B's", "scopes": ["api_keys:read"]}).json()

    # DELETE /api-keys/{id}: another tenant's id is 404, and the key keeps working
    assert_problem(api_a.delete(f"/api-keys/{key_b['id']}"), 404, "not-found")
    assert_problem(api_a.delete("/api-keys/not-a-uuid"), 404, "not-found")
    assert Api(local_cloud.url, key_b["secret"]).get("/api-keys").status_code == 200
    # GET /api-keys and POST /api-keys stay in the caller's tenant
    api_a.post("/api-keys", {"name": "A's", "scopes": ["api_keys:read"]})
    assert [k["name"] for k in api_b.get("/api-keys").json()["items"]] == ["B's"]
    assert [k["name"] for k in api_a.get("/api-keys").json()["items"]] == ["A's"]
    # an API key relabelled with tenant A's id is no key at all
    relabelled_key = key_b["secret"].replace(b["id"].replace("-", ""), a["id"].replace("-", ""))
    assert_problem(Api(local_cloud.url, relabelled_key).get("/api-keys"), 401)
    # POST /auth/refresh and /auth/logout: B's refresh token relabelled with A's tenant id
    relabelled = session_b["refresh_token"].replace(
        b["id"].replace("-", ""), a["id"].replace("-", "")
    )
    assert_problem(Api(local_cloud.url).post("/auth/refresh", {"refresh_token": relabelled}), 401)
    assert_problem(Api(local_cloud.url).post("/auth/logout", {"refresh_token": relabelled}), 401)
    assert (
        Api(local_cloud.url)
        .post("/auth/refresh", {"refresh_token": session_b["refresh_token"]})
        .status_code
        == 200
    )
    # POST /auth/login: B's email with A's tenant slug
    assert_problem(log_in(local_cloud, b["email"], tenant=a["slug"]), 401)
    # POST /auth/password-reset(/confirm): B's reset token relabelled with A's tenant id
    Api(local_cloud.url).post("/auth/password-reset", {"email": b["email"], "tenant": a["slug"]})
    Api(local_cloud.url).post("/auth/password-reset", {"email": b["email"]})
    # the second request's mail arrives; the first (another tenant's slug) queued none
    [reset_b] = mails_to(local_cloud, b["email"], 1)
    token_b = reset_token_in(reset_b)
    relabelled_reset = token_b.replace(b["id"].replace("-", ""), a["id"].replace("-", ""))
    confirm = {"token": relabelled_reset, "password": "a hijacked passphrase"}
    assert_problem(Api(local_cloud.url).post("/auth/password-reset/confirm", confirm), 422)
    # POST /auth/mfa/*: act on the caller's own account only
    api_a.post("/auth/mfa/enrol")
    assert log_in(local_cloud, b["email"]).status_code == 200  # B has no MFA because of A
