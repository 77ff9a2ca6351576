"""Pipelines and their stages: SQL only, parameterised; never commits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pg8000.native

from crm.domain.errors import Conflict
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.pipelines import Pipeline, Stage, StageKind

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"

_PIPELINE_COLUMNS = (
    "id, tenant_id, name, is_default, archived_at, created_by, created_at, updated_at, version"
)
_STAGE_COLUMNS = "id, pipeline_id, name, position, probability, kind"


def sql_state(error: pg8000.native.DatabaseError) -> str | None:
    detail = error.args[0] if error.args else None
    return detail.get("C") if isinstance(detail, dict) else None


class PostgresPipelineRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, pipeline: Pipeline) -> None:
        try:
            self._conn.run(
                f"INSERT INTO pipelines ({_PIPELINE_COLUMNS}) VALUES (:id, :tenant_id, :name,"
                " :is_default, :archived_at, :created_by, :created_at, :updated_at, :version)",
                **_pipeline_params(pipeline),
            )
        except pg8000.native.DatabaseError as error:
            raise _default_conflict(error) from error
        for stage in pipeline.stages:
            self._upsert_stage(pipeline, stage)

    def get(self, pipeline_id: uuid.UUID, *, for_update: bool = False) -> Pipeline | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_PIPELINE_COLUMNS} FROM pipelines WHERE id = :id{lock}", id=pipeline_id
        )
        return self._with_stages(rows)[0] if rows else None

    def get_default(self, *, for_update: bool = False) -> Pipeline | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(f"SELECT {_PIPELINE_COLUMNS} FROM pipelines WHERE is_default{lock}")
        return self._with_stages(rows)[0] if rows else None

    def find(self, *, include_archived: bool, page: PageRequest) -> Page[Pipeline]:
        conditions = ["TRUE" if include_archived else "archived_at IS NULL"]
        params: dict[str, Any] = {"limit": page.limit + 1}
        if page.after is not None:
            conditions.append("(created_at, id) > (:after_value, :after_id)")
            params.update(after_value=page.after.value, after_id=page.after.id)
        rows = self._conn.run(
            f"SELECT {_PIPELINE_COLUMNS} FROM pipelines WHERE {' AND '.join(conditions)}"
            " ORDER BY created_at, id LIMIT :limit",
            **params,
        )
        return Page.from_rows(
            self._with_stages(rows), page.limit, lambda p: Keyset(p.created_at, p.id)
        )

    def save(self, pipeline: Pipeline, removed_stage_ids: Sequence[uuid.UUID] = ()) -> None:
        try:
            self._conn.run(
                "UPDATE pipelines SET name = :name, is_default = :is_default,"
                " archived_at = :archived_at, updated_at = :updated_at, version = :version"
                " WHERE id = :id",
                **{
                    k: v
                    for k, v in _pipeline_params(pipeline).items()
                    if k not in ("tenant_id", "created_by", "created_at")
                },
            )
            if removed_stage_ids:
                self._conn.run(
                    "DELETE FROM pipeline_stages WHERE pipeline_id = :pipeline_id"
                    " AND id = ANY(CAST(:ids AS uuid[]))",
                    pipeline_id=pipeline.id,
                    ids=[str(i) for i in removed_stage_ids],
                )
        except pg8000.native.DatabaseError as error:
            if sql_state(error) == FOREIGN_KEY_VIOLATION:
                raise Conflict(
                    "a stage that still has deals cannot be removed", field="stages"
                ) from error
            raise _default_conflict(error) from error
        for stage in pipeline.stages:
            self._upsert_stage(pipeline, stage)

    def stages_with_deals(self, stage_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not stage_ids:
            return set()
        rows = self._conn.run(
            "SELECT DISTINCT stage_id FROM deals WHERE stage_id = ANY(CAST(:ids AS uuid[]))",
            ids=[str(i) for i in stage_ids],
        )
        return {row[0] for row in rows}

    def _upsert_stage(self, pipeline: Pipeline, stage: Stage) -> None:
        self._conn.run(
            f"INSERT INTO pipeline_stages (tenant_id, {_STAGE_COLUMNS}) VALUES (:tenant_id, :id,"
            " :pipeline_id, :name, :position, :probability, :kind) ON CONFLICT (id) DO UPDATE"
            " SET name = EXCLUDED.name, position = EXCLUDED.position,"
            " probability = EXCLUDED.probability, kind = EXCLUDED.kind",
            tenant_id=pipeline.tenant_id,
            id=stage.id,
            pipeline_id=pipeline.id,
            name=stage.name,
            position=stage.position,
            probability=stage.probability,
            kind=stage.kind.value,
        )

    def _with_stages(self, rows: list[list[Any]]) -> list[Pipeline]:
        if not rows:
            return []
        stage_rows = self._conn.run(
            f"SELECT {_STAGE_COLUMNS} FROM pipeline_stages"
            " WHERE pipeline_id = ANY(CAST(:ids AS uuid[])) ORDER BY pipeline_id, position",
            ids=[str(row[0]) for row in rows],
        )
        stages: dict[uuid.UUID, list[Stage]] = defaultdict(list)
        for id_, pipeline_id, name, position, probability, kind in stage_rows:
            stages[pipeline_id].append(
                Stage(
                    id=id_,
                    name=name,
                    position=position,
                    probability=probability,
                    kind=StageKind(kind),
                )
            )
        pipelines = []
        for row in rows:
            (
                id_,
                tenant_id,
                name,
                is_default,
                archived_at,
                created_by,
                created_at,
                updated_at,
                version,
            ) = row
            pipelines.append(
                Pipeline(
                    id=id_,
                    tenant_id=tenant_id,
                    name=name,
                    stages=stages[id_],
                    is_default=is_default,
                    archived_at=archived_at,
                    created_by=created_by,
                    created_at=created_at,
                    updated_at=updated_at,
                    version=version,
                )
            )
        return pipelines


def _pipeline_params(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "id": pipeline.id,
        "tenant_id": pipeline.tenant_id,
        "name": pipeline.name,
        "is_default": pipeline.is_default,
        "archived_at": pipeline.archived_at,
        "created_by": pipeline.created_by,
        "created_at": pipeline.created_at,
        "updated_at": pipeline.updated_at,
        "version": pipeline.version,
    }


def _default_conflict(error: pg8000.native.DatabaseError) -> Exception:
    # The one unique index a pipeline write can hit: one default pipeline per tenant (two
    # requests making different pipelines the default at once).
    if sql_state(error) == UNIQUE_VIOLATION:
        return Conflict("another pipeline became the default meanwhile; retry", field="is_default")
    return error
