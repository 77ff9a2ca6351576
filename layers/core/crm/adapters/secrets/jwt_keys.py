"""Ed25519 signing keys for access tokens, kept in Secrets Manager as a key set.

Secret value: {"active_kid": "...", "keys": [{"kid", "private_pem", "created_at",
"retired_at"?}]}. Rotation (`rotate_signing_key`) adds a key and makes it the active one; the
previous keys stay in the set, so tokens they signed keep verifying and the JWKS keeps
publishing them, until they have been retired for longer than any token they signed can live.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# How long the set is cached by each function container (see SecretsManagerKeySource).
KEY_CACHE_SECONDS = 300.0
# A retired key may still be signing in a container whose cache predates the rotation (up to
# KEY_CACHE_SECONDS), and its tokens live 15 minutes more: keep it an hour, comfortably longer.
RETIRED_KEY_RETENTION_SECONDS = 3600.0


@dataclass(frozen=True)
class SigningKeySet:
    active_kid: str
    private_keys: dict[str, Ed25519PrivateKey]

    @cached_property
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {kid: key.public_key() for kid, key in self.private_keys.items()}

    @classmethod
    def from_json(cls, value: str) -> SigningKeySet:
        document = json.loads(value)
        keys: dict[str, Ed25519PrivateKey] = {}
        for entry in document["keys"]:
            key = serialization.load_pem_private_key(entry["private_pem"].encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"key {entry['kid']} is not Ed25519")
            keys[entry["kid"]] = key
        if document["active_kid"] not in keys:
            raise ValueError("active_kid is not in the key set")
        return cls(active_kid=document["active_kid"], private_keys=keys)


def _new_key_entry(now: float) -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {"kid": uuid.uuid4().hex[:16], "private_pem": pem, "created_at": int(now)}


def new_keyset_json(now: float | None = None) -> str:
    entry = _new_key_entry(time.time() if now is None else now)
    return json.dumps({"active_kid": entry["kid"], "keys": [entry]})


def rotate_keyset_json(
    current: str, *, now: float, retention_seconds: float = RETIRED_KEY_RETENTION_SECONDS
) -> str:
    """A new active key; the previous active key retired at `now`; long-retired keys dropped."""
    document = json.loads(current)
    SigningKeySet.from_json(current)  # refuse to rotate a set that does not load
    kept = []
    for entry in document["keys"]:
        if entry["kid"] == document["active_kid"]:
            entry = {**entry, "retired_at": int(now)}
        retired_at = entry.get("retired_at")
        if retired_at is None or now - retired_at <= retention_seconds:
            kept.append(entry)
    fresh = _new_key_entry(now)
    return json.dumps({"active_kid": fresh["kid"], "keys": [*kept, fresh]})


def rotate_signing_key(secrets_client: Any, secret_id: str, *, now: float | None = None) -> str:
    """Rotates the key set stored in Secrets Manager; returns the new active kid.

    Run it on a schedule or by hand (`python -m crm.adapters.secrets.rotate_jwt_key`). Signers
    pick the new key up within KEY_CACHE_SECONDS; verifiers reload at once when they meet a
    kid they do not know yet (SecretsManagerKeySource).
    """
    current = secrets_client.get_secret_value(SecretId=secret_id)["SecretString"]
    rotated = rotate_keyset_json(current, now=time.time() if now is None else now)
    secrets_client.put_secret_value(SecretId=secret_id, SecretString=rotated)
    return str(json.loads(rotated)["active_kid"])


class SecretsManagerKeySource:
    """Reads the key set, cached for `ttl_seconds` so a rotation is picked up without a deploy.

    A token whose kid is not in the cached set triggers one early reload (a rotation happened
    since), at most every `min_reload_seconds`, so forged kids cannot turn every request into
    a Secrets Manager call.
    """

    def __init__(
        self,
        secrets_client: Any,
        secret_id: str,
        ttl_seconds: float = KEY_CACHE_SECONDS,
        min_reload_seconds: float = 10.0,
    ) -> None:
        self._client = secrets_client
        self._secret_id = secret_id
        self._ttl = ttl_seconds
        self._min_reload = min_reload_seconds
        self._cached: SigningKeySet | None = None
        self._loaded_at = 0.0

    def keys(self, wanted_kid: str | None = None) -> SigningKeySet:
        age = time.monotonic() - self._loaded_at
        stale = self._cached is None or age > self._ttl
        missing = (
            wanted_kid is not None
            and self._cached is not None
            and wanted_kid not in self._cached.private_keys
            and age > self._min_reload
        )
        if stale or missing:
            value = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
            self._cached = SigningKeySet.from_json(value)
            self._loaded_at = time.monotonic()
        assert self._cached is not None
        return self._cached


class SecretsManagerKeySetStore:
    """The key set secret as a whole (functions/jwt_keys): created with one key on the first
    deploy, rotated on a schedule."""

    def __init__(self, secrets_client: Any, secret_id: str) -> None:
        self._client = secrets_client
        self._secret_id = secret_id

    def ensure(self, *, now: float | None = None) -> tuple[str, bool]:
        """The active kid, and whether a new key set had to be written: one is written when the
        secret has no value yet, or a value that is not a key set (CloudFormation creates the
        secret with a random string). A valid set is left as it is."""
        try:
            current = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
            return SigningKeySet.from_json(current).active_kid, False
        except (ValueError, KeyError, TypeError):
            pass  # not a key set (json.JSONDecodeError is a ValueError)
        except self._client.exceptions.ResourceNotFoundException:
            pass  # the secret has no value yet
        fresh = new_keyset_json(time.time() if now is None else now)
        self._client.put_secret_value(SecretId=self._secret_id, SecretString=fresh)
        return str(json.loads(fresh)["active_kid"]), True

    def rotate(self, *, now: float | None = None) -> str:
        return rotate_signing_key(self._client, self._secret_id, now=now)
