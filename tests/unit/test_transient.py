"""Outages fail the batch; bad messages fail alone. The classification decides which."""

from __future__ import annotations

import pg8000.native
import pytest
from crm.adapters.transient import is_transient
from crm.domain.errors import TenantNotSet
from opensearchpy.exceptions import ConnectionError as SearchConnectionError
from opensearchpy.exceptions import RequestError, TransportError


def _pg(code: str) -> pg8000.native.DatabaseError:
    return pg8000.native.DatabaseError({"C": code, "M": "x"})


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError("timed out"),
        pg8000.native.InterfaceError("network error"),
        _pg("57P01"),  # admin shutdown: the server is restarting
        _pg("08006"),  # connection failure
        _pg("40001"),  # serialization failure: a retry succeeds
        SearchConnectionError("N/A", "refused", None),
        TransportError(503, "unavailable", {}),
    ],
)
def test_outages_are_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad data"),
        KeyError("lead"),
        _pg("23505"),  # unique violation: the data, not the database
        _pg("22P02"),  # invalid text representation
        RequestError(400, "mapper_parsing_exception", {}),
    ],
)
def test_bad_messages_are_not(error: BaseException) -> None:
    assert not is_transient(error)


def test_an_outage_behind_a_wrapping_error_is_found() -> None:
    try:
        try:
            raise pg8000.native.InterfaceError("network error")
        except pg8000.native.InterfaceError as cause:
            raise TenantNotSet("could not scope the transaction") from cause
    except TenantNotSet as wrapped:
        assert is_transient(wrapped)
