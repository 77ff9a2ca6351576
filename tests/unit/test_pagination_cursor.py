"""The cursor codec of list routes: what it hands out comes back as the same keyset, and
anything else (garbage, tampering, another list's cursor) is a 422, never a 500."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from crm.api.pagination import SortKind, TieBreak, decode_keyset, encode_keyset, page_body
from crm.domain.errors import ValidationFailed
from crm.domain.pagination import Keyset, Page, PageRequest

SCOPE = "deals:created_at:desc"
ID = uuid.UUID("6f1c1f1e-8a3b-4c1d-9e2f-0a1b2c3d4e5f")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (SortKind.DATETIME, datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)),
        (SortKind.DATETIME, datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=-3)))),
        (SortKind.DATE, date(2026, 12, 31)),
        (SortKind.DECIMAL, Decimal("1234567890.05")),
        (SortKind.DECIMAL, Decimal("0.00")),
    ],
)
def test_a_cursor_returns_the_keyset_it_was_made_from(kind: SortKind, value: object) -> None:
    keyset = Keyset(value, ID)  # type: ignore[arg-type]
    cursor = encode_keyset(SCOPE, kind, keyset)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    decoded = decode_keyset(cursor, SCOPE, kind)
    assert decoded is not None and decoded == keyset and type(decoded.value) is type(value)


def test_no_cursor_is_the_first_page() -> None:
    assert decode_keyset(None, SCOPE, SortKind.DATETIME) is None


def test_a_null_sort_value_survives_only_where_the_column_is_nullable() -> None:
    cursor = encode_keyset(SCOPE, SortKind.DATE, Keyset(None, ID))
    assert decode_keyset(cursor, SCOPE, SortKind.DATE, nullable=True) == Keyset(None, ID)
    with pytest.raises(ValidationFailed):
        decode_keyset(cursor, SCOPE, SortKind.DATE)


def _invalid(cursor: str, kind: SortKind = SortKind.DATETIME) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        decode_keyset(cursor, SCOPE, kind)
    assert caught.value.errors[0]["loc"] == ["query", "cursor"]
    return caught.value


def _forged(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "%%%%",
        "////",
        "AAAA",
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        _forged({"a": 1}),
        _forged(1, SCOPE, "datetime", "2026-01-01T00:00:00+00:00"),  # too short
        _forged(2, SCOPE, "datetime", "2026-01-01T00:00:00+00:00", str(ID)),  # other format
        _forged(1, SCOPE, "datetime", "2026-01-01T00:00:00", str(ID)),  # naive time
        _forged(1, SCOPE, "datetime", "yesterday", str(ID)),
        _forged(1, SCOPE, "datetime", "2026-01-01T00:00:00+00:00", "not-a-uuid"),
        _forged(1, SCOPE, "datetime", 12345, str(ID)),
        _forged(1, SCOPE, "datetime", "2026-01-01T00:00:00+00:00", 42),
        _forged(1, SCOPE, "datetime", None, str(ID)),
        "[" * 300,
    ],
)
def test_malformed_cursors_are_rejected(cursor: str) -> None:
    _invalid(cursor)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "1E+400", "abc", "1e-40"])
def test_amounts_that_no_column_holds_are_rejected(amount: str) -> None:
    _invalid(_forged(1, SCOPE, "decimal", amount, str(ID)), SortKind.DECIMAL)


def test_a_cursor_of_another_list_or_order_is_rejected() -> None:
    keyset = Keyset(datetime(2026, 1, 1, tzinfo=UTC), ID)
    other_order = encode_keyset("deals:created_at:asc", SortKind.DATETIME, keyset)
    assert "another list" in _invalid(other_order).detail
    other_kind = encode_keyset(SCOPE, SortKind.DATETIME, keyset)
    with pytest.raises(ValidationFailed):
        decode_keyset(other_kind, SCOPE, SortKind.DATE)


def test_a_tampered_cursor_is_rejected_or_stays_a_well_formed_position() -> None:
    """Flipping characters either breaks the cursor (422) or yields another well-typed
    keyset: the cursor is validated, not trusted, and reaches nothing the caller's tenant and
    filters do not already allow."""
    cursor = encode_keyset(SCOPE, SortKind.DATETIME, Keyset(datetime(2026, 1, 1, tzinfo=UTC), ID))
    for index in range(len(cursor)):
        for replacement in "A_-z0":
            tampered = cursor[:index] + replacement + cursor[index + 1 :]
            try:
                keyset = decode_keyset(tampered, SCOPE, SortKind.DATETIME)
            except ValidationFailed:
                continue
            assert keyset is not None
            assert isinstance(keyset.value, datetime) and keyset.value.tzinfo is not None
            assert isinstance(keyset.id, uuid.UUID)


@pytest.mark.parametrize(
    "cursor",
    [
        _forged("2026-01-01T00:00:00+00:00", str(ID)),  # the users list's
        _forged("2026-01-01T00:00:00+00:00", 42),  # the audit log's
    ],
)
def test_a_cursor_minted_before_the_shared_codec_is_rejected(cursor: str) -> None:
    """The users and audit-log lists used to hand out bare (time, id) cursors: a client
    still holding one gets a 422 and starts over from the first page."""
    _invalid(cursor)
    with pytest.raises(ValidationFailed):
        decode_keyset(cursor, SCOPE, SortKind.DATETIME, tie_break=TieBreak.BIGINT)


AUDIT_SCOPE = "audit-logs:occurred_at:desc"


@pytest.mark.parametrize("row_id", [1, 9_223_372_036_854_775_807])
def test_a_bigint_tie_break_round_trips_as_an_int(row_id: int) -> None:
    keyset = Keyset(datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC), row_id)
    cursor = encode_keyset(AUDIT_SCOPE, SortKind.DATETIME, keyset)
    decoded = decode_keyset(cursor, AUDIT_SCOPE, SortKind.DATETIME, tie_break=TieBreak.BIGINT)
    assert decoded == keyset and decoded is not None and type(decoded.id) is int


@pytest.mark.parametrize("row_id", [str(ID), "42", 4.2, True, None, 2**63, -(2**63) - 1, [42]])
def test_a_bigint_tie_break_takes_only_an_int_a_bigint_holds(row_id: object) -> None:
    cursor = _forged(1, AUDIT_SCOPE, "datetime", "2026-01-01T00:00:00+00:00", row_id)
    with pytest.raises(ValidationFailed):
        decode_keyset(cursor, AUDIT_SCOPE, SortKind.DATETIME, tie_break=TieBreak.BIGINT)


def test_a_uuid_list_refuses_a_bigint_cursor_and_the_reverse() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with_int = encode_keyset(SCOPE, SortKind.DATETIME, Keyset(at, 42))
    _invalid(with_int)
    with_uuid = encode_keyset(SCOPE, SortKind.DATETIME, Keyset(at, ID))
    with pytest.raises(ValidationFailed):
        decode_keyset(with_uuid, SCOPE, SortKind.DATETIME, tie_break=TieBreak.BIGINT)


def test_page_body_hands_out_a_cursor_only_when_there_is_more() -> None:
    rows = [Keyset(datetime(2026, 1, d, tzinfo=UTC), uuid.uuid4()) for d in range(1, 4)]
    more = Page.from_rows(rows, 2, lambda k: k)
    last = Page.from_rows(rows[:2], 2, lambda k: k)
    render = lambda k: {"id": str(k.id)}  # noqa: E731
    body = page_body(more, render, SCOPE, SortKind.DATETIME)
    assert [item["id"] for item in body["items"]] == [str(rows[0].id), str(rows[1].id)]
    assert decode_keyset(body["next_cursor"], SCOPE, SortKind.DATETIME) == rows[1]
    assert page_body(last, render, SCOPE, SortKind.DATETIME)["next_cursor"] is None


@pytest.mark.parametrize("limit", [0, -1, 201])
def test_a_page_request_is_bounded(limit: int) -> None:
    with pytest.raises(ValueError):
        PageRequest(limit)
