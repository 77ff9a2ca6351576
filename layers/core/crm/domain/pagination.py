"""Keyset pagination, the domain half: where a page starts and what a page holds. The API
turns a `Keyset` into an opaque cursor and back (crm.api.pagination, built on
crm.domain.cursors' encoding)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

from crm.domain.cursors import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

T = TypeVar("T")

# What a list can be sorted by: timestamps, dates, numbers, text (names). None sorts after
# every value in ascending order (and so before every value in descending order).
SortValue = datetime | date | Decimal | str | None


@dataclass(frozen=True)
class Keyset:
    """The position after the last row of a page: its sort value and its id (the tie-break)."""

    value: SortValue
    id: uuid.UUID


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
