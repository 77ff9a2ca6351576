"""Access-token verification rejects every forgery the identity issue lists (pure crypto)."""

from __future__ import annotations

import base64
import json
import uuid

import jwt
import pytest
from crm.adapters.secrets.jwt_keys import SigningKeySet, new_keyset_json
from crm.domain.errors import InvalidCredentials
from crm.domain.tenants import Principal, Role
from crm.services.tokens import TokenService
from cryptography.hazmat.primitives import serialization


class StaticKeys:
    def __init__(self, keys: SigningKeySet) -> None:
        self._keys = keys

    def keys(self, wanted_kid: str | None = None) -> SigningKeySet:
        return self._keys


@pytest.fixture()
def keys() -> SigningKeySet:
    return SigningKeySet.from_json(new_keyset_json())


@pytest.fixture()
def tokens(keys: SigningKeySet) -> TokenService:
    return TokenService(StaticKeys(keys), issuer="https://crm.test", audience="crm-api")


PRINCIPAL = Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), role=Role.SELLER)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_token_it_issued_verifies_to_the_same_principal(tokens: TokenService) -> None:
    token = tokens.issue(PRINCIPAL)["access_token"]
    assert tokens.verify(token) == PRINCIPAL
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"]
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert {"sub", "tenant_id", "role", "iss", "aud", "exp", "iat", "nbf", "jti"} <= set(claims)
    assert claims["amr"] == ["pwd"]


def test_a_custom_role_and_the_mfa_methods_survive_verification(tokens: TokenService) -> None:
    token = tokens.issue_for(uuid.uuid4(), uuid.uuid4(), "field-sales", amr=("pwd", "otp"))
    claims = tokens.verify_claims(token["access_token"])
    assert claims.role == "field-sales" and claims.multi_factor


def test_a_session_token_names_its_session(tokens: TokenService) -> None:
    session = uuid.uuid4()
    issued = tokens.issue_for(uuid.uuid4(), uuid.uuid4(), "seller", session_id=session)
    assert tokens.verify_claims(issued["access_token"]).session_id == session
    assert tokens.verify_claims(tokens.issue(PRINCIPAL)["access_token"]).session_id is None


def test_a_malformed_role_claim_is_rejected(tokens: TokenService) -> None:
    with pytest.raises(InvalidCredentials):
        tokens.verify_claims(
            tokens.issue_for(uuid.uuid4(), uuid.uuid4(), "Not A Role!")["access_token"]
        )


def test_alg_none_is_rejected(tokens: TokenService, keys: SigningKeySet) -> None:
    claims = jwt.decode(
        tokens.issue(PRINCIPAL)["access_token"], options={"verify_signature": False}
    )
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': keys.active_kid})}.{_b64(claims)}."
    with pytest.raises(InvalidCredentials):
        tokens.verify(forged)


def test_hs256_signed_with_the_public_key_is_rejected(
    tokens: TokenService, keys: SigningKeySet
) -> None:
    public_pem = keys.public_keys[keys.active_kid].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(
        tokens.issue(PRINCIPAL)["access_token"], options={"verify_signature": False}
    )
    header = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': keys.active_kid})}"
    import hashlib
    import hmac

    signing_input = f"{header}.{_b64(claims)}".encode()
    signature = base64.urlsafe_b64encode(
        hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    with pytest.raises(InvalidCredentials):
        tokens.verify(f"{signing_input.decode()}.{signature.decode()}")


def test_unknown_kid_is_rejected(tokens: TokenService) -> None:
    other = SigningKeySet.from_json(new_keyset_json())
    foreign = TokenService(StaticKeys(other), issuer="https://crm.test", audience="crm-api")
    with pytest.raises(InvalidCredentials):
        tokens.verify(foreign.issue(PRINCIPAL)["access_token"])


def test_tampered_payload_is_rejected(tokens: TokenService) -> None:
    header, payload, signature = tokens.issue(PRINCIPAL)["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["tenant_id"] = str(uuid.uuid4())
    with pytest.raises(InvalidCredentials):
        tokens.verify(f"{header}.{_b64(claims)}.{signature}")


def test_expired_token_is_rejected(keys: SigningKeySet) -> None:
    issued_long_ago = TokenService(
        StaticKeys(keys), issuer="https://crm.test", audience="crm-api", clock=lambda: 1_000_000
    )
    now = TokenService(StaticKeys(keys), issuer="https://crm.test", audience="crm-api")
    with pytest.raises(InvalidCredentials):
        now.verify(issued_long_ago.issue(PRINCIPAL)["access_token"])


@pytest.mark.parametrize(
    ("issuer", "audience"), [("https://evil", "crm-api"), ("https://crm.test", "other")]
)
def test_wrong_issuer_or_audience_is_rejected(
    keys: SigningKeySet, issuer: str, audience: str
) -> None:
    minted = TokenService(StaticKeys(keys), issuer=issuer, audience=audience)
    verifier = TokenService(StaticKeys(keys), issuer="https://crm.test", audience="crm-api")
    with pytest.raises(InvalidCredentials):
        verifier.verify(minted.issue(PRINCIPAL)["access_token"])


def test_jwks_publishes_the_public_keys_only(tokens: TokenService, keys: SigningKeySet) -> None:
    document = tokens.jwks()
    assert [key["kid"] for key in document["keys"]] == [keys.active_kid]
    assert all("d" not in key and key["kty"] == "OKP" for key in document["keys"])
