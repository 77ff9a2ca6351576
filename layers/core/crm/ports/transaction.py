"""Ports: the transaction every unit of work is: entered, events added, committed (or rolled
back on exit). Context modules build their narrow units of work on it."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from crm.domain.events import CloudEvent


class TransactionScope(Protocol):
    """One transaction scoped to one tenant. Events added here reach the outbox atomically."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def add_event(self, event: CloudEvent) -> None: ...
    def add_events(self, events: list[CloudEvent]) -> None:
        """Many events at once, each about its own aggregate."""
        ...

    def commit(self) -> None: ...
