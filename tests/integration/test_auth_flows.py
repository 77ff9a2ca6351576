"""Authentication on the real database: argon2, EdDSA tokens, AES-GCM TOTP seeds, SES through
embedded moto, row-level security on every new table, and the row locks that make refresh
rotation and lockout counting safe under concurrency."""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pg8000.native
import pytest
from crm.adapters.passwords import Argon2PasswordHasher
from crm.adapters.postgres.connection import connect
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase, begin_for_tenant
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json
from crm.adapters.ses.mailer import SesMailer
from crm.domain import totp
from crm.domain.audit import RequestMeta
from crm.domain.errors import (
    InvalidCredentials,
    NotFound,
    TooManyAttempts,
    UpstreamUnavailable,
    ValidationFailed,
)
from crm.domain.pagination import PageRequest
from crm.domain.tenants import Principal
from crm.services.accounts import SignUp, sign_up
from crm.services.api_keys import create_api_key, list_api_keys, revoke_api_key
from crm.services.authentication import Authenticator
from crm.services.authorization import RequestAuthorizer
from crm.services.emails import enqueue_email
from crm.services.mfa import MfaService
from crm.services.password_reset import PasswordResets
from crm.services.tokens import TokenService
from moto import mock_aws

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
META = RequestMeta(ip="192.0.2.1", user_agent="pytest", request_id="it-1")
AUTH_TABLES = [
    "refresh_token_families",
    "refresh_tokens",
    "password_resets",
    "mfa_recovery_codes",
    "api_keys",
]


class StaticKeys:
    def __init__(self) -> None:
        self._keys = SigningKeySet.from_json(new_keyset_json())

    def keys(self, wanted_kid: str | None = None) -> SigningKeySet:
        return self._keys


@pytest.fixture(scope="module")
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1)


@pytest.fixture(scope="module")
def tokens() -> TokenService:
    return TokenService(StaticKeys(), issuer="https://crm.test", audience="crm-api")


@pytest.fixture(scope="module")
def cipher() -> FieldCipher:
    return FieldCipher.from_secret_string("integration-test-key-material-" + "x" * 40)


@pytest.fixture()
def auth(db: PostgresDatabase, hasher, tokens, cipher) -> Authenticator:  # type: ignore[no-untyped-def]
    return Authenticator(
        unit_of_work=db.unit_of_work, login_directory=db.login_directory, hasher=hasher,
        tokens=tokens, cipher=cipher,
    )  # fmt: skip


@pytest.fixture()
def ses() -> Iterator[Any]:
    with mock_aws():
        boto3.client("ses", region_name="us-east-1").verify_email_identity(
            EmailAddress="no-reply@crm.local"
        )
        yield boto3.client("sesv2", region_name="us-east-1")


def _queued_mail(admin_conn: Any, address: str) -> list[dict[str, Any]]:
    """The emails queued to `address` (the email pipeline's ledger; the worker sends them)."""
    rows = admin_conn.run(
        "SELECT from_address, purpose, text_body FROM emails WHERE to_address = :a"
        " ORDER BY created_at",
        a=address.lower(),
    )
    return [{"from_address": f, "purpose": p, "text_body": t} for f, p, t in rows]


def _tenant(db: PostgresDatabase, hasher, email: str | None = None):  # type: ignore[no-untyped-def]
    email = email or f"{uuid.uuid4().hex[:8]}@example.com"
    slug = f"auth-{uuid.uuid4().hex[:10]}"
    tenant, owner = sign_up(
        SignUp("Acme", slug, email, PASSWORD, "Ann"), unit_of_work=db.unit_of_work, hasher=hasher
    )
    return tenant, owner


def _actions(admin_conn, tenant_id: uuid.UUID) -> list[str]:  # type: ignore[no-untyped-def]
    """The tenant's security events (sign-up and other writes audit themselves too)."""
    rows = admin_conn.run(
        "SELECT action FROM audit_log WHERE tenant_id = :t"
        " AND (action LIKE 'auth.%' OR action LIKE 'api\\_key.%') ORDER BY id",
        t=tenant_id,
    )
    return [row[0] for row in rows]


# ------------------------------------------------------------------ schema


def test_every_auth_table_forces_row_level_security_and_isolates_tenants(
    admin_conn, db: PostgresDatabase, hasher, auth: Authenticator, migrated: MigrationResult
) -> None:
    tenant, owner = _tenant(db, hasher)
    other, _ = _tenant(db, hasher)
    auth.log_in(owner.email, PASSWORD)
    with db.unit_of_work(tenant.id) as uow:
        uow.password_resets.add(uuid.uuid4(), owner.id, "0" * 64, datetime.now(UTC))
        uow.recovery_codes.replace(owner.id, ["1" * 64])
        uow.commit()
    create_api_key(
        Principal(tenant_id=tenant.id, user_id=owner.id, role="owner"), "k", ["leads:read"],
        None, unit_of_work=db.unit_of_work, meta=META,
    )  # fmt: skip
    rows = admin_conn.run(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname = ANY(:names) AND relkind = 'r'",
        names=AUTH_TABLES,
    )
    assert {r[0]: (r[1], r[2]) for r in rows} == {t: (True, True) for t in AUTH_TABLES}
    conn = connect(migrated.app_url)
    try:
        for tenant_id, expected in ((tenant.id, 1), (other.id, 0)):
            begin_for_tenant(conn, tenant_id)
            for table in AUTH_TABLES:
                assert conn.run(f"SELECT count(*) FROM {table}") == [[expected]], table
            conn.run("ROLLBACK")
        conn.run("BEGIN")  # no tenant set: nothing at all
        for table in AUTH_TABLES:
            assert conn.run(f"SELECT count(*) FROM {table}") == [[0]], table
        conn.run("ROLLBACK")
        begin_for_tenant(conn, other.id)
        with pytest.raises(pg8000.native.DatabaseError, match="row-level security"):
            conn.run(
                "INSERT INTO api_keys (id, tenant_id, name, scopes, secret_sha256, hint, created_by)"
                " VALUES (:id, :t, 'x', '{}', :d, 'x', :u)",
                id=uuid.uuid4(), t=tenant.id, d="0" * 64, u=owner.id,
            )  # fmt: skip
        conn.run("ROLLBACK")
        begin_for_tenant(conn, tenant.id)
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            conn.run("DELETE FROM refresh_tokens")
        conn.run("ROLLBACK")
    finally:
        conn.close()


# ------------------------------------------------------------------ login, refresh, logout


def test_login_refresh_reuse_and_logout_on_postgres(
    db: PostgresDatabase, hasher, auth: Authenticator, tokens: TokenService, admin_conn
) -> None:
    tenant, owner = _tenant(db, hasher)
    session = auth.log_in(owner.email.upper(), PASSWORD, meta=META)
    assert tokens.verify_claims(session["access_token"]).user_id == owner.id
    rotated = auth.refresh(session["refresh_token"], META)
    with pytest.raises(InvalidCredentials, match="used already"):
        auth.refresh(session["refresh_token"], META)
    with pytest.raises(InvalidCredentials):
        auth.refresh(rotated["refresh_token"], META)
    fresh = auth.log_in(owner.email, PASSWORD)
    auth.log_out(fresh["refresh_token"], META)
    with pytest.raises(InvalidCredentials):
        auth.refresh(fresh["refresh_token"])
    assert _actions(admin_conn, tenant.id) == [
        "auth.login_succeeded",
        "auth.refresh_reuse_detected",
        "auth.login_succeeded",
        "auth.logout",
    ]
    families = admin_conn.run(
        "SELECT revoked_reason, host(ip) FROM refresh_token_families WHERE tenant_id = :t"
        " ORDER BY created_at",
        t=tenant.id,
    )
    assert families == [["reuse", "192.0.2.1"], ["logout", None]]
    stored = admin_conn.run(
        "SELECT secret_sha256 FROM refresh_tokens WHERE tenant_id = :t", t=tenant.id
    )
    assert all(session["refresh_token"] not in row[0] for row in stored)


def test_two_concurrent_refreshes_of_one_token_rotate_it_once(
    db: PostgresDatabase, hasher, auth: Authenticator
) -> None:
    _, owner = _tenant(db, hasher)
    token = auth.log_in(owner.email, PASSWORD)["refresh_token"]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def refresh() -> None:
        barrier.wait()
        try:
            auth.refresh(token)
            outcomes.append("rotated")
        except InvalidCredentials:
            outcomes.append("refused")

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "rotated"]


def test_concurrent_failures_are_all_counted(
    db: PostgresDatabase, hasher, auth: Authenticator
) -> None:
    tenant, owner = _tenant(db, hasher)

    def fail() -> None:
        with contextlib.suppress(InvalidCredentials, TooManyAttempts):
            auth.log_in(owner.email, "not the password at all")

    threads = [threading.Thread(target=fail) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.unit_of_work(tenant.id) as uow:
        user = uow.credentials.by_id(owner.id)
    assert user is not None and user.failed_login_count == 4


def test_lockout_state_is_stored_and_refuses_the_right_password(
    db: PostgresDatabase, hasher, auth: Authenticator, admin_conn
) -> None:
    tenant, owner = _tenant(db, hasher)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            auth.log_in(owner.email, "not the password at all")
    with pytest.raises(TooManyAttempts):
        auth.log_in(owner.email, PASSWORD)
    admin_conn.run(
        "UPDATE users SET failed_login_count = 9, throttled_until = NULL WHERE id = :id",
        id=owner.id,
    )
    with pytest.raises(InvalidCredentials):
        auth.log_in(owner.email, "not the password at all")
    locked = admin_conn.run("SELECT locked_until > now() FROM users WHERE id = :id", id=owner.id)
    assert locked == [[True]]
    assert _actions(admin_conn, tenant.id)[-2:] == ["auth.login_failed", "auth.account_locked"]


# ------------------------------------------------------------------ MFA


def test_mfa_enrolment_stores_the_seed_encrypted_and_login_needs_a_code(
    db: PostgresDatabase, hasher, auth: Authenticator, cipher: FieldCipher, admin_conn
) -> None:
    tenant, owner = _tenant(db, hasher)
    mfa = MfaService(unit_of_work=db.unit_of_work, cipher=cipher)
    caller = Principal(tenant_id=tenant.id, user_id=owner.id, role="owner")
    secret = mfa.enrol(caller, META)["secret"]
    [[pending]] = admin_conn.run("SELECT mfa_pending_secret FROM users WHERE id = :id", id=owner.id)
    assert secret not in pending and cipher.decrypt(pending, context=str(owner.id)) == secret
    now = datetime.now(UTC)
    codes = mfa.confirm(caller, totp.code_at(secret, now.timestamp()), META)["recovery_codes"]
    [[digests]] = admin_conn.run(
        "SELECT array_agg(code_sha256) FROM mfa_recovery_codes WHERE user_id = :id", id=owner.id
    )
    assert len(digests) == 10 and not set(codes) & set(digests)
    with pytest.raises(InvalidCredentials):  # the confirming code is used up
        auth.log_in(owner.email, PASSWORD, totp_code=totp.code_at(secret, now.timestamp()))
    session = auth.log_in(owner.email, PASSWORD, recovery_code=codes[0])
    assert session["access_token"]
    with pytest.raises(InvalidCredentials):
        auth.log_in(owner.email, PASSWORD, recovery_code=codes[0])
    admin_conn.run(
        "UPDATE tenants SET settings = settings || '{\"require_mfa\": true}' WHERE id = :t",
        t=tenant.id,
    )
    with db.unit_of_work(tenant.id) as uow:
        assert uow.credentials.tenant_requires_mfa()
    assert "auth.mfa_enabled" in _actions(admin_conn, tenant.id)


# ------------------------------------------------------------------ password reset (moto SES)


def test_password_reset_mails_a_single_use_link_and_ends_sessions(
    db: PostgresDatabase, hasher, auth: Authenticator, tokens: TokenService, ses, admin_conn
) -> None:
    tenant, owner = _tenant(db, hasher)
    resets = PasswordResets(
        unit_of_work=db.unit_of_work, login_directory=db.login_directory, hasher=hasher,
        mail=enqueue_email, mail_from="no-reply@crm.local", reset_url="https://app.crm.test/reset",
    )  # fmt: skip
    session = auth.log_in(owner.email, PASSWORD)
    resets.request(owner.email, None, META)
    resets.request(f"nobody-{owner.email}", None, META)
    [mail] = _queued_mail(admin_conn, owner.email)
    assert mail["from_address"] == "no-reply@crm.local" and mail["purpose"] == "password_reset"
    assert _queued_mail(admin_conn, f"nobody-{owner.email}") == []
    token = re.search(r"token=(crm_pr_[\w-]+)", mail["text_body"]).group(1)  # type: ignore[union-attr]
    resets.confirm(token, "a completely new passphrase", META)
    with pytest.raises(ValidationFailed):
        resets.confirm(token, "another completely new one", META)
    with pytest.raises(InvalidCredentials):
        auth.log_in(owner.email, PASSWORD)
    auth.log_in(owner.email, "a completely new passphrase")
    with pytest.raises(InvalidCredentials):
        auth.refresh(session["refresh_token"])
    authorizer = RequestAuthorizer(tokens=tokens, unit_of_work=db.unit_of_work)
    admin_conn.run(  # as if the old token had been issued a second before the reset
        "UPDATE users SET tokens_valid_after = tokens_valid_after + interval '2 seconds'"
        " WHERE id = :id",
        id=owner.id,
    )
    with pytest.raises(InvalidCredentials):
        authorizer.authenticate(session["access_token"])
    assert _actions(admin_conn, tenant.id)[-3:-1] == [
        "auth.password_reset_completed",
        "auth.login_failed",
    ]


def test_an_expired_reset_token_is_refused(db: PostgresDatabase, hasher, ses, admin_conn) -> None:
    _, owner = _tenant(db, hasher)
    resets = PasswordResets(
        unit_of_work=db.unit_of_work, login_directory=db.login_directory, hasher=hasher,
        mail=enqueue_email, mail_from="no-reply@crm.local", reset_url="https://app.crm.test/reset",
    )  # fmt: skip
    resets.request(owner.email, None, META)
    [mail] = _queued_mail(admin_conn, owner.email)
    token = re.search(r"token=(crm_pr_[\w-]+)", mail["text_body"]).group(1)  # type: ignore[union-attr]
    admin_conn.run(
        "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = :u",
        u=owner.id,
    )
    with pytest.raises(ValidationFailed):
        resets.confirm(token, "a completely new passphrase", META)


def test_the_mailer_refuses_an_unverified_sender(ses) -> None:
    with pytest.raises(UpstreamUnavailable):
        SesMailer(ses, "someone@unverified.example").send(to="a@b.example", subject="s", text="t")


# ------------------------------------------------------------------ API keys and the authorizer


def test_api_keys_authorize_until_revoked_and_stay_in_their_tenant(
    db: PostgresDatabase, hasher, tokens: TokenService, admin_conn
) -> None:
    tenant, owner = _tenant(db, hasher)
    other, other_owner = _tenant(db, hasher)
    caller = Principal(tenant_id=tenant.id, user_id=owner.id, role="owner")
    created = create_api_key(
        caller, "zapier", ["leads:read"], datetime.now(UTC) + timedelta(days=1),
        unit_of_work=db.unit_of_work, meta=META,
    )  # fmt: skip
    authorizer = RequestAuthorizer(tokens=tokens, unit_of_work=db.unit_of_work)
    found = authorizer.authenticate(created["secret"])
    assert (found.tenant_id, found.api_key_id, found.scopes, found.role) == (
        tenant.id, uuid.UUID(created["id"]), frozenset({"leads:read"}), "owner",
    )  # fmt: skip
    [[last_used]] = admin_conn.run(
        "SELECT last_used_at FROM api_keys WHERE id = :id", id=uuid.UUID(created["id"])
    )
    assert last_used is not None
    stranger = Principal(tenant_id=other.id, user_id=other_owner.id, role="owner")
    with pytest.raises(NotFound):
        revoke_api_key(stranger, uuid.UUID(created["id"]), unit_of_work=db.unit_of_work, meta=META)
    assert list_api_keys(stranger, PageRequest(10), unit_of_work=db.unit_of_work).items == []
    revoke_api_key(caller, uuid.UUID(created["id"]), unit_of_work=db.unit_of_work, meta=META)
    with pytest.raises(InvalidCredentials):
        authorizer.authenticate(created["secret"])
    assert _actions(admin_conn, tenant.id)[-2:] == ["api_key.created", "api_key.revoked"]
    [[stored]] = admin_conn.run(
        "SELECT secret_sha256 FROM api_keys WHERE id = :id", id=uuid.UUID(created["id"])
    )
    assert created["secret"] not in stored


def test_the_authorizer_refuses_a_token_whose_session_has_ended(
    db: PostgresDatabase, hasher, tokens: TokenService, auth: Authenticator
) -> None:
    tenant, owner = _tenant(db, hasher)
    authorizer = RequestAuthorizer(tokens=tokens, unit_of_work=db.unit_of_work)
    session = auth.log_in(owner.email, PASSWORD, meta=META)
    other = auth.log_in(owner.email, PASSWORD, meta=META)
    assert authorizer.authenticate(session["access_token"]).session_id is not None
    auth.log_out(session["refresh_token"], META)
    with pytest.raises(InvalidCredentials, match="session has ended"):
        authorizer.authenticate(session["access_token"])
    assert authorizer.authenticate(other["access_token"]).user_id == owner.id
    unscoped = tokens.issue_for(tenant.id, owner.id, "owner")["access_token"]  # no sid
    assert authorizer.authenticate(unscoped).session_id is None


def test_the_authorizer_sees_deactivation_and_the_tenants_mfa_rule(
    db: PostgresDatabase, hasher, tokens: TokenService, admin_conn
) -> None:
    tenant, owner = _tenant(db, hasher)
    authorizer = RequestAuthorizer(tokens=tokens, unit_of_work=db.unit_of_work)
    token = tokens.issue_for(tenant.id, owner.id, "owner")["access_token"]
    assert not authorizer.authenticate(token).mfa_enrolment_required
    admin_conn.run(
        "UPDATE tenants SET settings = settings || '{\"require_mfa\": true}' WHERE id = :t",
        t=tenant.id,
    )
    assert authorizer.authenticate(token).mfa_enrolment_required
    admin_conn.run("UPDATE users SET status = 'deactivated' WHERE id = :id", id=owner.id)
    with pytest.raises(InvalidCredentials):
        authorizer.authenticate(token)
