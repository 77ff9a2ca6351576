"""Signed webhook delivery to integrators' endpoints (Standard Webhooks), and host resolution.

The host is resolved at send time and every address is judged again (a name may have been
re-pointed at 127.0.0.1 or the metadata service since it was saved: DNS rebinding); the
connection then goes to the address that was judged, not to a second lookup, with the URL's
host as TLS server name and Host header. No redirects are followed (a 3xx is a failure: it
could lead anywhere), the whole request has one timeout, and the response body is never read.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import urllib3

from crm.domain.webhooks import (
    AttemptResult,
    TargetPolicy,
    address_problems,
    literal_address,
    parse_target,
    short_error,
)


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


class PinnedWebhookSender:
    def __init__(
        self,
        policy: TargetPolicy,
        timeout_seconds: float = 10.0,
        user_agent: str = "crm-webhooks/1",
        *,
        resolve: Callable[[str, int], list[str]] = resolve_host,
        ca_certs: str | None = None,  # None: the system's trust store; tests pass their CA
    ) -> None:
        self._policy = policy
        self._timeout = urllib3.Timeout(total=timeout_seconds)
        self._user_agent = user_agent
        self._resolve = resolve
        self._ca_certs = ca_certs

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        target, problems = parse_target(url, self._policy)
        if target is None:
            return AttemptResult(None, short_error(f"refused: {'; '.join(problems)}"))
        addresses = self._resolve(target.host, target.port)
        problems = address_problems(addresses, self._policy)
        if problems:
            return AttemptResult(None, short_error(f"refused: {'; '.join(problems)}"))
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
                response.close()  # the body is the receiver's business: never read
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return AttemptResult(None, short_error(f"{type(error).__name__}: {error}"))
        if 200 <= status < 300:
            return AttemptResult(status)
        return AttemptResult(status, f"answered HTTP {status}")
