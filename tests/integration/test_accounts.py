"""Sign-up and login on the real database, with real argon2 and real EdDSA tokens."""

from __future__ import annotations

import uuid

import pytest
from crm.adapters.passwords import Argon2PasswordHasher
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json
from crm.domain.errors import Conflict, InvalidCredentials, ValidationFailed
from crm.services.accounts import SignUp, sign_up
from crm.services.authentication import Authenticator
from crm.services.tokens import TokenService

pytestmark = pytest.mark.integration

PASSWORD = "a long enough password"


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


def _slug() -> str:
    return f"acc-{uuid.uuid4().hex[:10]}"


def _login(
    db: PostgresDatabase, hasher, tokens, email: str, password: str, tenant: str | None = None
):  # type: ignore[no-untyped-def]
    authenticator = Authenticator(
        unit_of_work=db.unit_of_work, login_directory=db.login_directory, hasher=hasher,
        tokens=tokens, cipher=FieldCipher.from_secret_string("k" * 64),
    )  # fmt: skip
    return authenticator.log_in(email, password, tenant)


def test_sign_up_then_log_in_yields_a_token_for_the_owner(
    db: PostgresDatabase, hasher, tokens
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    tenant, owner = sign_up(
        SignUp("Acme", _slug(), email, PASSWORD, "Ann"), unit_of_work=db.unit_of_work, hasher=hasher
    )
    session = _login(db, hasher, tokens, email.upper(), PASSWORD)
    principal = tokens.verify(session["access_token"])
    assert (principal.tenant_id, principal.user_id, str(principal.role)) == (
        tenant.id,
        owner.id,
        "owner",
    )


def test_wrong_password_and_unknown_email_fail_alike(db: PostgresDatabase, hasher, tokens) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    sign_up(
        SignUp("Acme", _slug(), email, PASSWORD, "Ann"), unit_of_work=db.unit_of_work, hasher=hasher
    )
    with pytest.raises(InvalidCredentials) as wrong:
        _login(db, hasher, tokens, email, "not the password")
    with pytest.raises(InvalidCredentials) as unknown:
        _login(db, hasher, tokens, f"nobody-{email}", PASSWORD)
    assert wrong.value.detail == unknown.value.detail


def test_a_taken_slug_is_a_conflict_and_a_short_password_is_rejected(
    db: PostgresDatabase, hasher
) -> None:
    slug = _slug()
    sign_up(
        SignUp("Acme", slug, "a@example.com", PASSWORD, "Ann"),
        unit_of_work=db.unit_of_work,
        hasher=hasher,
    )
    with pytest.raises(Conflict):
        sign_up(
            SignUp("Acme 2", slug, "b@example.com", PASSWORD, "Bob"),
            unit_of_work=db.unit_of_work,
            hasher=hasher,
        )
    with pytest.raises(ValidationFailed):
        sign_up(
            SignUp("Acme", _slug(), "c@example.com", "short", "Cy"),
            unit_of_work=db.unit_of_work,
            hasher=hasher,
        )


def test_an_email_in_two_tenants_must_name_the_tenant(db: PostgresDatabase, hasher, tokens) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    first, second = _slug(), _slug()
    sign_up(
        SignUp("One", first, email, PASSWORD, "Ann"), unit_of_work=db.unit_of_work, hasher=hasher
    )
    tenant_two, _ = sign_up(
        SignUp("Two", second, email, PASSWORD, "Ann"), unit_of_work=db.unit_of_work, hasher=hasher
    )
    with pytest.raises(ValidationFailed):
        _login(db, hasher, tokens, email, PASSWORD)
    session = _login(db, hasher, tokens, email, PASSWORD, tenant=second)
    assert tokens.verify(session["access_token"]).tenant_id == tenant_two.id


@pytest.mark.parametrize("password", ["password1234", "Qwerty123456!", "ann.smith-2026"])
def test_sign_up_refuses_common_passwords_and_ones_built_from_the_email(
    db: PostgresDatabase, hasher, password: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        sign_up(
            SignUp("Acme", _slug(), "ann.smith@example.com", password, "Ann"),
            unit_of_work=db.unit_of_work,
            hasher=hasher,
        )
    assert refused.value.errors[0]["loc"] == ["body", "owner", "password"]
