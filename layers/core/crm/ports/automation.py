"""Ports of automations, their runs and action ledger, run inspection, and the workflow engine."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Protocol

from crm.domain.pagination import Keyset
from crm.domain.run_inspection import ExecutionInfo, RunDetail, RunFilters, RunRecord


class AutomationRunRecords(Protocol):
    """Reads of automation runs (crm.services.automation_runs) and their cached outcome."""

    def newest(
        self,
        automation_id: uuid.UUID,
        filters: RunFilters,
        after: Keyset | None,
        limit: int,
        *,
        also_running: bool = False,
    ) -> list[RunRecord]: ...
    def get(self, run_id: uuid.UUID) -> RunDetail | None: ...
    def record_outcome(self, run: RunRecord) -> bool:
        """Cache a finished run's outcome; False when it was recorded already."""
        ...


class AutomationRunStats(Protocol):
    """Aggregates of automation runs for GET /reports/automations."""

    def counts(
        self, start: datetime, end: datetime
    ) -> list[tuple[uuid.UUID, str, date, str, int]]: ...
    def still_running(self, start: datetime, end: datetime, limit: int) -> list[RunRecord]: ...


class AutomationRepository(Protocol):
    """Automations: the editable draft and the numbered, immutable published versions."""

    def add(
        self,
        automation_id: uuid.UUID,
        name: str,
        trigger_event: str,
        draft: dict[str, Any],
        created_by: uuid.UUID | None,
    ) -> None: ...
    def get(
        self, automation_id: uuid.UUID, *, for_update: bool = False
    ) -> dict[str, Any] | None: ...
    def find(
        self,
        *,
        status: str | None,
        trigger_kind: str | None,
        name_contains: str | None,
        after: Keyset | None,
        limit: int,
    ) -> list[dict[str, Any]]: ...
    def update(
        self,
        automation_id: uuid.UUID,
        *,
        name: str,
        draft: dict[str, Any],
        trigger_event: str,
        status: str,
        at: datetime,
    ) -> None: ...
    def add_version(
        self,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        definition: dict[str, Any],
        asl: dict[str, Any],
        published_by: uuid.UUID | None,
    ) -> int: ...
    def make_live(self, automation_id: uuid.UUID, version: int) -> None: ...
    def versions(self, automation_id: uuid.UUID) -> list[dict[str, Any]]: ...
    def version(self, automation_id: uuid.UUID, version: int) -> dict[str, Any] | None: ...
    def active_for_trigger(self, trigger_event: str) -> list[dict[str, Any]]: ...
    def set_state_machine_arn(self, version_id: uuid.UUID, arn: str) -> None: ...


class AutomationRunRepository(Protocol):
    def add_if_absent(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
    ) -> bool: ...
    def set_execution_arn(self, run_id: uuid.UUID, arn: str) -> None: ...


class ActionLedger(Protocol):
    def claim(self, key: str, run_id: uuid.UUID, step_id: str, kind: str) -> dict[str, Any] | None:
        """Reserve `key`; None when reserved now, the earlier result when it was done before."""
        ...

    def record_result(self, key: str, result: dict[str, Any]) -> None: ...


class WorkflowEngine(Protocol):
    def ensure_state_machine(
        self, name: str, definition: dict[str, Any], machine_type: str = "STANDARD"
    ) -> str:
        """The state machine `name` (created when missing); `machine_type` EXPRESS or
        STANDARD."""
        ...

    def start(
        self, state_machine_arn: str, execution_name: str, payload: dict[str, Any]
    ) -> str: ...


class ExecutionInspector(Protocol):
    """Reads executions back from the workflow engine."""

    def describe(self, execution_arn: str) -> ExecutionInfo | None: ...
    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every history event of the execution, oldest first (all pages)."""
        ...
