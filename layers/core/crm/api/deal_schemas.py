"""Request bodies of the pipelines and deals API (pydantic; Powertools validates them and the
OpenAPI document is generated from them). Unknown fields are refused (422), strings are
stripped and bounded.

A PATCH body names only what changes: `model_fields_set` tells "absent" from an explicit
null, which clears a nullable field; an explicit null for a field that cannot be empty is a
422 on that field.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm.api.strict import StrictBool, StrictDate
from crm.domain.money import is_currency
from crm.domain.pipelines import MAX_STAGES, StageKind, StageSpec

MAX_VALUE_DIGITS = 16  # numeric(16, 2)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def named(self) -> dict[str, Any]:
        """The fields the request named, with their (validated) values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def _currency(value: str | None) -> str | None:
    if value is not None and not is_currency(value):
        raise ValueError("not an ISO 4217 currency code (e.g. USD, EUR, BRL)")
    return value


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null")
    return value


# ------------------------------------------------------------------ pipelines


class StageIn(_Body):
    id: uuid.UUID | None = Field(default=None, description="an existing stage (omit to add)")
    name: str = Field(min_length=1, max_length=60)
    kind: StageKind = StageKind.OPEN
    probability: int | None = Field(
        default=None, ge=0, le=100, description="required for open stages; won 100, lost 0"
    )

    def spec(self) -> StageSpec:
        return StageSpec(name=self.name, kind=self.kind, probability=self.probability, id=self.id)


class PipelineIn(_Body):
    name: str = Field(min_length=1, max_length=100)
    stages: list[StageIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STAGES,
        description="ordered; omit for the default stages",
    )
    is_default: StrictBool = False


class PipelinePatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    archived: StrictBool | None = None
    is_default: Literal[True] | None = Field(
        default=None, description="true makes this the default; the previous one stops being it"
    )
    stages: list[StageIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STAGES,
        description="the complete ordered list: by id to keep, without id to add; left out: removed",
    )

    @field_validator("name", "archived", "is_default", "stages")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return _not_null(value)


# ------------------------------------------------------------------ deals


class DealIn(_Body):
    title: str = Field(min_length=1, max_length=200)
    value: Decimal = Field(
        default=Decimal("0"), ge=0, max_digits=MAX_VALUE_DIGITS, decimal_places=2
    )
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="ISO 4217; default: the tenant's"
    )
    probability: int | None = Field(
        default=None, ge=0, le=100, description="overrides the stage's probability"
    )
    expected_close_date: StrictDate | None = None
    owner_id: uuid.UUID | None = Field(
        default=None, description="omitted: the caller; null: unassigned"
    )
    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = Field(default=None, description="default: the default pipeline")
    stage_id: uuid.UUID | None = Field(default=None, description="default: the first open stage")
    lost_reason: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        return _currency(value)


class DealPatch(_Body):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    value: Decimal | None = Field(default=None, ge=0, max_digits=MAX_VALUE_DIGITS, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    probability: int | None = Field(default=None, ge=0, le=100, description="null: the stage's")
    expected_close_date: StrictDate | None = None
    owner_id: uuid.UUID | None = Field(default=None, description="null: unassigned")
    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = Field(default=None, description="a stage move (a transition)")
    lost_reason: str | None = Field(
        default=None, min_length=1, max_length=500, description="required to move to a lost stage"
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str | None) -> str | None:
        return _currency(value)

    @field_validator("title", "value", "currency", "pipeline_id", "stage_id")
    @classmethod
    def _no_nulls(cls, value: Any) -> Any:
        return _not_null(value)
