"""Access tokens: EdDSA JWTs with `kid`, verified against a pinned algorithm list."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization

from crm.adapters.secrets.jwt_keys import SigningKeySet
from crm.domain.errors import InvalidCredentials
from crm.domain.tenants import ROLE_KEY, Principal

ALGORITHMS = ["EdDSA"]
ACCESS_TOKEN_TTL_SECONDS = 15 * 60


class KeySource(Protocol):
    def keys(self) -> SigningKeySet: ...


@dataclass(frozen=True)
class TokenService:
    key_source: KeySource
    issuer: str
    audience: str
    clock: Callable[[], float] = time.time

    def issue(self, principal: Principal) -> dict[str, Any]:
        keys = self.key_source.keys()
        now = int(self.clock())
        claims = {
            "sub": str(principal.user_id),
            "tenant_id": str(principal.tenant_id),
            "role": str(principal.role),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TOKEN_TTL_SECONDS,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(
            claims,
            keys.private_keys[keys.active_kid],
            algorithm="EdDSA",
            headers={"kid": keys.active_kid},
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL_SECONDS,
        }

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            public_key = self.key_source.keys().public_keys.get(header.get("kid", ""))
            if public_key is None:
                raise InvalidCredentials("unknown signing key")
            claims = jwt.decode(
                token,
                public_key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": ["exp", "iat", "nbf", "iss", "aud", "sub", "tenant_id", "role"]
                },
                leeway=30,
            )
            return Principal(
                tenant_id=uuid.UUID(claims["tenant_id"]),
                user_id=uuid.UUID(claims["sub"]),
                role=_role_claim(claims["role"]),
            )
        except (jwt.PyJWTError, ValueError, KeyError) as error:
            raise InvalidCredentials("invalid access token") from error

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, public_key in self.key_source.keys().public_keys.items():
            raw = public_key.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
            keys.append(
                {"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig", "x": x}
            )
        return {"keys": keys}


def _role_claim(value: object) -> str:
    """A built-in role or a custom role's key; anything else makes the token invalid."""
    if not isinstance(value, str) or not ROLE_KEY.match(value):
        raise ValueError("malformed role claim")
    return value
