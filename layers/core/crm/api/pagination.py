"""Cursor pagination for list routes: `limit` and `cursor` query parameters, and the
`{"items": [...], "next_cursor": ...}` body.

A cursor is the keyset (sort value, id) of the last item of a page, typed and bound to the list
and sort order it came from (its scope), as base64url JSON. It is validated, not signed: it
only holds values the caller has already seen, and what any cursor can reach is bounded by the
tenant (RLS) and the caller's filters. A malformed cursor, or one minted by another list or
sort order, is a 422 problem+json.

A list route:

    @app.get("/things")
    def list_things(limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None):
        scope = "things:created_at:desc"
        after = decode_keyset(cursor, scope, SortKind.DATETIME)
        page = service(..., PageRequest(limit, after))
        return json_response(200, page_body(page, Thing.to_dict, scope, SortKind.DATETIME))

A list whose tie-break is a bigint (the audit log) says so: `tie_break=TieBreak.BIGINT`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler.openapi.params import Query

from crm.domain.errors import ValidationFailed
from crm.domain.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Keyset, Page, SortValue

T = TypeVar("T")

CURSOR_FORMAT = 1
# Long enough for any cursor this module makes (scope + value + id; a text value such as a
# 200-character name of \uXXXX-escaped letters is the longest: ~1.7k chars of base64), short
# enough that decoding a hostile one costs nothing.
CURSOR_MAX_LENGTH = 2048
MAX_DECIMAL_EXPONENT = 30
# audit_log.id is a bigint: a larger number would make Postgres fail instead of paging.
BIGINT_MAX = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"page size, 1-{MAX_PAGE_SIZE}")]
Cursor = Annotated[
    str | None,
    Query(max_length=CURSOR_MAX_LENGTH, description="`next_cursor` of the previous page"),
]

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Cursor",
    "Limit",
    "SortKind",
    "TieBreak",
    "decode_keyset",
    "encode_keyset",
    "page_body",
]


class SortKind(StrEnum):
    """The type of the sort value a cursor carries."""

    DATETIME = "datetime"
    DATE = "date"
    DECIMAL = "decimal"
    TEXT = "text"


class TieBreak(StrEnum):
    """The type of the row id a cursor carries (JSON string for a UUID, number for a bigint)."""

    UUID = "uuid"
    BIGINT = "bigint"


def encode_keyset(scope: str, kind: SortKind, keyset: Keyset) -> str:
    value = "" if keyset.value is None else _render(kind, keyset.value)
    id_ = keyset.id if isinstance(keyset.id, int) else str(keyset.id)
    raw = json.dumps([CURSOR_FORMAT, scope, kind.value, value, id_], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_keyset(
    cursor: str | None,
    scope: str,
    kind: SortKind,
    *,
    nullable: bool = False,
    tie_break: TieBreak = TieBreak.UUID,
) -> Keyset | None:
    """The keyset inside `cursor` (None without a cursor: the first page); 422 unless the
    cursor was made by `encode_keyset` for the same scope and kind."""
    if cursor is None:
        return None
    fmt, cursor_scope, cursor_kind, value, id_ = _decode_parts(cursor)
    if fmt != CURSOR_FORMAT or cursor_scope != scope or cursor_kind != kind.value:
        raise invalid_cursor("this cursor belongs to another list or sort order")
    if not isinstance(value, str):
        raise invalid_cursor()
    key_id = _parse_id(tie_break, id_)
    if value == "":
        if not nullable:
            raise invalid_cursor()
        return Keyset(None, key_id)
    return Keyset(_parse(kind, value), key_id)


def page_body(
    page: Page[T], render: Callable[[T], dict[str, Any]], scope: str, kind: SortKind
) -> dict[str, Any]:
    return {
        "items": [render(item) for item in page.items],
        "next_cursor": encode_keyset(scope, kind, page.next) if page.next else None,
    }


def invalid_cursor(detail: str = "the cursor is not one this API returned") -> ValidationFailed:
    return ValidationFailed(
        detail, [{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}]
    )


def _decode_parts(cursor: str) -> list[Any]:
    """The five parts of the base64url JSON array `encode_keyset` makes, or a 422."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise invalid_cursor() from error
    if not isinstance(parts, list) or len(parts) != 5:
        raise invalid_cursor()
    return parts


def _parse_id(tie_break: TieBreak, id_: Any) -> uuid.UUID | int:
    if tie_break is TieBreak.BIGINT:
        # bool is an int to Python, not to JSON: `true` is not an id.
        if isinstance(id_, int) and not isinstance(id_, bool) and abs(id_) <= BIGINT_MAX:
            return id_
        raise invalid_cursor()
    if not isinstance(id_, str):
        raise invalid_cursor()
    try:
        return uuid.UUID(id_)
    except ValueError as error:
        raise invalid_cursor() from error


def _render(kind: SortKind, value: SortValue) -> str:
    if kind is SortKind.DATETIME and isinstance(value, datetime):
        return value.isoformat()
    if kind is SortKind.DATE and isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if kind is SortKind.DECIMAL and isinstance(value, Decimal):
        return str(value)
    if kind is SortKind.TEXT and isinstance(value, str):
        return value
    raise TypeError(f"a {kind} cursor cannot hold {value!r}")


def _parse(kind: SortKind, value: str) -> SortValue:
    try:
        if kind is SortKind.DATETIME:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("naive timestamp")
            return moment
        if kind is SortKind.DATE:
            return date.fromisoformat(value)
        if kind is SortKind.TEXT:
            return value
        amount = Decimal(value)
        # Bounded like the numeric columns it is compared with (a huge exponent would make
        # Postgres fail instead of returning an empty page).
        if not amount.is_finite() or abs(amount.adjusted()) > MAX_DECIMAL_EXPONENT:
            raise ValueError("not an amount")
        return amount
    except (ValueError, InvalidOperation) as error:
        raise invalid_cursor() from error
