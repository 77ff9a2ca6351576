"""Opaque credentials, recovery codes, the lockout schedule and the password policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from crm.domain.credentials import (
    API_KEY_PREFIX,
    REFRESH_TOKEN_PREFIX,
    LockoutPolicy,
    OpaqueCredential,
    looks_like_api_key,
    new_recovery_codes,
    recovery_code_digest,
)
from crm.domain.errors import InvalidCredentials
from crm.domain.password_policy import password_problems


def test_a_credential_round_trips_and_names_its_tenant_and_row() -> None:
    tenant = uuid.uuid4()
    credential = OpaqueCredential.new(REFRESH_TOKEN_PREFIX, tenant)
    text = str(credential)
    assert text.startswith("crm_rt_")
    parsed = OpaqueCredential.parse(REFRESH_TOKEN_PREFIX, text)
    assert parsed == credential and parsed.tenant_id == tenant
    assert parsed.matches(credential.digest)


def test_the_digest_binds_the_secret_to_its_tenant_and_row() -> None:
    credential = OpaqueCredential.new(API_KEY_PREFIX, uuid.uuid4())
    moved = OpaqueCredential(API_KEY_PREFIX, uuid.uuid4(), credential.id, credential.secret)
    assert not moved.matches(credential.digest)
    assert len(credential.digest) == 64 and credential.secret not in credential.digest


@pytest.mark.parametrize(
    "text",
    [
        "",
        "crm_rt_",
        "crm_pr_" + uuid.uuid4().hex + "_" + uuid.uuid4().hex + "_" + "x" * 43,
        "crm_rt_nothex_" + uuid.uuid4().hex + "_" + "x" * 43,
        "crm_rt_" + uuid.uuid4().hex + "_" + uuid.uuid4().hex + "_short",
        "crm_rt_" + uuid.uuid4().hex + "_" + "x" * 43,
    ],
)
def test_malformed_credentials_are_invalid_credentials(text: str) -> None:
    with pytest.raises(InvalidCredentials):
        OpaqueCredential.parse(REFRESH_TOKEN_PREFIX, text)


def test_api_keys_are_recognisable() -> None:
    key = str(OpaqueCredential.new(API_KEY_PREFIX, uuid.uuid4()))
    assert key.startswith("crm_live_") and looks_like_api_key(key)
    assert not looks_like_api_key("eyJhbGciOiJFZERTQSJ9.e30.sig")


def test_recovery_codes_are_distinct_and_typed_loosely() -> None:
    codes = new_recovery_codes()
    assert len(set(codes)) == 10 and all(len(c) == 11 and c[5] == "-" for c in codes)
    user = uuid.uuid4()
    code = codes[0]
    assert recovery_code_digest(user, code) == recovery_code_digest(
        user, code.upper().replace("-", " ")
    )
    assert recovery_code_digest(user, code) != recovery_code_digest(uuid.uuid4(), code)


def test_lockout_schedule_free_attempts_then_doubling_waits_then_a_lock() -> None:
    policy = LockoutPolicy()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    waits = []
    for failures in range(1, 11):
        outcome = policy.after_failure(failures, now)
        waits.append(
            (outcome.throttled_until - now).total_seconds() if outcome.throttled_until else None
        )
        if failures < 10:
            assert not outcome.locked and outcome.failures == failures
    assert waits[:4] == [None] * 4
    assert waits[4:9] == [1.0, 2.0, 4.0, 8.0, 16.0]
    locked = policy.after_failure(10, now)
    assert locked.locked and locked.failures == 0
    assert locked.locked_until == now + timedelta(minutes=15)


def test_waits_are_capped() -> None:
    policy = LockoutPolicy(free_failures=0, lock_after_failures=100, max_delay_seconds=60)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    outcome = policy.after_failure(50, now)
    assert outcome.throttled_until == now + timedelta(seconds=60)


@pytest.mark.parametrize(
    "password",
    [
        "short",
        "password1234",
        "Password2024!",
        "P@ssw0rd-2024",
        "qwertyuiop123",
        "123456789012",
        "aaaaaaaaaaaaaaa",
        "abababababababab",
        "iloveyou1234!!",
        "Correct-Horse-Battery-Staple",
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    assert password_problems(password, email="ann@acme.example")


def test_a_password_built_from_the_email_is_refused() -> None:
    problems = password_problems("annabelle-2026-xyz", email="annabelle@acme.example")
    assert problems and "email" in problems[0]["msg"]
    assert password_problems("ann@acme.example", email="ann@acme.example")


@pytest.mark.parametrize(
    "password", ["correct horse battery", "a long enough password", "Tr0mbone-Sunset-42"]
)
def test_reasonable_passwords_pass(password: str) -> None:
    assert password_problems(password, email="ann@acme.example") == []


def test_problems_are_per_field_errors_at_the_given_location() -> None:
    [problem] = password_problems("short", loc=("body", "owner", "password"))
    assert problem == {
        "loc": ["body", "owner", "password"],
        "msg": "at least 12 characters",
        "type": "value_error",
    }
