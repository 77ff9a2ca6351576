"""Login (password, second factor, lockout), refresh rotation with reuse detection, and logout,
on in-memory fakes. The same service runs on Postgres in tests/integration/test_auth_flows.py."""

from __future__ import annotations

import uuid

import jwt
import pytest
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json
from crm.domain import totp
from crm.domain.audit import RequestMeta
from crm.domain.credentials import recovery_code_digest
from crm.domain.errors import (
    AccountLocked,
    InvalidCredentials,
    MfaRequired,
    TooManyAttempts,
    ValidationFailed,
)
from crm.services.authentication import Authenticator
from crm.services.tokens import TokenService

from tests.unit.auth_fakes import AuthWorld, Clock, FakeCipher, FakeHasher

PASSWORD = "correct horse battery"
META = RequestMeta(ip="203.0.113.9", user_agent="pytest", request_id="req-1")


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
def hasher() -> FakeHasher:
    return FakeHasher()


@pytest.fixture()
def auth(world: AuthWorld, clock: Clock, hasher: FakeHasher) -> Authenticator:
    tokens = TokenService(
        StaticKeys(),
        issuer="https://crm.test",
        audience="crm-api",
        clock=lambda: clock.now.timestamp(),
    )
    return Authenticator(
        unit_of_work=world.unit_of_work,
        login_directory=world.login_directory,
        hasher=hasher,
        tokens=tokens,
        cipher=FakeCipher(),
        clock=clock,
    )


def _user(world: AuthWorld, **state):  # type: ignore[no-untyped-def]
    return world.add_user("ann@acme.example", f"hash:{PASSWORD}", **state)


def _with_mfa(world: AuthWorld, clock: Clock):  # type: ignore[no-untyped-def]
    secret = totp.new_secret()
    user = _user(world)
    user = world.add_user(
        "mfa@acme.example", f"hash:{PASSWORD}", tenant_id=user.tenant_id,
        mfa_enabled=True, mfa_secret=FakeCipher().encrypt(secret, context="x"),
    )  # fmt: skip
    # the fake cipher binds to the user id: re-encrypt once the id is known
    world.auth.users[user.id] = type(user)(
        **{**user.__dict__, "mfa_secret": FakeCipher().encrypt(secret, context=str(user.id))}
    )
    return world.user(user.id), secret


def _claims(token: str) -> dict:  # type: ignore[type-arg]
    """The token's claims, whatever the fake clock says (verification has its own tests)."""
    return jwt.decode(token, options={"verify_signature": False})


# ------------------------------------------------------------------ login


def test_login_issues_an_access_token_and_a_refresh_token_and_audits(
    auth: Authenticator, world: AuthWorld
) -> None:
    user = _user(world)
    session = auth.log_in("ANN@acme.example", PASSWORD, meta=META)
    claims = auth.tokens.verify_claims(session["access_token"])
    assert (claims.tenant_id, claims.user_id, claims.role, claims.amr) == (
        user.tenant_id, user.id, "owner", ("pwd",),
    )  # fmt: skip
    assert session["tenant_id"] == str(user.tenant_id) and session["expires_in"] == 900
    assert session["refresh_token"].startswith("crm_rt_") and session["refresh_expires_in"] > 0
    assert session["mfa_enrolment_required"] is False
    assert world.actions() == ["auth.login_succeeded"]
    entry = world.store.audit[0]
    assert (entry.actor_type, entry.actor_id, entry.meta.ip) == ("user", user.id, "203.0.113.9")


def test_unknown_email_wrong_password_and_inactive_user_fail_alike(
    auth: Authenticator, world: AuthWorld, hasher: FakeHasher
) -> None:
    _user(world)
    world.add_user("gone@acme.example", f"hash:{PASSWORD}", status="deactivated")
    details = []
    for email, password in [
        ("nobody@acme.example", PASSWORD),
        ("ann@acme.example", "not the password"),
        ("gone@acme.example", PASSWORD),
    ]:
        with pytest.raises(InvalidCredentials) as failed:
            auth.log_in(email, password, meta=META)
        details.append(failed.value.detail)
    assert len(set(details)) == 1
    assert hasher.hashed == 1  # the unknown email spent the time of a hash
    assert world.actions() == ["auth.login_failed", "auth.login_failed"]
    reasons = [entry.changes["reason"] for entry in world.store.audit]
    assert reasons == ["password", "user deactivated"]
    assert all(entry.actor_type == "anonymous" for entry in world.store.audit)


def test_an_email_in_two_tenants_needs_the_tenant_slug(
    auth: Authenticator, world: AuthWorld
) -> None:
    first = world.add_user("ann@acme.example", f"hash:{PASSWORD}", slug="one")
    second = world.add_user("ann@acme.example", f"hash:{PASSWORD}", slug="two")
    with pytest.raises(ValidationFailed) as ambiguous:
        auth.log_in("ann@acme.example", PASSWORD)
    assert ambiguous.value.errors[0]["loc"] == ["body", "tenant"]
    assert auth.log_in("ann@acme.example", PASSWORD, "two")["user_id"] == str(second.id)
    assert auth.log_in("ann@acme.example", PASSWORD, "one")["user_id"] == str(first.id)
    with pytest.raises(InvalidCredentials):
        auth.log_in("ann@acme.example", PASSWORD, "three")


def test_failures_slow_down_then_lock_and_a_success_resets(
    auth: Authenticator, world: AuthWorld, clock: Clock
) -> None:
    user = _user(world)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            auth.log_in("ann@acme.example", "wrong password!")
    # after the 5th failure the next attempt must wait a second, even with the right password
    with pytest.raises(TooManyAttempts) as throttled:
        auth.log_in("ann@acme.example", PASSWORD)
    assert throttled.value.retry_after == 1
    assert throttled.value.headers == {"Retry-After": "1"}
    for wait in (1, 2, 4, 8, 16):
        clock.advance(seconds=wait)
        with pytest.raises(InvalidCredentials):
            auth.log_in("ann@acme.example", "wrong password!")
    with pytest.raises(AccountLocked) as locked:
        auth.log_in("ann@acme.example", PASSWORD)
    assert 14 * 60 < locked.value.retry_after <= 15 * 60
    assert world.actions().count("auth.login_failed") == 10
    assert world.actions().count("auth.account_locked") == 1
    clock.advance(minutes=15, seconds=1)
    auth.log_in("ann@acme.example", PASSWORD)
    assert world.user(user.id).failed_login_count == 0
    assert world.user(user.id).locked_until is None


def test_a_refused_attempt_does_not_check_the_password_or_count(
    auth: Authenticator, world: AuthWorld, clock: Clock
) -> None:
    user = _user(world, failed_login_count=7, throttled_until=clock.now.replace(year=2027))
    with pytest.raises(TooManyAttempts):
        auth.log_in("ann@acme.example", "whatever it is")
    assert world.user(user.id).failed_login_count == 7
    assert world.actions() == []


def test_mfa_user_needs_a_code_and_a_wrong_code_counts_as_a_failure(
    auth: Authenticator, world: AuthWorld, clock: Clock
) -> None:
    user, secret = _with_mfa(world, clock)
    with pytest.raises(MfaRequired):
        auth.log_in("mfa@acme.example", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong:
        auth.log_in("mfa@acme.example", PASSWORD, totp_code="000000")
    assert not isinstance(wrong.value, MfaRequired)
    assert world.user(user.id).failed_login_count == 1
    assert world.store.audit[-1].changes["reason"] == "mfa_code"
    code = totp.code_at(secret, clock.now.timestamp())
    session = auth.log_in("mfa@acme.example", PASSWORD, totp_code=code)
    assert _claims(session["access_token"])["amr"] == ["pwd", "otp"]
    assert world.user(user.id).failed_login_count == 0
    # the same code cannot be replayed
    with pytest.raises(InvalidCredentials):
        auth.log_in("mfa@acme.example", PASSWORD, totp_code=code)


def test_mfa_needs_the_password_first(auth: Authenticator, world: AuthWorld, clock: Clock) -> None:
    _, secret = _with_mfa(world, clock)
    code = totp.code_at(secret, clock.now.timestamp())
    with pytest.raises(InvalidCredentials) as failed:
        auth.log_in("mfa@acme.example", "wrong password!", totp_code=code)
    assert not isinstance(failed.value, MfaRequired)


def test_a_recovery_code_works_once(auth: Authenticator, world: AuthWorld, clock: Clock) -> None:
    user, _ = _with_mfa(world, clock)
    world.auth.recovery[(user.id, recovery_code_digest(user.id, "abcde-fghij"))] = None
    auth.log_in("mfa@acme.example", PASSWORD, recovery_code="ABCDE FGHIJ")
    assert "auth.recovery_code_used" in world.actions()
    with pytest.raises(InvalidCredentials):
        auth.log_in("mfa@acme.example", PASSWORD, recovery_code="abcde-fghij")


def test_a_tenant_requiring_mfa_flags_users_without_it(
    auth: Authenticator, world: AuthWorld
) -> None:
    user = _user(world)
    world.auth.require_mfa[user.tenant_id] = True
    assert auth.log_in("ann@acme.example", PASSWORD)["mfa_enrolment_required"] is True


# ------------------------------------------------------------------ refresh and logout


def test_refresh_rotates_the_token_and_keeps_the_session(
    auth: Authenticator, world: AuthWorld, clock: Clock
) -> None:
    user = _user(world)
    first = auth.log_in("ann@acme.example", PASSWORD)
    clock.advance(minutes=20)
    second = auth.refresh(first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert _claims(second["access_token"])["sub"] == str(user.id)
    third = auth.refresh(second["refresh_token"])
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert len(world.auth.families) == 1 and len(world.auth.tokens) == 3


def test_reusing_a_rotated_token_revokes_the_whole_family_and_is_audited(
    auth: Authenticator, world: AuthWorld
) -> None:
    _user(world)
    stolen = auth.log_in("ann@acme.example", PASSWORD)["refresh_token"]
    legitimate = auth.refresh(stolen)["refresh_token"]
    with pytest.raises(InvalidCredentials, match="used already"):
        auth.refresh(stolen)
    # the legitimate holder's newer token is dead too: both parties must log in again
    with pytest.raises(InvalidCredentials):
        auth.refresh(legitimate)
    [family] = world.auth.families.values()
    assert family["revoked_reason"] == "reuse"
    assert world.actions().count("auth.refresh_reuse_detected") == 1


def test_refresh_reflects_the_current_role_and_refuses_inactive_users(
    auth: Authenticator, world: AuthWorld
) -> None:
    user = _user(world)
    token = auth.log_in("ann@acme.example", PASSWORD)["refresh_token"]
    world.auth.users[user.id] = type(user)(**{**user.__dict__, "role": "viewer"})
    refreshed = auth.refresh(token)
    assert _claims(refreshed["access_token"])["role"] == "viewer"
    world.auth.users[user.id] = type(user)(**{**user.__dict__, "status": "deactivated"})
    with pytest.raises(InvalidCredentials):
        auth.refresh(refreshed["refresh_token"])
    [family] = world.auth.families.values()
    assert family["revoked_reason"] == "user_inactive"


def test_refresh_tokens_expire_when_idle_and_at_the_session_limit(
    auth: Authenticator, world: AuthWorld, clock: Clock
) -> None:
    _user(world)
    idle = auth.log_in("ann@acme.example", PASSWORD)["refresh_token"]
    clock.advance(days=15)
    with pytest.raises(InvalidCredentials, match="expired"):
        auth.refresh(idle)
    token = auth.log_in("ann@acme.example", PASSWORD)["refresh_token"]
    for _ in range(3):
        clock.advance(days=9)
        refreshed = auth.refresh(token)
        token = refreshed["refresh_token"]
    # day 27: the new token may not outlive the session (30 days after login)
    assert refreshed["refresh_expires_in"] == 3 * 24 * 3600
    clock.advance(days=3)
    with pytest.raises(InvalidCredentials, match="expired"):
        auth.refresh(token)


@pytest.mark.parametrize("tamper", ["secret", "tenant", "garbage"])
def test_a_forged_refresh_token_is_refused(
    auth: Authenticator, world: AuthWorld, tamper: str
) -> None:
    _user(world)
    token = auth.log_in("ann@acme.example", PASSWORD)["refresh_token"]
    prefix, kind, tenant, row, secret = token.split("_", 4)
    forged = {
        "secret": f"{prefix}_{kind}_{tenant}_{row}_{secret[::-1]}",
        "tenant": f"{prefix}_{kind}_{uuid.uuid4().hex}_{row}_{secret}",
        "garbage": "not-a-token",
    }[tamper]
    with pytest.raises(InvalidCredentials):
        auth.refresh(forged)


def test_logout_revokes_the_family_and_is_idempotent(auth: Authenticator, world: AuthWorld) -> None:
    _user(world)
    token = auth.log_in("ann@acme.example", PASSWORD)["refresh_token"]
    auth.log_out(token)
    auth.log_out(token)
    with pytest.raises(InvalidCredentials):
        auth.refresh(token)
    assert world.actions().count("auth.logout") == 1
    with pytest.raises(InvalidCredentials):
        auth.log_out("crm_rt_" + uuid.uuid4().hex + "_" + uuid.uuid4().hex + "_" + "x" * 43)
