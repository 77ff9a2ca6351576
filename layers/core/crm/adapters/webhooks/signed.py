"""Outbound HTTP on a tenant's behalf (webhook subscriptions and automation webhook actions):
the one sender every such call goes through, and host resolution.

The host is resolved at send time and every address is judged again (a name may have been
re-pointed at 127.0.0.1 or the metadata service since it was saved: DNS rebinding); the
connection then goes to the address that was judged, not to a second lookup, with the URL's
host as TLS server name and Host header. No redirects are followed (a 3xx is a failure: it
could lead anywhere), the whole request has one timeout, and at most `read_limit` bytes of the
answer are read. A refused target and a failed connection are reported without network facts
(no addresses, no "connection refused" versus "timed out" on private ports).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import urllib3

from crm.domain.webhooks import (
    TARGET_NOT_ALLOWED,
    AttemptResult,
    TargetPolicy,
    address_problems,
    literal_address,
    parse_target,
    target_addresses,
)
from crm.observability import logger

Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int = 443) -> list[str]:
    """Every address `host` resolves to (one, when it is a literal); [] when it does not."""
    literal = literal_address(host)
    if literal is not None:
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HostsFileResolver:
    """A local cloud's stand-in for DNS: names listed in a hosts-style file (`address name
    [name...]` per line, `#` comments) resolve to their addresses, read at every lookup so a
    test can re-point a name after saving it (DNS rebinding); other names go to `fallback`.
    Wired only where the target policy is relaxed (never in a deployed stage)."""

    def __init__(self, path: Path, fallback: Resolver = resolve_host) -> None:
        self._path = path
        self._fallback = fallback

    def __call__(self, host: str, port: int) -> list[str]:
        try:
            lines = self._path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        found: list[str] = []
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and host.lower() in (name.lower() for name in fields[1:]):
                found.append(fields[0])
        return found if found else self._fallback(host, port)


def _failure(error: Exception) -> str:
    """What a failed connection says: its kind, never the address or the socket's words."""
    if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError | socket.timeout):
        return "no answer in time"
    if isinstance(error, urllib3.exceptions.SSLError | ssl.SSLError):
        return "TLS handshake failed"
    return "could not connect"


class PinnedWebhookSender:
    def __init__(
        self,
        policy: TargetPolicy,
        timeout_seconds: float = 10.0,
        user_agent: str = "crm-webhooks/1",
        *,
        resolve: Resolver = resolve_host,
        ca_certs: str | None = None,  # None: the system's trust store; tests pass their CA
    ) -> None:
        self._policy = policy
        self._timeout = urllib3.Timeout(total=timeout_seconds)
        self._user_agent = user_agent
        self._resolve = resolve
        self._ca_certs = ca_certs

    @property
    def policy(self) -> TargetPolicy:
        return self._policy

    def resolve(self, host: str, port: int) -> list[str]:
        return self._resolve(host, port)

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, read_limit: int = 0
    ) -> AttemptResult:
        target, problems = parse_target(url, self._policy)
        if target is not None:
            addresses = target_addresses(target, self._resolve)
            problems = address_problems(addresses, self._policy)
        if target is None or problems:
            # The reason (with the host) is for operators; the caller only says it refused.
            host = target.host if target is not None else None
            logger.warning("outbound request refused", extra={"host": host, "reasons": problems})
            return AttemptResult(None, TARGET_NOT_ALLOWED, refused=True)
        host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        request_headers = {
            **headers,
            "host": host_header,
            "content-type": "application/json",
            "user-agent": self._user_agent,
        }
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                addresses[0],
                target.port,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self._ca_certs,
                timeout=self._timeout,
                retries=False,
                maxsize=1,
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                addresses[0], target.port, timeout=self._timeout, retries=False, maxsize=1
            )
        excerpt: bytes | None = None
        try:
            with pool:
                response = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers=request_headers,
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    assert_same_host=False,
                )
                status = int(response.status)
                if read_limit > 0:
                    excerpt = response.read(read_limit, decode_content=False)
                response.close()  # the rest of the body is never read
        except (urllib3.exceptions.HTTPError, OSError) as error:
            logger.info("outbound request failed", extra={"error": type(error).__name__})
            return AttemptResult(None, _failure(error))
        if 200 <= status < 300:
            return AttemptResult(status, body_excerpt=excerpt)
        return AttemptResult(status, f"answered HTTP {status}", body_excerpt=excerpt)
