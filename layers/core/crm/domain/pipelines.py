"""Pipelines: ordered stages a deal moves through. Each stage has a kind (open, won, lost) and
a default probability that deals in it inherit unless they override it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from crm.domain.errors import ValidationFailed

MAX_STAGES = 30
# A closed stage's probability is fixed by its kind: a won deal counts fully, a lost one not.
CLOSED_PROBABILITY = {"won": 100, "lost": 0}


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True)
class Stage:
    name: str
    probability: int
    kind: StageKind
    position: int
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "probability": self.probability,
            "kind": self.kind.value,
            "position": self.position,
        }


@dataclass
class Pipeline:
    tenant_id: uuid.UUID
    name: str
    stages: list[Stage]
    is_default: bool = False
    archived_at: datetime | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = 1

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def stage(self, stage_id: uuid.UUID) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def first_open_stage(self) -> Stage:
        """Where a new deal lands when no stage is named (every pipeline has an open stage)."""
        return next(s for s in self.stages if s.kind is StageKind.OPEN)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "is_default": self.is_default,
            "archived": self.archived,
            "archived_at": self.archived_at.isoformat() if self.archived_at else None,
            "stages": [s.to_dict() for s in self.stages],
            "created_by": str(self.created_by) if self.created_by else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }


@dataclass(frozen=True)
class StageSpec:
    """A stage as a request describes it: `id` names an existing stage (rename, move,
    re-weight), no id adds one. `probability` None takes the kind's default."""

    name: str
    kind: StageKind = StageKind.OPEN
    probability: int | None = None
    id: uuid.UUID | None = None


DEFAULT_STAGES = (
    StageSpec("Prospecting", StageKind.OPEN, 10),
    StageSpec("Qualification", StageKind.OPEN, 25),
    StageSpec("Proposal", StageKind.OPEN, 50),
    StageSpec("Negotiation", StageKind.OPEN, 75),
    StageSpec("Won", StageKind.WON),
    StageSpec("Lost", StageKind.LOST),
)
DEFAULT_PIPELINE_NAME = "Sales"


def _problem(loc: list[str | int], msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}


def plan_stages(current: list[Stage], specs: list[StageSpec]) -> list[Stage]:
    """The stage list a pipeline will have: `specs` in order, positions 0..n-1.

    Rules (422 with the offending index otherwise): 1..MAX_STAGES stages; names unique
    (case-insensitive); at least one open stage; an open stage states its probability
    (0-100), a won stage is 100 and a lost stage 0; an `id` must be a stage of this pipeline,
    named once. Stages of `current` that no spec names are removed by the caller (which
    refuses when deals are still in them).
    """
    problems: list[dict[str, Any]] = []
    if not 1 <= len(specs) <= MAX_STAGES:
        problems.append(_problem(["stages"], f"a pipeline has 1 to {MAX_STAGES} stages"))
    existing = {stage.id: stage for stage in current}
    seen_names: set[str] = set()
    seen_ids: set[uuid.UUID] = set()
    planned: list[Stage] = []
    for position, spec in enumerate(specs):
        name_key = spec.name.casefold()
        if name_key in seen_names:
            problems.append(_problem(["stages", position, "name"], "stage names must be unique"))
        seen_names.add(name_key)
        probability = _probability(spec, position, problems)
        if spec.id is None:
            planned.append(Stage(spec.name, probability, spec.kind, position))
            continue
        if spec.id not in existing:
            problems.append(_problem(["stages", position, "id"], "not a stage of this pipeline"))
        elif spec.id in seen_ids:
            problems.append(_problem(["stages", position, "id"], "this stage is named twice"))
        else:
            planned.append(
                replace(
                    existing[spec.id],
                    name=spec.name,
                    probability=probability,
                    kind=spec.kind,
                    position=position,
                )
            )
        seen_ids.add(spec.id)
    if specs and not any(spec.kind is StageKind.OPEN for spec in specs):
        problems.append(_problem(["stages"], "a pipeline needs at least one open stage"))
    if problems:
        raise ValidationFailed("the stages were rejected", problems)
    return planned


def _probability(spec: StageSpec, position: int, problems: list[dict[str, Any]]) -> int:
    fixed = CLOSED_PROBABILITY.get(spec.kind.value)
    if fixed is not None:
        if spec.probability not in (None, fixed):
            problems.append(
                _problem(
                    ["stages", position, "probability"],
                    f"a {spec.kind.value} stage has probability {fixed}",
                )
            )
        return fixed
    if spec.probability is None:
        problems.append(
            _problem(["stages", position, "probability"], "an open stage needs a probability")
        )
        return 0
    return spec.probability


def new_pipeline(
    tenant_id: uuid.UUID,
    name: str,
    specs: list[StageSpec] | tuple[StageSpec, ...] = DEFAULT_STAGES,
    *,
    created_by: uuid.UUID | None = None,
    is_default: bool = False,
) -> Pipeline:
    named = [i for i, spec in enumerate(specs) if spec.id is not None]
    if named:
        raise ValidationFailed(
            "a new pipeline's stages cannot name ids",
            [_problem(["stages", i, "id"], "omit the id of a new stage") for i in named],
        )
    return Pipeline(
        tenant_id=tenant_id,
        name=name,
        stages=plan_stages([], list(specs)),
        is_default=is_default,
        created_by=created_by,
    )
