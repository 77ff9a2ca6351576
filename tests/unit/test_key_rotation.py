"""Signing-key rotation: a new active key, old keys kept (and published) while tokens they
signed can live, verifiers that pick a new kid up at once, and a cipher for TOTP seeds."""

from __future__ import annotations

import json
import uuid

import pytest
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.secrets.jwt_keys import (
    RETIRED_KEY_RETENTION_SECONDS,
    SecretsManagerKeySource,
    SigningKeySet,
    new_keyset_json,
    rotate_keyset_json,
)
from crm.domain.errors import InvalidCredentials
from crm.services.tokens import TokenService


class FakeSecrets:
    """The two Secrets Manager calls the key source and the rotation make."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.reads = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        self.reads += 1
        return {"SecretString": self.value}

    def put_secret_value(self, SecretId: str, SecretString: str) -> None:
        self.value = SecretString


def test_rotation_adds_an_active_key_and_keeps_the_previous_one() -> None:
    first = new_keyset_json(now=1000)
    rotated = rotate_keyset_json(first, now=2000)
    before, after = SigningKeySet.from_json(first), SigningKeySet.from_json(rotated)
    assert after.active_kid != before.active_kid
    assert set(after.private_keys) == {before.active_kid, after.active_kid}
    retired = next(k for k in json.loads(rotated)["keys"] if k["kid"] == before.active_kid)
    assert retired["retired_at"] == 2000


def test_keys_retired_longer_than_the_retention_are_dropped() -> None:
    keyset = new_keyset_json(now=0)
    keyset = rotate_keyset_json(keyset, now=100)  # key 1 retired at 100
    keyset = rotate_keyset_json(
        keyset, now=100 + RETIRED_KEY_RETENTION_SECONDS
    )  # kept: at the limit
    assert len(json.loads(keyset)["keys"]) == 3
    keyset = rotate_keyset_json(keyset, now=101 + RETIRED_KEY_RETENTION_SECONDS)
    kids = [k["kid"] for k in json.loads(keyset)["keys"]]
    assert len(kids) == 3  # key 1 dropped; 2 and 3 retired but kept; 4 active
    assert SigningKeySet.from_json(keyset).active_kid == kids[-1]


def test_a_broken_key_set_is_not_rotated() -> None:
    with pytest.raises((ValueError, KeyError)):
        rotate_keyset_json(json.dumps({"active_kid": "x", "keys": []}), now=0)


def test_tokens_signed_before_a_rotation_still_verify_and_the_jwks_lists_both_keys() -> None:
    secrets = FakeSecrets(new_keyset_json())
    signer = TokenService(SecretsManagerKeySource(secrets, "jwt", ttl_seconds=0), "iss", "aud")
    old_token = signer.issue_for(uuid.uuid4(), uuid.uuid4(), "owner")["access_token"]
    secrets.value = rotate_keyset_json(secrets.value, now=0)
    new_token = signer.issue_for(uuid.uuid4(), uuid.uuid4(), "owner")["access_token"]
    assert signer.verify_claims(old_token) and signer.verify_claims(new_token)
    assert len(signer.jwks()["keys"]) == 2


def test_a_verifier_with_a_cached_key_set_reloads_once_for_an_unknown_kid() -> None:
    secrets = FakeSecrets(new_keyset_json())
    verifier = TokenService(
        SecretsManagerKeySource(secrets, "jwt", ttl_seconds=3600, min_reload_seconds=-1),
        "iss",
        "aud",
    )
    signer = TokenService(SecretsManagerKeySource(secrets, "jwt", ttl_seconds=0), "iss", "aud")
    verifier.verify_claims(signer.issue_for(uuid.uuid4(), uuid.uuid4(), "owner")["access_token"])
    secrets.value = rotate_keyset_json(secrets.value, now=0)
    reads = secrets.reads
    rotated = signer.issue_for(uuid.uuid4(), uuid.uuid4(), "owner")["access_token"]
    verifier.verify_claims(rotated)  # the cached set lacked the new kid: one reload
    assert secrets.reads == reads + 2  # one by the signer, one by the verifier


def test_unknown_kids_cannot_force_a_reload_on_every_request() -> None:
    secrets = FakeSecrets(new_keyset_json())
    source = SecretsManagerKeySource(secrets, "jwt", ttl_seconds=3600, min_reload_seconds=3600)
    verifier = TokenService(source, "iss", "aud")
    stranger = TokenService(
        SecretsManagerKeySource(FakeSecrets(new_keyset_json()), "x", ttl_seconds=0), "iss", "aud"
    )
    forged = stranger.issue_for(uuid.uuid4(), uuid.uuid4(), "owner")["access_token"]
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            verifier.verify_claims(forged)
    assert secrets.reads == 1


def test_the_field_cipher_round_trips_and_binds_the_context() -> None:
    cipher = FieldCipher.from_secret_string("k" * 64)
    sealed = cipher.encrypt("JBSWY3DPEHPK3PXP", context="user-1")
    assert "JBSWY3DPEHPK3PXP" not in sealed and sealed.startswith("v1.")
    assert cipher.decrypt(sealed, context="user-1") == "JBSWY3DPEHPK3PXP"
    assert cipher.encrypt("same", context="u") != cipher.encrypt("same", context="u")
    with pytest.raises(ValueError):
        cipher.decrypt(sealed, context="user-2")
    with pytest.raises(ValueError):
        FieldCipher.from_secret_string("j" * 64).decrypt(sealed, context="user-1")
    with pytest.raises(ValueError):
        FieldCipher.from_secret_string("short")
