"""The lifecycle events of automation runs: crm.automation.run_started, run_succeeded,
run_failed, run_cancelled and run_exited, published through the outbox like every event (so
webhooks, the WebSocket and reports see them). They are not triggers: an automation reacting to
its own runs could loop."""

from __future__ import annotations

import uuid
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.events import CloudEvent

RUN_EVENT_PREFIX: Final = "crm.automation."
# A run's final status -> the event that says so (timed out and aborted runs failed too).
FINISHED_EVENTS: Final = {
    "succeeded": "crm.automation.run_succeeded",
    "failed": "crm.automation.run_failed",
    "timed_out": "crm.automation.run_failed",
    "aborted": "crm.automation.run_failed",
    "cancelled": "crm.automation.run_cancelled",
    "exited": "crm.automation.run_exited",
}


class AutomationRunData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: uuid.UUID
    automation_id: uuid.UUID
    version: int = Field(ge=1)
    status: str = Field(
        description="running, succeeded, failed, timed_out, aborted, cancelled or exited"
    )
    attempt: int = Field(ge=1, description="1, then one more per retry")
    trigger_event_id: uuid.UUID = Field(description="the event that started the run")
    record: str | None = Field(description="the subject of that event, e.g. leads/{lead id}")
    reason: str | None = Field(description="why it was cancelled or exited, when it was")


class RecordEnrolledData(BaseModel):
    """A record enrolled by hand: its snapshot under its kind, as a record event carries it,
    so the workflow's conditions and actions read it the same way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    automation_id: uuid.UUID
    enrolled_by: uuid.UUID | None
    lead: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    deal: dict[str, Any] | None = None


def run_event(
    event_type: str,
    tenant_id: uuid.UUID,
    run: dict[str, Any],
    *,
    status: str,
    reason: str | None = None,
) -> CloudEvent:
    """The event of one run; `run` has id, automation_id, version, event_id, attempt, subject."""
    data = AutomationRunData(
        run_id=run["id"],
        automation_id=run["automation_id"],
        version=run["version"],
        status=status,
        attempt=run.get("attempt") or 1,
        trigger_event_id=run["event_id"],
        record=run.get("subject"),
        reason=reason,
    )
    return CloudEvent(
        type=event_type,
        tenant_id=tenant_id,
        subject=f"automation-runs/{run['id']}",
        data=data.model_dump(mode="json"),
        causation_id=str(run["event_id"]),
    )
