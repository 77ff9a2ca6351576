"""Ed25519 signing keys for access tokens, kept in Secrets Manager as a key set.

Secret value: {"active_kid": "...", "keys": [{"kid": "...", "private_pem": "..."}]}. Rotation
adds a key and moves active_kid; verification accepts every key in the set.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


@dataclass(frozen=True)
class SigningKeySet:
    active_kid: str
    private_keys: dict[str, Ed25519PrivateKey]

    @property
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


def new_keyset_json() -> str:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    kid = uuid.uuid4().hex[:16]
    return json.dumps({"active_kid": kid, "keys": [{"kid": kid, "private_pem": pem}]})


class SecretsManagerKeySource:
    """Reads the key set, cached for `ttl_seconds` so a rotation is picked up without a deploy."""

    def __init__(self, secrets_client: Any, secret_id: str, ttl_seconds: float = 300) -> None:
        self._client = secrets_client
        self._secret_id = secret_id
        self._ttl = ttl_seconds
        self._cached: SigningKeySet | None = None
        self._loaded_at = 0.0

    def keys(self) -> SigningKeySet:
        if self._cached is None or time.monotonic() - self._loaded_at > self._ttl:
            value = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
            self._cached = SigningKeySet.from_json(value)
            self._loaded_at = time.monotonic()
        return self._cached
