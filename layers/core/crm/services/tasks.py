"""Tasks: create, list (mine, overdue, due today, by record, done), read, edit (done/undone,
reassign), delete. A seller sees and changes only the tasks assigned to or created by them,
assigns only to themselves, and links only records they can see; anyone else's task is 404.
Due moments without an offset are the tenant's wall-clock time. Every change emits
crm.task.* (created, updated, assigned, completed, reopened, deleted)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from crm.domain.concurrency import Precondition
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.permissions import sees_only_own_records
from crm.domain.tasks import Task, TaskFilters, TaskRecordKind, TaskType, day_bounds, local_due
from crm.domain.tenant_settings import TenantSettings
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.ports.tasks import TaskRepository, TasksUnitOfWork
from crm.services.idempotency import claim_key
from crm.services.records import may_see
from crm.services.request_context import RequestContext


def _tasks(uow: UnitOfWork) -> TaskRepository:
    return cast(TasksUnitOfWork, uow).tasks


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TaskInput:
    title: str | None = None
    type: TaskType | None = None
    due_at: datetime | None = None
    assignee_id: uuid.UUID | None = None
    record_kind: TaskRecordKind | None = None
    record_id: uuid.UUID | None = None
    notes: str | None = None
    done: bool | None = None
    named: frozenset[str] = frozenset()  # the fields a PATCH named (null clears)


def _invalid(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(msg, [{"loc": ["body", field], "msg": msg, "type": "value_error"}])


def _timezone(uow: UnitOfWork) -> str:
    profile = uow.tenant_profile.get()
    return TenantSettings.stored(profile.settings if profile else None).timezone


def _visible(principal: Principal, task: Task | None) -> bool:
    if task is None:
        return False
    me = principal.user_id
    return not sees_only_own_records(principal) or me in (task.assignee_id, task.created_by)


def _load(uow: UnitOfWork, principal: Principal, task_id: uuid.UUID, lock: bool = False) -> Task:
    task = _tasks(uow).get(task_id, for_update=lock)
    if task is None or not _visible(principal, task):
        raise NotFound(f"task {task_id} not found")
    return task


def _check_assignee(uow: UnitOfWork, principal: Principal, assignee: uuid.UUID | None) -> None:
    if assignee is None or assignee == principal.user_id:
        return
    if sees_only_own_records(principal):
        raise _invalid("assignee_id", "you can assign tasks to yourself only")
    member = uow.members.get(assignee)
    if member is None or member.status != "active":
        raise _invalid("assignee_id", "not an active user of this organisation")


def _check_record(
    uow: UnitOfWork, principal: Principal, kind: str | None, record_id: uuid.UUID | None
) -> None:
    if kind is None or record_id is None:
        return
    record: Any
    if kind == "lead":
        record = uow.leads.get(record_id)
    elif kind == "contact":
        record = uow.contacts.get(record_id)
    else:
        record = uow.deals.get(record_id)
    if record is None or not may_see(principal, record.owner_id):
        raise NotFound(f"{kind} {record_id} not found")


def create_task(
    command: TaskInput,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    principal = context.principal
    request = {k: str(v) if v is not None else None for k, v in command.__dict__.items()
               if k != "named"}  # fmt: skip
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "tasks.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        assignee = command.assignee_id if "assignee_id" in command.named else principal.user_id
        _check_assignee(uow, principal, assignee)
        _check_record(uow, principal, command.record_kind, command.record_id)
        now = _utcnow()
        task = Task(
            tenant_id=principal.tenant_id,
            title=command.title or "",
            type=command.type or "todo",
            due_at=local_due(command.due_at, _timezone(uow)) if command.due_at else None,
            assignee_id=assignee,
            record_kind=command.record_kind,
            record_id=command.record_id,
            notes=command.notes,
            done_at=now if command.done else None,
            created_by=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        _tasks(uow).add(task)
        uow.add_event(task.event("created", context.correlation_id))
        body = task.to_dict(now)
        claim.complete(201, body)
        uow.commit()
    return body, False


def list_tasks(
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    mine: bool = False,
    overdue: bool = False,
    due_today: bool = False,
    done: bool | None = None,
    record_kind: str | None = None,
    record_id: uuid.UUID | None = None,
    clock: Any = _utcnow,
) -> Page[Task]:
    now = clock()
    with unit_of_work(principal.tenant_id) as uow:
        due_from = due_before = None
        if due_today:
            zone = _timezone(uow)
            due_from, due_before = day_bounds(now.astimezone(ZoneInfo(zone)).date(), zone)
        if overdue:
            due_before = now if due_before is None else min(due_before, now)
            done = False
        filters = TaskFilters(
            assignee_id=principal.user_id if mine else None,
            visible_to=principal.user_id if sees_only_own_records(principal) else None,
            done=done,
            due_before=due_before,
            due_from=due_from,
            record_kind=record_kind,
            record_id=record_id,
        )
        rows = _tasks(uow).page(filters, page.limit + 1, page.after)
    return Page.from_rows(rows, page.limit, lambda t: Keyset(t.created_at, t.id))


def get_task(
    task_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        return _load(uow, principal, task_id).to_dict()


def update_task(
    task_id: uuid.UUID,
    changes: TaskInput,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    principal = context.principal
    named = changes.named
    with unit_of_work(principal.tenant_id) as uow:
        task = _load(uow, principal, task_id, lock=True)
        if precondition is not None:
            precondition.check(task.version, f"task {task_id}")
        now = _utcnow()
        updated = task
        if "title" in named and changes.title:
            updated = replace(updated, title=changes.title)
        if "type" in named and changes.type:
            updated = replace(updated, type=changes.type)
        if "notes" in named:
            updated = replace(updated, notes=changes.notes)
        if "due_at" in named:
            due = local_due(changes.due_at, _timezone(uow)) if changes.due_at else None
            # a new due moment deserves a new reminder
            updated = replace(updated, due_at=due, reminded_at=None)
        if "record" in named:
            _check_record(uow, principal, changes.record_kind, changes.record_id)
            updated = replace(updated, record_kind=changes.record_kind,
                              record_id=changes.record_id)  # fmt: skip
        if "assignee_id" in named:
            _check_assignee(uow, principal, changes.assignee_id)
            updated = replace(updated, assignee_id=changes.assignee_id)
        if "done" in named and changes.done is not None and changes.done != task.done:
            updated = replace(updated, done_at=now if changes.done else None)
        if updated == task:
            return task.to_dict(now)
        updated = replace(updated, version=task.version + 1, updated_at=now)
        _tasks(uow).update(updated)
        for event in _change_events(task, updated, context.correlation_id):
            uow.add_event(event)
        body = updated.to_dict(now)
        uow.commit()
    return body


def _change_events(before: Task, after: Task, correlation_id: str | None) -> list[Any]:
    events = []
    fields = ("title", "type", "due_at", "record_kind", "record_id", "notes")
    if any(getattr(before, f) != getattr(after, f) for f in fields):
        events.append(after.event("updated", correlation_id))
    if before.assignee_id != after.assignee_id:
        previous = str(before.assignee_id) if before.assignee_id else None
        events.append(after.event("assigned", correlation_id, previous_assignee_id=previous))
    if before.done != after.done:
        events.append(after.event("completed" if after.done else "reopened", correlation_id))
    return events


def delete_task(
    task_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> None:
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        task = _load(uow, principal, task_id, lock=True)
        if precondition is not None:
            precondition.check(task.version, f"task {task_id}")
        _tasks(uow).delete(task_id)
        uow.add_event(task.event("deleted", context.correlation_id))
        uow.commit()
