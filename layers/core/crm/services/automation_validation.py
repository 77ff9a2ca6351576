"""Checks of a workflow against the catalog and the tenant's data, at save and at publish.

The pydantic model proves a workflow is well formed; these checks prove it can ever do what it
says: its trigger listens to an event type the platform publishes, every field a condition
reads exists in that event's data (or in the record it is about, custom fields included), and
every id it names (tag, pipeline, stage, user) is one of the tenant's. Each problem is one
per-field error located in the request body (`body.workflow.trigger.tag`, ...), so the 422
names the field.
"""

from __future__ import annotations

import types
import typing
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Union

from pydantic import BaseModel

from crm.automation.model import (
    AllOf,
    AnyOf,
    Comparison,
    ConditionStep,
    DealClosedTrigger,
    DealStageChangedTrigger,
    DelayUntilStep,
    Exists,
    FieldChangedTrigger,
    OwnerAssignedTrigger,
    TagTrigger,
    WhenAll,
    WhenAny,
    Workflow,
)
from crm.domain.automation_run_events import RUN_EVENT_PREFIX
from crm.domain.errors import ValidationFailed
from crm.domain.event_catalog import CATALOG
from crm.domain.records import RecordKind
from crm.ports import UnitOfWork

Loc = tuple[str | int, ...]
# The prefix of condition fields that read the record as it is when the condition runs.
RECORD_PREFIX = "record"
_RECORD_KINDS = ("lead", "contact", "deal")


def validate_workflow(
    uow: UnitOfWork, workflow: Workflow, *, loc: Loc = ("body", "workflow")
) -> None:
    """Raise ValidationFailed naming every field of `workflow` that the tenant's data refutes."""
    errors: list[dict[str, Any]] = []
    trigger = workflow.trigger
    spec = CATALOG.get(trigger.event)
    if spec is None:
        errors.append(
            _error((*loc, "trigger", "event"), f"{trigger.event!r} is not in the event catalog")
        )
    elif trigger.event.startswith(RUN_EVENT_PREFIX):
        # An automation started by runs could start itself again and again.
        errors.append(
            _error((*loc, "trigger", "event"), "automation run events cannot trigger automations")
        )
        spec = None
    fields = _FieldChecker(uow, spec.data_model if spec is not None else None)
    for condition, where in _conditions(workflow, loc):
        problem = fields.check(condition.field)
        if problem is not None:
            errors.append(_error((*where, "field"), problem))
    for step, where in _steps(workflow.steps, (*loc, "steps")):
        if isinstance(step, DelayUntilStep) and step.field is not None:
            problem = fields.check(step.field)
            if problem is not None:
                errors.append(_error((*where, "field"), problem))
    if isinstance(trigger, FieldChangedTrigger):
        problem = fields.check_record_field(trigger.record, trigger.field)
        if problem is not None:
            errors.append(_error((*loc, "trigger", "field"), problem))
    errors += _trigger_references(uow, trigger, (*loc, "trigger"))
    errors += _action_references(uow, workflow, loc)
    if errors:
        raise ValidationFailed("the workflow refers to something that does not exist", errors)


def _error(loc: Loc, msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


def _conditions(workflow: Workflow, loc: Loc) -> Iterator[tuple[Comparison | Exists, Loc]]:
    for step, step_loc in _steps(workflow.steps, (*loc, "steps")):
        if isinstance(step, ConditionStep):
            yield from _members(step.when, (*step_loc, "when"))
        for attribute in ("cases",):
            for index, case in enumerate(getattr(step, attribute, ()) or ()):
                yield from _members(case.when, (*step_loc, attribute, index, "when"))
    if workflow.exit_when is not None:
        yield from _members(workflow.exit_when, (*loc, "exit_when"))


def _steps(steps: tuple[Any, ...], loc: Loc) -> Iterator[tuple[Any, Loc]]:
    for index, step in enumerate(steps):
        step_loc = (*loc, index)
        yield step, step_loc
        for branch in ("then", "else_"):
            yield from _steps(getattr(step, branch, ()) or (), (*step_loc, branch.rstrip("_")))
        for case_index, case in enumerate(getattr(step, "cases", ()) or ()):
            yield from _steps(case.steps, (*step_loc, "cases", case_index, "steps"))
        default = getattr(step, "default", None)
        if isinstance(default, tuple):
            yield from _steps(default, (*step_loc, "default"))


def _members(member: Any, loc: Loc) -> Iterator[tuple[Comparison | Exists, Loc]]:
    if isinstance(member, WhenAll | AllOf):
        for index, item in enumerate(member.all):
            yield from _members(item, (*loc, "all", index))
    elif isinstance(member, WhenAny | AnyOf):
        for index, item in enumerate(member.any):
            yield from _members(item, (*loc, "any", index))
    elif isinstance(member, Comparison | Exists):
        yield member, loc
    else:
        for group in ("all", "any"):
            for index, item in enumerate(getattr(member, group, ()) or ()):
                yield from _members(item, (*loc, group, index))


class _FieldChecker:
    """Walks dotted paths through the event's data model and the records' snapshot models."""

    def __init__(self, uow: UnitOfWork, data_model: type[BaseModel] | None) -> None:
        self._uow = uow
        self._data_model = data_model
        self._custom: dict[str, set[str]] = {}

    def record_kind(self) -> str | None:
        """The kind of record the trigger's event is about (its data has a snapshot of it)."""
        if self._data_model is None:
            return None
        for kind in _RECORD_KINDS:
            if kind in self._data_model.model_fields:
                return kind
        return None

    def check(self, path: str) -> str | None:
        """None when `path` can be read, else why not."""
        if self._data_model is None:
            return None  # the unknown trigger is the error already reported
        head, *rest = path.split(".")
        if head == RECORD_PREFIX:
            kind = self.record_kind()
            if kind is None:
                return "the trigger's event is not about a lead, contact or deal: no record to read"
            return self.check_record_field(kind, ".".join(rest)) if rest else None
        return self._walk(self._data_model, path.split("."), None)

    def check_record_field(self, kind: str, path: str) -> str | None:
        model = _snapshot_model(kind)
        return self._walk(model, path.split("."), kind)

    def _walk(self, model: Any, parts: list[str], kind: str | None) -> str | None:
        current: Any = model
        for index, part in enumerate(parts):
            current = _unwrap(current)
            if isinstance(current, type) and issubclass(current, BaseModel):
                field = current.model_fields.get(part)
                if field is None:
                    where = ".".join(parts[:index]) or "the event's data"
                    return f"{where} has no field {part!r}"
                if part in _RECORD_KINDS:
                    kind = part
                if part == "custom_fields":
                    return self._custom_field(kind, parts[index + 1 :])
                current = field.annotation
            elif typing.get_origin(current) is dict:
                current = typing.get_args(current)[1]
            elif current is Any:
                return None
            else:
                return f"{'.'.join(parts[:index])} is a value and has no field {part!r}"
        return None

    def _custom_field(self, kind: str | None, rest: list[str]) -> str | None:
        if not rest:
            return None
        if kind not in ("lead", "contact"):
            return f"{kind or 'this record'} has no custom fields"
        if kind not in self._custom:
            self._custom[kind] = {
                definition.key
                for definition in self._uow.custom_fields.for_entity(RecordKind(kind))
            }
        if rest[0] not in self._custom[kind]:
            return f"the {kind} has no custom field {rest[0]!r} (GET /custom-fields lists them)"
        return None


def _snapshot_model(kind: str) -> type[BaseModel]:
    from crm.domain import deal_event_data, record_event_data

    models: dict[str, type[BaseModel]] = {
        "lead": record_event_data.LeadSnapshot,
        "contact": record_event_data.ContactSnapshot,
        "deal": deal_event_data.DealSnapshot,
    }
    return models[kind]


def _unwrap(annotation: Any) -> Any:
    """`X | None`, `Optional[X]` and `Annotated[X, ...]` as X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return Any
            annotation = options[0]
        else:
            return annotation


# --- references to the tenant's data ----------------------------------------------------------


def _trigger_references(uow: UnitOfWork, trigger: Any, loc: Loc) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if isinstance(trigger, DealStageChangedTrigger | DealClosedTrigger):
        stages = (
            ("from_stage_id", "to_stage_id") if isinstance(trigger, DealStageChangedTrigger) else ()
        )
        errors += _pipeline_and_stages(
            uow, trigger.pipeline_id, [(name, getattr(trigger, name)) for name in stages], loc
        )
    if isinstance(trigger, TagTrigger) and trigger.tag is not None:
        errors += _tags(uow, [(("tag",), trigger.tag)], loc)
    if isinstance(trigger, OwnerAssignedTrigger) and trigger.owner_id is not None:
        errors += _users(uow, [(("owner_id",), trigger.owner_id)], loc)
    return errors


# Attribute names by which actions (whatever their kind) name the tenant's data.
_TAG_ATTRIBUTES = ("tag",)
_USER_ATTRIBUTES = ("owner_id", "user_id", "assignee_id")


def _action_references(uow: UnitOfWork, workflow: Workflow, loc: Loc) -> list[dict[str, Any]]:
    """Every action's tag, user, pipeline and stage ids; tags and users checked in one query
    each for the whole workflow."""
    errors: list[dict[str, Any]] = []
    tags: list[tuple[Loc, str]] = []
    users: list[tuple[Loc, str]] = []
    for step, step_loc in _steps(workflow.steps, (*loc, "steps")):
        action = getattr(step, "action", None)
        if action is None:
            continue
        where = (*step_loc, "action")
        for name in _TAG_ATTRIBUTES:
            if isinstance(value := getattr(action, name, None), str):
                tags.append(((*where, name), value))
        for name in _USER_ATTRIBUTES:
            if isinstance(value := getattr(action, name, None), str):
                users.append(((*where, name), value))
        pipeline = getattr(action, "pipeline_id", None)
        stage = getattr(action, "stage_id", None)
        if isinstance(pipeline, str):
            errors += _pipeline_and_stages(
                uow, pipeline, [("stage_id", stage)] if isinstance(stage, str) else [], where
            )
    return _tags(uow, tags, ()) + _users(uow, users, ()) + errors


def _tags(uow: UnitOfWork, named: Sequence[tuple[Loc, str]], loc: Loc) -> list[dict[str, Any]]:
    if not named:
        return []
    existing = uow.tags.existing([value.strip().lower() for _, value in named])
    return [
        _error((*loc, *where), f"no tag named {value!r} (create it first: POST /tags)")
        for where, value in named
        if value.strip().lower() not in existing
    ]


def _users(uow: UnitOfWork, named: Sequence[tuple[Loc, str]], loc: Loc) -> list[dict[str, Any]]:
    errors = []
    known: dict[str, bool] = {}
    for where, value in named:
        if value not in known:
            user_id = _uuid(value)
            known[value] = user_id is not None and uow.leads.is_active_user(user_id)
        if not known[value]:
            errors.append(_error((*loc, *where), f"no active user with id {value!r}"))
    return errors


def _pipeline_and_stages(
    uow: UnitOfWork, pipeline_id: str | None, stages: list[tuple[str, str | None]], loc: Loc
) -> list[dict[str, Any]]:
    wanted = [(name, value) for name, value in stages if value is not None]
    if pipeline_id is None and not wanted:
        return []
    known_stages: set[str] = set()
    if pipeline_id is not None:
        pipeline = uow.pipelines.get(found) if (found := _uuid(pipeline_id)) else None
        if pipeline is None:
            return [_error((*loc, "pipeline_id"), f"no pipeline with id {pipeline_id!r}")]
        known_stages = {str(stage.id) for stage in pipeline.stages}
    else:
        known_stages = _all_stage_ids(uow)
    return [
        _error(
            (*loc, name),
            f"no stage with id {value!r}" + (" in this pipeline" if pipeline_id else ""),
        )
        for name, value in wanted
        if value not in known_stages
    ]


def _all_stage_ids(uow: UnitOfWork) -> set[str]:
    from crm.domain.pagination import PageRequest

    ids: set[str] = set()
    after = None
    while True:
        page = uow.pipelines.find(include_archived=True, page=PageRequest(100, after))
        for pipeline in page.items:
            ids |= {str(stage.id) for stage in pipeline.stages}
        if page.next is None:
            return ids
        after = page.next


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
