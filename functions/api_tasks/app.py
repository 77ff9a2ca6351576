"""Tasks: GET/POST /tasks, GET/PATCH/DELETE /tasks/{id} (If-Match). Filters: mine, overdue,
due_today (in the tenant's time zone), done, record_type + record_id. A seller sees the tasks
assigned to or created by them (crm.services.tasks)."""

import uuid
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.concurrency import if_match
from crm.api.context import path_uuid, principal
from crm.api.contract import contract, responses
from crm.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, SortKind, decode_keyset, page_body
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.task_schemas import TaskIn, TaskPatch
from crm.api.writes import idempotency_key, record_response, request_context
from crm.domain.errors import ValidationFailed
from crm.domain.pagination import PageRequest
from crm.domain.tasks import Task
from crm.observability import bind_api_event, logger
from crm.services.tasks import (
    TaskInput,
    create_task,
    delete_task,
    get_task,
    list_tasks,
    update_task,
)
from crm.settings import ApiSettings
from crm.tracing import tracer

settings = ApiSettings.from_env()
app = build_resolver()
LIST_SCOPE = "tasks:created_at:desc"


def _db() -> Any:
    return bootstrap.database(
        settings.database_url, settings.amqp_url, pool_size=settings.database_pool_size
    )


@app.post("/tasks", responses=responses(201))
@tracer.capture_method
@contract(idempotency_key="optional")
def post_task(body: TaskIn) -> Response[dict[str, Any]]:
    """A task, assigned to the caller unless `assignee_id` says otherwise (a seller assigns
    to themselves only); emits crm.task.created."""
    task, replayed = create_task(
        TaskInput(
            title=body.title,
            type=body.type,
            due_at=body.due_at,
            assignee_id=body.assignee_id,
            record_kind=body.record.type if body.record else None,
            record_id=body.record.id if body.record else None,
            notes=body.notes,
            done=body.done,
            named=frozenset(body.model_fields_set),
        ),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        idempotency_key=idempotency_key(app),
    )
    return record_response(201, task, location=f"/tasks/{task['id']}", replayed=replayed)


@app.get("/tasks", responses=responses(200))
@tracer.capture_method
def get_tasks(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    mine: Annotated[bool, Query(description="assigned to the caller")] = False,
    overdue: Annotated[bool, Query(description="open and due before now")] = False,
    due_today: Annotated[bool, Query(description="due today in the tenant's time zone")] = False,
    done: Annotated[bool | None, Query()] = None,
    record_type: Annotated[Literal["lead", "contact", "deal"] | None, Query()] = None,
    record_id: Annotated[str | None, Query(max_length=36)] = None,
) -> Response[dict[str, Any]]:
    """Tasks, newest first."""
    after = decode_keyset(cursor, LIST_SCOPE, SortKind.DATETIME)
    page = list_tasks(
        principal(app),
        PageRequest(limit, after),
        unit_of_work=_db().unit_of_work,
        mine=mine,
        overdue=overdue,
        due_today=due_today,
        done=done,
        record_kind=record_type,
        record_id=_query_uuid(record_id, "record_id"),
    )
    return json_response(200, page_body(page, Task.to_dict, LIST_SCOPE, SortKind.DATETIME))


@app.get("/tasks/<task_id>", responses=responses(200))
@tracer.capture_method
def read_task(task_id: str) -> Response[dict[str, Any]]:
    task = get_task(path_uuid(task_id, "task"), principal(app), unit_of_work=_db().unit_of_work)
    return record_response(200, task)


@app.patch("/tasks/<task_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_task(task_id: str, body: TaskPatch) -> Response[dict[str, Any]]:
    """Change fields (`null` clears due_at, assignee_id, record, notes); `done` true/false
    completes or reopens it. Emits crm.task.updated / assigned / completed / reopened."""
    task = update_task(
        path_uuid(task_id, "task"),
        TaskInput(
            title=body.title,
            type=body.type,
            due_at=body.due_at,
            assignee_id=body.assignee_id,
            record_kind=body.record.type if body.record else None,
            record_id=body.record.id if body.record else None,
            notes=body.notes,
            done=body.done,
            named=frozenset(body.model_fields_set),
        ),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return record_response(200, task)


@app.delete("/tasks/<task_id>", responses=responses(204))
@tracer.capture_method
@contract(if_match=True)
def remove_task(task_id: str) -> Response[str]:
    delete_task(
        path_uuid(task_id, "task"),
        request_context(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
    )
    return Response(status_code=204, body="")


def _query_uuid(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            f"{name} is not a UUID",
            [{"loc": ["query", name], "msg": "expected a UUID", "type": "uuid_parsing"}],
        ) from None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
