"""AES-256-GCM for the few secrets the code must read back (TOTP seeds), keyed from a
Secrets Manager secret. A database dump alone does not yield anyone's second factor.

Ciphertext: "v1." + base64url(12-byte nonce || ciphertext+tag). The `context` (the owner's id)
is authenticated data: a ciphertext copied onto another user's row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the field key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_secret_string(cls, secret: str) -> FieldCipher:
        """The template generates a long random string; its SHA-256 is the AES key."""
        if len(secret) < 32:
            raise ValueError("the field-encryption secret is too short to be a key")
        return cls(hashlib.sha256(secret.encode()).digest())

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        version, _, body = ciphertext.partition(".")
        if version != _VERSION:
            raise ValueError(f"unknown ciphertext version {version!r}")
        raw = base64.urlsafe_b64decode(body)
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except InvalidTag as error:
            raise ValueError("the ciphertext does not belong to this context or key") from error
        return plain.decode()


class SecretsManagerFieldCipher:
    """A FieldCipher whose key is read from Secrets Manager on first use, then cached."""

    def __init__(self, secrets_client: Any, secret_id: str, ttl_seconds: float = 3600) -> None:
        self._client = secrets_client
        self._secret_id = secret_id
        self._ttl = ttl_seconds
        self._cipher: FieldCipher | None = None
        self._loaded_at = 0.0

    def _current(self) -> FieldCipher:
        if self._cipher is None or time.monotonic() - self._loaded_at > self._ttl:
            value = self._client.get_secret_value(SecretId=self._secret_id)["SecretString"]
            self._cipher = FieldCipher.from_secret_string(value)
            self._loaded_at = time.monotonic()
        return self._cipher

    def encrypt(self, plaintext: str, *, context: str) -> str:
        return self._current().encrypt(plaintext, context=context)

    def decrypt(self, ciphertext: str, *, context: str) -> str:
        return self._current().decrypt(ciphertext, context=context)
