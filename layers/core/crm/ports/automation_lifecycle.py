"""Ports of operating automation runs: the runs' rows as run control needs them, and stopping
an execution in the workflow engine."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol


class RunControlRepository(Protocol):
    """automation_runs as the router's policies and run control (retry, cancel) read them."""

    def add_skipped(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
        reason: str,
        subject: str | None,
        event_type: str,
    ) -> bool: ...
    def has_run_for(self, automation_id: uuid.UUID, subject: str) -> bool:
        """Whether any run (other than skipped ones) of the automation was for this record."""
        ...

    def running_for(self, automation_id: uuid.UUID, subject: str) -> list[dict[str, Any]]: ...
    def running(self, automation_id: uuid.UUID) -> list[dict[str, Any]]: ...
    def get(self, run_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None: ...
    def failed_between(
        self, automation_id: uuid.UUID, start: datetime, end: datetime, limit: int
    ) -> list[uuid.UUID]: ...
    def finish(
        self, run_id: uuid.UUID, status: str, reason: str | None, at: datetime | None
    ) -> bool:
        """Record a running run's outcome; False (nothing written) when it was not running."""
        ...

    def running_since(self, before: datetime, limit: int) -> list[dict[str, Any]]: ...
    def restart(self, run_id: uuid.UUID, execution_name: str, execution_arn: str) -> int:
        """The run runs again as its next attempt; returns that attempt's number."""
        ...


class ExecutionStopper(Protocol):
    def stop(self, execution_arn: str, cause: str) -> bool:
        """Stop a running execution (True); False when it had ended already."""
        ...


class RunningRunsDirectory(Protocol):
    """Across tenants (the housekeeping role): which tenants have runs cached as running."""

    def tenants_with_running_runs(self, before: datetime) -> list[uuid.UUID]: ...
