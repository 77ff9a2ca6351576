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
from collections.abc import Callable, Iterable
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

# What a refused send says, to the tenant and in run details: nothing about the addresses a
# name resolved to or how the network answered (that would make a port scanner's oracle).
TARGET_NOT_ALLOWED = "target not allowed"

AddressClass = Literal["public", "private", "forbidden"]
_CLASS_RANK: dict[str, int] = {"public": 0, "private": 1, "forbidden": 2}

# Never reachable, whatever a local cloud relaxes: link-local (cloud metadata and credential
# services: 169.254.169.254, ECS's 169.254.170.2, fe80::/10), AWS's Nitro IPv6 services
# (fd00:ec2::254 metadata, ::253 DNS, ::123 NTP), multicast and broadcast.
_FORBIDDEN_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("224.0.0.0/4"),
    ipaddress.ip_network("255.255.255.255/32"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fec0::/10"),  # deprecated site-local
    ipaddress.ip_network("fd00:ec2::/32"),
    ipaddress.ip_network("ff00::/8"),
)
_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT, RFC 2765
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated, RFC 4291
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


@dataclass(frozen=True)
class TargetPolicy:
    """What the deployment allows. Plain http and private addresses only for a local cloud
    (its receivers listen on 127.0.0.1); link-local and metadata addresses never."""

    allow_http: bool = False
    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # numeric IPv4 forms normalised to dotted quads (0x7f.1 -> 127.0.0.1)
    port: int
    path: str  # with its query string


def _ipv4_part(part: str) -> int | None:
    """One part of a numeric IPv4 host as the WHATWG URL standard (and inet_aton) read it:
    0x.. hexadecimal, 0.. octal, else decimal."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:] or "0", 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def _ends_in_a_number(labels: list[str]) -> bool:
    last = labels[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and all(c in "0123456789abcdefABCDEF" for c in last[2:])


def normalise_host(host: str) -> tuple[str | None, str | None]:
    """The host, with the numeric IPv4 forms a resolver would accept (2130706433, 0x7f.1,
    017700000001, 127.1) written as the dotted quad they mean; (None, why) when such a form
    is malformed. A later check then judges the real address, not a disguise of it."""
    if ":" in host:  # an IPv6 literal (its dotted tail, ::ffff:10.0.0.1, is IPv6 syntax)
        return host, None
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    if not labels or not _ends_in_a_number(labels):
        return host, None
    if len(labels) > 4:
        return None, "is not a valid IPv4 address"
    numbers = [_ipv4_part(label) if label else None for label in labels]
    if any(n is None for n in numbers):
        return None, "is not a valid IPv4 address"
    parts = [n for n in numbers if n is not None]
    if any(n > 255 for n in parts[:-1]) or parts[-1] >= 256 ** (5 - len(parts)):
        return None, "is not a valid IPv4 address"
    value = parts[-1]
    for index, number in enumerate(parts[:-1]):
        value += number << (8 * (3 - index))
    return str(ipaddress.IPv4Address(value)), None


def parse_target(url: str, policy: TargetPolicy) -> tuple[Target | None, list[str]]:
    """The URL's parts, or why it cannot be a webhook target (addresses are judged apart)."""
    problems: list[str] = []
    if len(url) > MAX_URL_LENGTH:
        return None, [f"at most {MAX_URL_LENGTH} characters"]
    if any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" for ch in url):
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
    host, host_problem = normalise_host(parts.hostname)
    if host is None:
        return None, [f"the host {host_problem}"]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default_port, path), []


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def target_addresses(target: Target, resolve: Callable[[str, int], list[str]]) -> list[str]:
    """The addresses a request to `target` may reach: a literal host is its own address (no
    resolver gets to reinterpret it); a name is whatever `resolve` answers now."""
    literal = literal_address(target.host)
    if literal is not None:
        return [str(literal)]
    return resolve(target.host, target.port)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for (mapped, translated, compatible, NAT64,
    6to4, Teredo): a connection to it may reach them. None when it embeds none."""
    packed = ip.packed
    if ip in _IPV4_MAPPED or ip in _IPV4_TRANSLATED or ip in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(packed[12:])]
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are themselves
        return [ipaddress.IPv4Address(packed[12:])]
    if ip in _NAT64_LOCAL_USE:  # a /48 prefix puts the address around the "u" octet
        return [ipaddress.IPv4Address(packed[6:8] + packed[9:11])]
    if ip in _SIX_TO_FOUR:
        return [ipaddress.IPv4Address(packed[2:6])]
    if ip in _TEREDO:
        teredo = ip.teredo
        return list(teredo) if teredo is not None else None
    return None


def _worst(classes: Iterable[AddressClass]) -> AddressClass:
    return max(classes, key=lambda name: _CLASS_RANK[name])


def address_class(address: str) -> AddressClass:
    """`forbidden` (link-local, metadata, multicast: never a target), `private` (loopback,
    private, shared, reserved, unspecified, documentation...: only where a local cloud allows
    them) or `public`. IPv6 forms that embed an IPv4 address are judged by it as well."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip.version == network.version and ip in network for network in _FORBIDDEN_NETWORKS):
        return "forbidden"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            classes = [address_class(str(v4)) for v4 in embedded]
            if ip in _NAT64_LOCAL_USE or ip in _TEREDO:
                classes.append("private")  # the translator is a private network's own
            return _worst(classes)
    if ip.is_private or ip.is_loopback or ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "private"
    return "public"


def is_private_address(address: str) -> bool:
    """Anything but a public address (see address_class)."""
    return address_class(address) != "public"


def address_problems(addresses: Iterable[str], policy: TargetPolicy) -> list[str]:
    """Refuse a host when ANY of its addresses is refused (a client may pick any of them).
    The message names no address: a tenant must not learn what an internal name means."""
    addresses = list(addresses)
    if not addresses:
        return ["the host does not resolve"]
    classes = {address_class(a) for a in addresses}
    if "forbidden" in classes:
        return ["the host is a link-local, metadata or multicast address: never allowed"]
    if "private" in classes and not policy.allow_private:
        return ["the host is a private, loopback or reserved address: not allowed"]
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
    """One POST: its status code (None: no answer) and, when it failed, a short reason;
    `refused` when the target policy stopped it before any connection; the first bytes of
    the answer's body when the caller asked for them."""

    status_code: int | None
    error: str | None = None
    refused: bool = False
    body_excerpt: bytes | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def secret_context(endpoint_id: uuid.UUID) -> str:
    """The authenticated context an endpoint's sealed secret is bound to: a ciphertext copied
    onto another endpoint's row does not decrypt."""
    return f"webhook_endpoint:{endpoint_id}"
