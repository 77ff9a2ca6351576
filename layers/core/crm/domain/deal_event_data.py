"""The `data` models of the pipeline and deal events, registered in crm.domain.event_catalog
(the unit of work validates every event against them)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.pipelines import StageKind


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldChange(_Data):
    old: Any
    new: Any


class StageSnapshot(_Data):
    id: uuid.UUID
    name: str
    probability: int = Field(ge=0, le=100)
    kind: StageKind
    position: int = Field(ge=0)


class PipelineSnapshot(_Data):
    id: uuid.UUID
    name: str
    is_default: bool
    archived: bool
    archived_at: datetime | None
    stages: list[StageSnapshot]
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1)


class PipelineCreatedData(_Data):
    pipeline: PipelineSnapshot


class PipelineUpdatedData(_Data):
    pipeline: PipelineSnapshot
    changes: dict[str, FieldChange] = Field(description="field -> {old, new}")


class DealSnapshot(_Data):
    """The deal as the change that emitted the event wrote it."""

    id: uuid.UUID
    title: str
    value: str = Field(pattern=r"^\d+\.\d{2}$", description="decimal string, two places")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")
    probability: int = Field(ge=0, le=100, description="effective: the override or the stage's")
    probability_override: int | None
    expected_close_date: date | None
    owner_id: uuid.UUID | None
    lead_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    status: StageKind
    lost_reason: str | None
    stage_entered_at: datetime
    closed_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int = Field(ge=1)


class DealData(_Data):
    deal: DealSnapshot


class DealUpdatedData(_Data):
    deal: DealSnapshot
    changes: dict[str, FieldChange] = Field(description="field -> {old, new}")


class StageRef(_Data):
    id: uuid.UUID
    name: str
    kind: StageKind
    pipeline_id: uuid.UUID


class DealStageChangedData(_Data):
    deal: DealSnapshot
    changes: dict[str, FieldChange] = Field(description="field -> {old, new}")
    from_stage: StageRef
    to_stage: StageRef
    reason: str | None
    seconds_in_previous_stage: float = Field(ge=0)


class DealLostData(_Data):
    deal: DealSnapshot
    reason: str
