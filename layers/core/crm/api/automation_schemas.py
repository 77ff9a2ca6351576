"""Request bodies of the automation lifecycle and run-control routes."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from crm.automation.model import Workflow


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AutomationPatch(_Body):
    """Edits the draft: the live version changes only when the draft is published."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    workflow: Workflow | None = None

    @model_validator(mode="after")
    def _something(self) -> AutomationPatch:
        if self.name is None and self.workflow is None:
            raise ValueError("give 'name' and/or 'workflow'")
        return self


class EnrolIn(_Body):
    """The records to enrol (of the kind the trigger's events are about)."""

    record_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


class BulkRetryIn(_Body):
    """Retry the automation's failed runs created in [created_after, created_before)."""

    created_after: AwareDatetime
    created_before: AwareDatetime
