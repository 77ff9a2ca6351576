"""Keyset pagination, the domain half: where a page starts and what a page holds. The API
turns a `Keyset` into an opaque cursor and back (crm.api.pagination); services and
repositories only see `PageRequest`, `Keyset` and `Page`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# What a list can be sorted by: timestamps, dates, numbers, text (names). None sorts after
# every value in ascending order (and so before every value in descending order).
SortValue = datetime | date | Decimal | str | None

# The tie-break is the row's primary key: a UUID in every table but audit_log, whose id is a
# bigint (an append-only log ordered by insertion). One Keyset for both rather than a second
# keyset type for one list: the cursor codec, `Page.from_rows` and the "(value, id) < (...)"
# SQL are the same whatever the key is; only the decoding side must know which kind a list
# expects, so a forged cursor cannot hand a UUID list an integer (crm.api.pagination.TieBreak).
RowId = uuid.UUID | int


@dataclass(frozen=True)
class Keyset:
    """The position after the last row of a page: its sort value and its id (the tie-break)."""

    value: SortValue
    id: RowId


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_PAGE_SIZE
    after: Keyset | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be 1..{MAX_PAGE_SIZE}, got {self.limit}")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: Keyset | None  # None: this is the last page

    @classmethod
    def from_rows(cls, rows: list[T], limit: int, keyset_of: Callable[[T], Keyset]) -> Page[T]:
        """`rows` is what a query with LIMIT limit + 1 returned: one extra row means more."""
        items = rows[:limit]
        more = len(rows) > limit
        return cls(items=items, next=keyset_of(items[-1]) if more and items else None)
