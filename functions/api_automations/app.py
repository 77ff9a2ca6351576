"""POST /automations, GET /automations/{id}: workflow definitions, validated and versioned.
GET /automations/{id}/runs, GET /automation-runs/{id}: their runs, step by step.
POST /automations/{id}/simulate: the path a run would take for one event, without effects.
POST /automations/{id}/webhook-secret/rotate: a new signing secret for its webhook actions.
POST /automations/{id}/backtest: archived events of a period replayed, without effects.
POST /actions: one action run now by the caller on one record (Idempotency-Key required).
GET /actions: every action kind with its JSON Schema and an example."""

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.api.context import correlation_id, header, path_uuid, principal, request_meta
from crm.api.contract import contract, responses
from crm.api.pagination import (
    DEFAULT_PAGE_SIZE,
    Cursor,
    Limit,
    SortKind,
    decode_keyset,
    page_body,
)
from crm.api.resolver import build_resolver
from crm.api.responses import json_response
from crm.api.schemas import AutomationIn
from crm.api.simulation_schemas import BacktestIn, ManualActionIn, SimulateIn
from crm.api.strict import StrictAwareDatetime
from crm.automation.catalog import catalog_body
from crm.domain.errors import ValidationFailed
from crm.domain.pagination import PageRequest
from crm.domain.run_inspection import RUN_STATUSES, RunFilters, RunRecord, RunStatus
from crm.observability import bind_api_event, logger
from crm.services.automation_backtest import BacktestRequest, backtest_automation
from crm.services.automation_runs import get_run, list_runs
from crm.services.automation_simulation import RecordRef, SimulatedEvent, simulate_automation
from crm.services.automation_webhooks import OutboundSettings, rotate_signing_secret
from crm.services.automations import create_automation, get_automation
from crm.services.manual_actions import run_manual_action
from crm.services.request_context import RequestContext
from crm.settings import AutomationsApiSettings
from crm.tracing import tracer

settings = AutomationsApiSettings.from_env()
app = build_resolver()

RUNS_SCOPE = "automation-runs:created_at:desc"
Moment = Annotated[StrictAwareDatetime | None, Query(description="RFC 3339 with an offset")]
StatusFilter = Annotated[
    str | None,
    Query(
        max_length=200,
        description="comma-separated run statuses: " + ", ".join(RUN_STATUSES),
    ),
]


def _db() -> Any:
    return bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)


def _outbound() -> OutboundSettings:
    """Webhook actions: the subscriptions' target policy and field cipher."""
    return OutboundSettings(
        cipher=bootstrap.field_cipher(settings.webhook_encryption_secret_arn),
        policy=settings.target_policy,
        resolve=bootstrap.target_resolver(settings.webhook_hosts_file),
    )


@app.post("/automations", responses=responses(201))
@tracer.capture_method
def post_automation(body: AutomationIn) -> Response[dict[str, Any]]:
    automation = create_automation(
        body.name,
        body.workflow,
        principal(app),
        unit_of_work=_db().unit_of_work,
        step_function_arn=settings.automation_step_function_arn,
        meta=request_meta(app),
        outbound=_outbound(),
    )
    # The answer holds the webhook signing secret, shown this once: no cache may keep it.
    return json_response(
        201, automation, Location=f"/automations/{automation['id']}", Cache_Control="no-store"
    )


@app.post("/automations/<automation_id>/webhook-secret/rotate", responses=responses(200))
@tracer.capture_method
def post_rotate_webhook_secret(automation_id: str) -> Response[dict[str, Any]]:
    """A new Standard Webhooks signing secret for the automation's webhook actions, answered
    this once; the old one stops signing at once."""
    rotated = rotate_signing_secret(
        path_uuid(automation_id, "automation"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        cipher=bootstrap.field_cipher(settings.webhook_encryption_secret_arn),
        meta=request_meta(app),
    )
    return json_response(200, rotated, Cache_Control="no-store")


@app.get("/automations/<automation_id>", responses=responses(200))
@tracer.capture_method
def read_automation(automation_id: str) -> dict[str, Any]:
    return get_automation(
        path_uuid(automation_id, "automation"), principal(app), unit_of_work=_db().unit_of_work
    )


@app.post("/automations/<automation_id>/simulate", responses=responses(200))
@tracer.capture_method
def post_simulation(automation_id: str, body: SimulateIn) -> Response[dict[str, Any]]:
    """The steps a run would take for an inline event or one built from a stored record:
    each condition with its clauses, each delay with its wake-up time, each action with its
    resolved config or the reason it would be refused. Writes nothing, sends nothing."""
    event = (
        SimulatedEvent(body.event.type, body.event.data, body.event.subject)
        if body.event is not None
        else None
    )
    record = RecordRef(body.record.kind, body.record.id) if body.record is not None else None
    result = simulate_automation(
        path_uuid(automation_id, "automation"),
        principal(app),
        event=event,
        record=record,
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, result)


@app.post("/automations/<automation_id>/backtest", responses=responses(200))
@tracer.capture_method
def post_backtest(automation_id: str, body: BacktestIn) -> Response[dict[str, Any]]:
    """Replay the tenant's archived events of a period (at most 500 per request, oldest
    first: page a longer period by `since`) through a version of
    the workflow with no side effect: per event whether it would run, its path and the actions
    it would take (records read as they are now), a summary, and a diff against the live
    version ("12 more send_email, 3 fewer add_tag")."""
    request = BacktestRequest(
        version=None if body.version == "draft" else body.version,
        since=body.since,
        until=body.until,
        limit=body.limit,
    )
    result = backtest_automation(
        path_uuid(automation_id, "automation"),
        principal(app),
        request,
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, result)


@app.get("/actions", responses=responses(200))
@tracer.capture_method
def read_actions() -> dict[str, Any]:
    """Every action kind a workflow step may use: its description, its JSON Schema (what a
    step's `action` must match) and an example (permission automations:read)."""
    return catalog_body()


@app.post("/actions", responses=responses(200))
@tracer.capture_method
@contract(idempotency_key="required")
def post_action(body: ManualActionIn) -> Response[dict[str, Any]]:
    """Run one action now on one record as the caller, once per Idempotency-Key (required:
    422 without it); the permission is the effect's (leads:update to tag a lead, ...)."""
    context = RequestContext(
        principal=principal(app), correlation_id=correlation_id(app), meta=request_meta(app)
    )
    result, replayed = run_manual_action(
        body.action,
        RecordRef(body.record.kind, body.record.id),
        context,
        idempotency_key=header(app, "Idempotency-Key"),
        unit_of_work=_db().unit_of_work,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return json_response(200, result, **headers)


@app.get("/automations/<automation_id>/runs", responses=responses(200))
@tracer.capture_method
def read_automation_runs(
    automation_id: str,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    status: StatusFilter = None,
    created_after: Moment = None,
    created_before: Moment = None,
) -> Response[dict[str, Any]]:
    """The automation's runs, newest first: each with its version, triggering event (id, type,
    subject), status and start/finish times. With a `status` filter a page may hold fewer than
    `limit` runs while `next_cursor` is set."""
    filters = RunFilters(_statuses(status), created_after, created_before)
    if created_after is not None and created_before is not None:
        _check_range(created_after, created_before)
    after = decode_keyset(cursor, RUNS_SCOPE, SortKind.DATETIME)
    page = list_runs(
        path_uuid(automation_id, "automation"),
        principal(app),
        filters,
        PageRequest(limit, after),
        unit_of_work=_db().unit_of_work,
        executions=bootstrap.workflow_executions(),
    )
    return json_response(200, page_body(page, RunRecord.summary, RUNS_SCOPE, SortKind.DATETIME))


@app.get("/automation-runs/<run_id>", responses=responses(200))
@tracer.capture_method
def read_automation_run(run_id: str) -> dict[str, Any]:
    """One run step by step: every step of its workflow version with its state (not_reached,
    running, succeeded, failed, skipped), entry and exit times, a condition's outcome, a
    delay's wake-up time, an action's recorded result or error; and the triggering event."""
    return get_run(
        path_uuid(run_id, "automation run"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        executions=bootstrap.workflow_executions(),
    )


def _statuses(value: str | None) -> tuple[RunStatus, ...]:
    if value is None:
        return ()
    wanted = [part.strip() for part in value.split(",") if part.strip()]
    chosen = tuple(known for known in RUN_STATUSES if known in wanted)
    unknown = sorted(set(wanted) - set(chosen))
    if unknown or not chosen:
        raise ValidationFailed(
            "unknown run status",
            [
                {
                    "loc": ["query", "status"],
                    "msg": f"expected a comma-separated list of {', '.join(RUN_STATUSES)}",
                    "type": "value_error",
                }
            ],
        )
    return chosen


def _check_range(after: datetime, before: datetime) -> None:
    if after >= before:
        raise ValidationFailed(
            "the time range is empty",
            [
                {
                    "loc": ["query", "created_before"],
                    "msg": "must be after created_after",
                    "type": "value_error",
                }
            ],
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bind_api_event(event)
    return app.resolve(event, context)
