"""Request bodies of POST /automations/{id}/simulate and POST /automations/{id}/backtest."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from crm.automation.model import TRIGGER_EVENT_PATTERN, Action


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SimulatedEventIn(_Body):
    """A CloudEvent-like body: its type, its data and (for record actions) its subject,
    e.g. `leads/<id>`."""

    type: str = Field(pattern=TRIGGER_EVENT_PATTERN, max_length=128)
    data: dict[str, Any]
    subject: str = Field(default="", max_length=200)


class RecordRefIn(_Body):
    kind: Literal["lead", "contact", "deal"]
    id: uuid.UUID


class SimulateIn(_Body):
    """Exactly one of `event` (inline) or `record` (an event built from a stored record)."""

    event: SimulatedEventIn | None = None
    record: RecordRefIn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SimulateIn:
        if (self.event is None) == (self.record is None):
            raise ValueError("give exactly one of 'event' and 'record'")
        return self


class ManualActionIn(_Body):
    """POST /actions: one action config of the workflow model, on one record."""

    action: Action
    record: RecordRefIn


class BacktestIn(_Body):
    """A period of the tenant's archived events (`since` inclusive, `until` exclusive) replayed
    through a version of the workflow (`"draft"`: the newest stored version)."""

    version: int | Literal["draft"] = "draft"
    since: AwareDatetime
    until: AwareDatetime
    limit: int = Field(default=100, ge=1, le=500)
