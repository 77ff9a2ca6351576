"""Webhook subscriptions: an endpoint (URL, event types, signing secret) receives the tenant's
events it subscribed to, signed per Standard Webhooks (https://www.standardwebhooks.com/).

Pure: the target rules take addresses already resolved (the service and the sender resolve
them), so the same rule judges a URL when it is saved and again when it is called (a name
that resolved to a public address yesterday may resolve to 127.0.0.1 today: DNS rebinding).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048
MAX_ERROR_LENGTH = 300
PREFIX_WILDCARD = ".*"

DeliveryStatus = Literal["pending", "delivered", "failed"]
DELIVERY_STATUSES: tuple[str, ...] = ("pending", "delivered", "failed")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ secrets and signatures


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the Standard Webhooks secret format)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: the bytes its base64 part encodes."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


# ------------------------------------------------------------------ event types


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """`crm.lead.created` matches itself; `crm.deal.*` matches every type under crm.deal."""
    for pattern in patterns:
        if pattern.endswith(PREFIX_WILDCARD):
            if event_type.startswith(pattern[:-1]):
                return True
        elif pattern == event_type:
            return True
    return False


def event_type_problems(patterns: list[str], catalog: Iterable[str]) -> list[str]:
    """Why each pattern is refused: not catalogued, or a prefix that matches nothing."""
    known = set(catalog)
    problems = []
    for pattern in patterns:
        if pattern.endswith(PREFIX_WILDCARD):
            if not any(matches([pattern], name) for name in known):
                problems.append(f"{pattern!r} matches no catalogued event type")
        elif pattern not in known:
            problems.append(f"{pattern!r} is not a catalogued event type (see /events/catalog)")
    return problems


# ------------------------------------------------------------------ targets


@dataclass(frozen=True)
class TargetPolicy:
    """What the deployment allows: plain http and private addresses only for local clouds."""

    allow_http: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with its query string


def parse_target(url: str, policy: TargetPolicy) -> tuple[Target | None, list[str]]:
    """The URL's parts, or why it cannot be a webhook target (addresses are judged apart)."""
    problems: list[str] = []
    if len(url) > MAX_URL_LENGTH:
        return None, [f"at most {MAX_URL_LENGTH} characters"]
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None, ["must not contain spaces or control characters"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return None, [f"not a valid URL ({error})"]
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in allowed:
        problems.append("must be an https URL" if not policy.allow_http else "must be http(s)")
    if parts.username is not None or parts.password is not None:
        problems.append("must not carry credentials (user:password@)")
    if not parts.hostname:
        problems.append("must name a host")
    if parts.fragment:
        problems.append("must not have a #fragment")
    if problems or parts.hostname is None:
        return None, problems
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default_port, path), []


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local (cloud metadata: 169.254.169.254), multicast, unspecified,
    reserved or shared (CGNAT) addresses, and IPv4 hidden in IPv6 forms of those."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_private_address(str(mapped))
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )


def address_problems(addresses: Iterable[str], policy: TargetPolicy) -> list[str]:
    """Refuse a host when ANY of its addresses is private (a client may pick any of them)."""
    addresses = list(addresses)
    if not addresses:
        return ["the host does not resolve"]
    if policy.allow_private:
        return []
    private = sorted({a for a in addresses if is_private_address(a)})
    if private:
        return [f"resolves to a private, loopback or link-local address ({', '.join(private)})"]
    return []


def short_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class WebhookEndpoint:
    tenant_id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    secret_encrypted: str
    description: str | None = None
    active: bool = True
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=_utcnow)
    updated_at: datetime = field(default_factory=_utcnow)
    version: int = 1

    def subscribes_to(self, event_type: str) -> bool:
        return self.active and matches(self.event_types, event_type)

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of it: never the secret, sealed or not."""
        return {
            "url": self.url,
            "description": self.description,
            "event_types": list(self.event_types),
            "active": self.active,
        }

    def to_dict(self) -> dict[str, Any]:
        """The public view: never the secret."""
        return {
            "id": str(self.id),
            **self.audit_view(),
            "created_by": str(self.created_by) if self.created_by else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }


@dataclass(frozen=True)
class WebhookDelivery:
    id: uuid.UUID
    tenant_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    first_attempt_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": str(self.id),
            "endpoint_id": str(self.endpoint_id),
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "first_attempt_at": iso(self.first_attempt_at),
            "last_attempt_at": iso(self.last_attempt_at),
            "delivered_at": iso(self.delivered_at),
        }


@dataclass(frozen=True)
class AttemptResult:
    """One POST: its status code (None: no answer) and, when it failed, a short reason."""

    status_code: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def secret_context(endpoint_id: uuid.UUID) -> str:
    """The authenticated context an endpoint's sealed secret is bound to: a ciphertext copied
    onto another endpoint's row does not decrypt."""
    return f"webhook_endpoint:{endpoint_id}"
