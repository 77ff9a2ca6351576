"""Ports of the automation actions that reach beyond a record: the owner rotation of
round-robin assignment, text messages, and the tasks and notifications the messaging work
will own.

`TaskBoard` and `Notifier` are filled today by crm.services.automation_actions.TimelineEffects,
which writes a timeline entry on the record (a history row by the automation) in the step's
transaction; the messaging work replaces it with real tasks and notifications without touching
the actions. Both receive the step's unit of work, so whatever they write commits with the
step's ledger row (exactly once per run and step).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from crm.domain.records import RecordKind

if TYPE_CHECKING:
    from crm.ports import UnitOfWork
    from crm.services.request_context import RequestContext


class OwnerRotations(Protocol):
    """Persistent round-robin positions, one per (automation, step), and the users they pick
    from."""

    def lock_position(self, automation_id: uuid.UUID, step_id: str) -> int:
        """The rotation's next position, its row locked until the transaction ends (created
        at 0 when missing)."""
        ...

    def set_position(self, automation_id: uuid.UUID, step_id: str, position: int) -> None: ...

    def active_users(self, user_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Those of `user_ids` that are active users of the tenant, in the given order."""
        ...

    def active_users_with_role(self, role: str) -> list[uuid.UUID]:
        """The tenant's active users with `role`, in a stable order (by id)."""
        ...


class AutomationChains(Protocol):
    """What the chain rules read and write (cycle check at save, depth limit when routing)."""

    def active_workflows(self) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
        """(automation id, name, current definition) of the tenant's active automations."""
        ...

    def chain_depth_limit(self) -> int: ...

    def version_definition(
        self, automation_id: uuid.UUID, version: int | None
    ) -> tuple[int, dict[str, Any]] | None:
        """(version, definition) of one stored version; `version` None: the newest."""
        ...

    def add_skipped_run(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
        reason: str,
    ) -> bool:
        """Record a run the router did not start; False when the run exists already."""
        ...


class EventArchive(Protocol):
    """A tenant's past events, kept for its plan's retention (backtests read them)."""

    def between(
        self, event_type: str, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]]: ...

    def purge_expired(self, now: datetime) -> int: ...


class ArchiveDirectory(Protocol):
    """Across tenants (the housekeeping role): which tenants have archived events older than
    a moment."""

    def tenants_with_archive_before(self, before: datetime) -> list[uuid.UUID]: ...


@dataclass(frozen=True)
class RecordAbout:
    """The record a task or notification is about."""

    kind: RecordKind
    id: uuid.UUID


class TaskBoard(Protocol):
    def create_task(
        self,
        uow: UnitOfWork,
        record: RecordAbout,
        *,
        title: str,
        assignee_id: uuid.UUID,
        due_at: datetime | None,
        context: RequestContext,
    ) -> dict[str, Any]:
        """Create a task for `assignee_id`; returns what the step's result records."""
        ...


class Notifier(Protocol):
    def notify(
        self,
        uow: UnitOfWork,
        record: RecordAbout,
        *,
        user_id: uuid.UUID,
        message: str,
        context: RequestContext,
    ) -> dict[str, Any]:
        """Notify `user_id`; returns what the step's result records."""
        ...


class SmsSender(Protocol):
    def send(self, phone_number: str, message: str) -> str:
        """Hand one text message to the provider; returns its message id. Raises
        crm.domain.errors.UpstreamUnavailable when the provider cannot take it now."""
        ...
