"""Which errors mean "a dependency is down right now" rather than "this message is bad".

A consumer must not spend a message's retries (and dead-letter it) because the database
restarted: such an error fails the whole batch instead, which the event source redelivers
after a back-off. Everything else counts against the one message that raised it.

Client libraries are looked up in sys.modules instead of imported: a function pays at cold
start only for the clients it actually loaded.
"""

from __future__ import annotations

import sys

# SQLSTATE classes / codes of a database that is unreachable, restarting or overloaded, or of
# a transaction that only lost a race (a retry of the batch succeeds).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P", "40001", "40P01", "55P03")
_TRANSIENT_HTTP_STATUSES = {429, 502, 503, 504}
_TRANSIENT_AWS_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "InternalServerError",
    "InternalFailure",
}


def is_transient(error: BaseException) -> bool:
    """True when `error`, or any error it was raised from, is an outage of a dependency."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_transient_one(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_transient_one(error: BaseException) -> bool:
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    if isinstance(error, OSError) and error.errno is not None:
        return True  # socket-level failures (refused, reset, unreachable, ...)
    pg8000 = sys.modules.get("pg8000.exceptions")
    if pg8000 is not None:
        if isinstance(error, pg8000.InterfaceError):
            return True  # the connection broke or could not be made
        if isinstance(error, pg8000.DatabaseError):
            code = _sqlstate(error)
            return code is not None and code.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    pika_exceptions = sys.modules.get("pika.exceptions")
    if pika_exceptions is not None and isinstance(
        error, (pika_exceptions.AMQPConnectionError, pika_exceptions.AMQPChannelError)
    ):
        return True
    opensearch = sys.modules.get("opensearchpy.exceptions")
    if opensearch is not None:
        if isinstance(error, opensearch.ConnectionError):
            return True  # includes ConnectionTimeout
        if isinstance(error, opensearch.TransportError):
            return error.status_code in _TRANSIENT_HTTP_STATUSES
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        if isinstance(error, (botocore.EndpointConnectionError, botocore.ConnectionClosedError)):
            return True
        if isinstance(error, botocore.ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return code in _TRANSIENT_AWS_CODES or status in _TRANSIENT_HTTP_STATUSES
    return False


def _sqlstate(error: BaseException) -> str | None:
    if error.args and isinstance(error.args[0], dict):
        code = error.args[0].get("C")
        return str(code) if code else None
    return None
