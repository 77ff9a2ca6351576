"""Health checks of the supervised servers (also used for external URLs)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable


def check_postgres(url: str) -> None:
    from urllib.parse import unquote, urlsplit

    import pg8000.dbapi

    u = urlsplit(url)
    conn = pg8000.dbapi.connect(
        user=unquote(u.username or "postgres"),
        password=unquote(u.password or "") or None,
        host=u.hostname or "127.0.0.1",
        port=u.port or 5432,
        database=unquote(u.path.lstrip("/")) or "postgres",
        timeout=5,
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()
    finally:
        conn.close()


def check_amqp(url: str) -> None:
    import pika

    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 3
    params.blocked_connection_timeout = 3
    params.stack_timeout = 5
    conn = pika.BlockingConnection(params)
    conn.close()


def check_opensearch(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    req = urllib.request.Request(url.rstrip("/") + "/_cluster/health", method="GET")  # noqa: S310
    with urllib.request.urlopen(req, timeout=3) as resp:  # noqa: S310 (scheme checked above)
        status = json.loads(resp.read())["status"]
    if status not in ("yellow", "green"):
        raise RuntimeError(f"cluster health is {status}")


def check_mailpit(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    req = urllib.request.Request(url.rstrip("/") + "/readyz", method="GET")  # noqa: S310
    with urllib.request.urlopen(req, timeout=3) as resp:  # noqa: S310 (scheme checked above)
        if resp.status != 200:
            raise RuntimeError(f"mailpit answered {resp.status}")


CHECKS: dict[str, Callable[[str], None]] = {
    "postgres": check_postgres,
    "rabbitmq": check_amqp,
    "opensearch": check_opensearch,
    "mailpit": check_mailpit,
}


def healthy(service: str, url: str) -> bool:
    try:
        CHECKS[service](url)
        return True
    except Exception:
        return False
