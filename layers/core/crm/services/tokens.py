"""Access tokens: EdDSA JWTs with `kid`, verified against a pinned algorithm list."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization

from crm.domain.errors import InvalidCredentials
from crm.domain.tenants import ROLE_KEY, Principal

if TYPE_CHECKING:  # crm.ports imports every domain module: not at the authorizer's cold start
    from crm.ports.auth import KeySource

ALGORITHMS = ["EdDSA"]
ACCESS_TOKEN_TTL_SECONDS = 15 * 60
LEEWAY_SECONDS = 30
# RFC 8176 authentication method references: "pwd" password, "otp" one-time code.
PASSWORD_ONLY = ("pwd",)
PASSWORD_AND_OTP = ("pwd", "otp")


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says. `role` stays a plain string: custom roles are
    tenant data, not members of the Role enum."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    issued_at: int
    amr: tuple[str, ...]
    jti: str
    session_id: uuid.UUID | None = None  # `sid`: the refresh-token family of the login

    @property
    def multi_factor(self) -> bool:
        return "otp" in self.amr


@dataclass(frozen=True)
class TokenService:
    key_source: KeySource
    issuer: str
    audience: str
    clock: Callable[[], float] = time.time

    def issue(self, principal: Principal, amr: Sequence[str] = PASSWORD_ONLY) -> dict[str, Any]:
        return self.issue_for(principal.tenant_id, principal.user_id, str(principal.role), amr)

    def issue_for(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        role: str,
        amr: Sequence[str] = PASSWORD_ONLY,
        *,
        session_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        keys = self.key_source.keys()
        now = int(self.clock())
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "tenant_id": str(tenant_id),
            "role": role,
            "amr": list(amr),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TOKEN_TTL_SECONDS,
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
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

    def verify_claims(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
            kid = str(header.get("kid", ""))
            public_key = self.key_source.keys(wanted_kid=kid).public_keys.get(kid)
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
                leeway=LEEWAY_SECONDS,
            )
            return AccessClaims(
                tenant_id=uuid.UUID(claims["tenant_id"]),
                user_id=uuid.UUID(claims["sub"]),
                role=_role_claim(claims["role"]),
                issued_at=int(claims["iat"]),
                amr=tuple(str(method) for method in claims.get("amr") or PASSWORD_ONLY),
                jti=str(claims.get("jti", "")),
                session_id=uuid.UUID(claims["sid"]) if claims.get("sid") else None,
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as error:
            raise InvalidCredentials("invalid access token") from error

    def verify(self, token: str) -> Principal:
        claims = self.verify_claims(token)
        return Principal(tenant_id=claims.tenant_id, user_id=claims.user_id, role=claims.role)

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
