"""pg8000 connections: URL parsing, and a small pool that survives a database restart.

A Lambda container runs one invocation at a time and keeps one connection; the local cloud
runs many handlers on threads in one process, so the pool hands each thread its own.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import pg8000.native


def _cache_statement_parsing() -> None:
    """pg8000 turns a statement's ``:name`` parameters into ``$n`` on every ``run`` (a pure
    Python scan, ~0.1-0.3 ms per statement); the project's statements are constant strings, so
    each is parsed once per process. The parse is a pure function of the SQL text."""
    native: Any = pg8000.native
    if not hasattr(native.to_statement, "cache_info"):
        native.to_statement = functools.lru_cache(maxsize=4096)(native.to_statement)


_cache_statement_parsing()

# Errors after which a connection is dropped instead of returned to the pool.
BROKEN_CONNECTION_ERRORS = (pg8000.native.InterfaceError, OSError, ConnectionError)


# libpq's sslmode values this client honours. "disable" (the default here, as locally) sends
# plain TCP; "require" encrypts without checking the server; "verify-full" checks the chain
# against `sslrootcert` (a PEM file, or "system": the default trust store) and the host name.
SSL_MODES = ("disable", "require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class ConnectionParams:
    user: str
    password: str | None
    host: str
    port: int
    database: str
    sslmode: str = "disable"
    sslrootcert: str | None = None

    @classmethod
    def from_url(cls, url: str) -> ConnectionParams:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"not a postgresql:// URL: {parts.scheme}://...")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        sslmode = query.get("sslmode", "disable")
        if sslmode not in SSL_MODES:
            raise ValueError(f"sslmode={sslmode} is not one of {', '.join(SSL_MODES)}")
        return cls(
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            database=(parts.path or "/postgres").lstrip("/") or "postgres",
            sslmode=sslmode,
            sslrootcert=query.get("sslrootcert"),
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.sslmode == "disable":
            return None
        if self.sslmode == "require":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        cafile = None if self.sslrootcert in (None, "system") else self.sslrootcert
        context = ssl.create_default_context(cafile=cafile)
        if cafile is None:
            _load_certifi(context)
        context.check_hostname = self.sslmode == "verify-full"
        context.verify_mode = ssl.CERT_REQUIRED
        return context


def _load_certifi(context: ssl.SSLContext) -> None:
    """Adds certifi's bundle (in the layer) to the system's: RDS Proxy presents an Amazon
    Trust Services certificate, which both know; a slim image may have no system bundle."""
    with contextlib.suppress(ImportError):
        import certifi

        context.load_verify_locations(cafile=certifi.where())


def with_credentials(url: str, user: str, password: str) -> str:
    """The same server and database as `url` (and TLS settings), logged in as another role."""
    parts = urlsplit(url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect(url: str, *, timeout: float = 10.0) -> pg8000.native.Connection:
    params = ConnectionParams.from_url(url)
    return pg8000.native.Connection(
        user=params.user,
        password=params.password,
        host=params.host,
        port=params.port,
        database=params.database,
        timeout=timeout,
        application_name="crm",
        ssl_context=params.ssl_context(),
    )


# A pooled connection idle for longer than this is checked with one round trip before use:
# the server may have restarted (or a proxy dropped it) meanwhile, and a request should not
# fail on a connection that died while nobody used it. Busy connections are not checked.
IDLE_CHECK_SECONDS = 5.0


class ConnectionPool:
    """At most `size` open connections; a connection that failed is discarded, not reused,
    and one that sat idle is checked before it is handed out again."""

    def __init__(self, url: str, size: int = 4) -> None:
        self._url = url
        self._idle: queue.LifoQueue[tuple[pg8000.native.Connection, float]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self) -> Iterator[pg8000.native.Connection]:
        self._slots.acquire()
        conn: pg8000.native.Connection | None = None
        try:
            conn = self._take()
            yield conn
        except BROKEN_CONNECTION_ERRORS:
            _close_quietly(conn)
            conn = None
            raise
        finally:
            if conn is not None:
                self._idle.put((conn, time.monotonic()))
            self._slots.release()

    def _take(self) -> pg8000.native.Connection:
        while True:
            try:
                conn, idle_since = self._idle.get_nowait()
            except queue.Empty:
                return connect(self._url)
            if time.monotonic() - idle_since < IDLE_CHECK_SECONDS:
                return conn
            try:
                conn.run("SELECT 1")
                return conn
            except BROKEN_CONNECTION_ERRORS:
                _close_quietly(conn)

    def close(self) -> None:
        while True:
            try:
                conn, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            _close_quietly(conn)


def _close_quietly(conn: pg8000.native.Connection | None) -> None:
    if conn is None:
        return
    # The connection is being discarded because it is broken; closing may fail too.
    with contextlib.suppress(Exception):
        conn.close()
