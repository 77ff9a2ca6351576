"""Automations: create, list, read, edit the draft, publish numbered versions, pause, resume,
archive (DELETE); their versions; their runs (list, logs, one step by step, retry, cancel);
the trigger kinds (GET /triggers).
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
from crm.api.automation_schemas import AutomationPatch, BulkRetryIn, EnrolIn
from crm.api.concurrency import etag, if_match
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
from crm.automation.model import TRIGGER_KINDS
from crm.automation.triggers import trigger_catalog
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.pagination import Page, PageRequest
from crm.domain.run_inspection import RUN_STATUSES, RunFilters, RunRecord, RunStatus
from crm.observability import bind_api_event, logger
from crm.services.automation_backtest import BacktestRequest, backtest_automation
from crm.services.automation_enrolment import enrol_records
from crm.services.automation_run_control import cancel_run, retry_failed_runs, retry_run
from crm.services.automation_runs import get_run, list_runs, run_logs
from crm.services.automation_simulation import RecordRef, SimulatedEvent, simulate_automation
from crm.services.automation_webhooks import OutboundSettings, rotate_signing_secret
from crm.services.automations import (
    STATUSES,
    AutomationFilters,
    archive_automation,
    create_automation,
    get_automation,
    get_version,
    list_automations,
    list_versions,
    pause_automation,
    publish_automation,
    restore_version,
    resume_automation,
    update_automation,
)
from crm.services.manual_actions import run_manual_action
from crm.services.request_context import RequestContext
from crm.settings import AutomationsApiSettings
from crm.tracing import tracer

settings = AutomationsApiSettings.from_env()
app = build_resolver()

RUNS_SCOPE = "automation-runs:created_at:desc"
AUTOMATIONS_SCOPE = "automations:created_at:desc"
LOGS_PAGE_SIZE = 10
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


def _engine() -> Any:
    return bootstrap.workflow_engine(settings.state_machine_role_arn)


def _outbound() -> OutboundSettings:
    """Webhook actions: the subscriptions' target policy and field cipher."""
    return OutboundSettings(
        cipher=bootstrap.field_cipher(settings.webhook_encryption_secret_arn),
        policy=settings.target_policy,
        resolve=bootstrap.target_resolver(settings.webhook_hosts_file),
    )


def _automation_response(status: int, automation: dict[str, Any], **headers: str) -> Any:
    return json_response(status, automation, ETag=etag(automation["revision"]), **headers)


@app.post("/automations", responses=responses(201))
@tracer.capture_method
def post_automation(body: AutomationIn) -> Response[dict[str, Any]]:
    """A new automation whose draft is `workflow`. A draft never fires: publish it (or create
    it with `"publish": true`) to make version 1 live. 422 names the field when the trigger,
    a condition's field or a referenced tag/pipeline/stage/user does not exist."""
    automation = create_automation(
        body.name,
        body.workflow,
        principal(app),
        unit_of_work=_db().unit_of_work,
        step_function_arn=settings.automation_step_function_arn,
        meta=request_meta(app),
        publish=body.publish,
        engine=_engine() if body.publish else None,
        outbound=_outbound(),
    )
    # The answer holds the webhook signing secret, shown this once: no cache may keep it.
    return _automation_response(
        201, automation, Location=f"/automations/{automation['id']}", Cache_Control="no-store"
    )


@app.get("/automations", responses=responses(200))
@tracer.capture_method
def read_automations(
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    status: Annotated[
        str | None, Query(max_length=20, description="one of " + ", ".join(STATUSES))
    ] = None,
    trigger: Annotated[
        str | None, Query(max_length=40, description="a trigger kind (GET /triggers)")
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="part of the name")
    ] = None,
) -> Response[dict[str, Any]]:
    """The automations, newest first, optionally by status, trigger kind and name."""
    _one_of("status", status, STATUSES)
    _one_of("trigger", trigger, TRIGGER_KINDS)
    after = decode_keyset(cursor, AUTOMATIONS_SCOPE, SortKind.DATETIME)
    page = list_automations(
        principal(app),
        AutomationFilters(status, trigger, q),
        PageRequest(limit, after),
        unit_of_work=_db().unit_of_work,
    )
    return json_response(
        200, page_body(page, lambda item: item, AUTOMATIONS_SCOPE, SortKind.DATETIME)
    )


@app.get("/automations/<automation_id>", responses=responses(200))
@tracer.capture_method
def read_automation(automation_id: str) -> Response[dict[str, Any]]:
    automation = get_automation(
        path_uuid(automation_id, "automation"), principal(app), unit_of_work=_db().unit_of_work
    )
    return _automation_response(200, automation)


@app.patch("/automations/<automation_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def patch_automation(automation_id: str, body: AutomationPatch) -> Response[dict[str, Any]]:
    """Edits the name and/or the draft; the live version runs on until the draft is
    published. An archived automation cannot change (409)."""
    automation = update_automation(
        path_uuid(automation_id, "automation"),
        principal(app),
        name=body.name,
        workflow=body.workflow,
        unit_of_work=_db().unit_of_work,
        step_function_arn=settings.automation_step_function_arn,
        precondition=if_match(app),
        meta=request_meta(app),
        outbound=_outbound(),
    )
    return _automation_response(200, automation)


@app.delete("/automations/<automation_id>", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def delete_automation(
    automation_id: str,
    cancel_runs: Annotated[
        bool, Query(description="also stop its running runs (each recorded as cancelled)")
    ] = False,
) -> Response[dict[str, Any]]:
    """Archives the automation: no new runs; it stays readable with its versions and runs."""
    automation = archive_automation(
        path_uuid(automation_id, "automation"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        stopper=_engine(),
        cancel_runs=cancel_runs,
        precondition=if_match(app),
        meta=request_meta(app),
    )
    return _automation_response(200, automation)


@app.post("/automations/<automation_id>/publish", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def post_publish(automation_id: str) -> Response[dict[str, Any]]:
    """Validates and compiles the draft, creates its state machine and makes it the next
    numbered, live version. Runs already started stay on their version."""
    automation = publish_automation(
        path_uuid(automation_id, "automation"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        engine=_engine(),
        step_function_arn=settings.automation_step_function_arn,
        precondition=if_match(app),
        meta=request_meta(app),
    )
    return _automation_response(200, automation)


@app.post("/automations/<automation_id>/pause", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def post_pause(automation_id: str) -> Response[dict[str, Any]]:
    """An active automation stops starting runs (its running runs go on); 409 otherwise."""
    automation = pause_automation(
        path_uuid(automation_id, "automation"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
        meta=request_meta(app),
    )
    return _automation_response(200, automation)


@app.post("/automations/<automation_id>/resume", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def post_resume(automation_id: str) -> Response[dict[str, Any]]:
    """A paused automation starts runs again (events while paused start none); 409 otherwise."""
    automation = resume_automation(
        path_uuid(automation_id, "automation"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
        meta=request_meta(app),
    )
    return _automation_response(200, automation)


@app.get("/automations/<automation_id>/versions", responses=responses(200))
@tracer.capture_method
def read_versions(automation_id: str) -> Response[dict[str, Any]]:
    """The published versions, newest first: number, workflow, who published it and when."""
    versions = list_versions(
        path_uuid(automation_id, "automation"), principal(app), unit_of_work=_db().unit_of_work
    )
    return json_response(200, {"items": versions})


@app.get("/automations/<automation_id>/versions/<version>", responses=responses(200))
@tracer.capture_method
def read_version(automation_id: str, version: str) -> Response[dict[str, Any]]:
    """One published version with its compiled state machine definition (ASL)."""
    found = get_version(
        path_uuid(automation_id, "automation"),
        _version_number(version),
        principal(app),
        unit_of_work=_db().unit_of_work,
    )
    return json_response(200, found)


@app.post("/automations/<automation_id>/versions/<version>/restore", responses=responses(200))
@tracer.capture_method
@contract(if_match=True)
def post_restore(automation_id: str, version: str) -> Response[dict[str, Any]]:
    """Copies a published version into the draft; publish to make it live again."""
    automation = restore_version(
        path_uuid(automation_id, "automation"),
        _version_number(version),
        principal(app),
        unit_of_work=_db().unit_of_work,
        precondition=if_match(app),
        meta=request_meta(app),
    )
    return _automation_response(200, automation)


@app.get("/automations/<automation_id>/logs", responses=responses(200))
@tracer.capture_method
def read_logs(
    automation_id: str, limit: Limit = LOGS_PAGE_SIZE, cursor: Cursor = None
) -> Response[dict[str, Any]]:
    """The runs, newest first, each with its log: a line per step it reached (a skipped run:
    why it never started)."""
    after = decode_keyset(cursor, RUNS_SCOPE, SortKind.DATETIME)
    page: Page[dict[str, Any]] = run_logs(
        path_uuid(automation_id, "automation"),
        principal(app),
        PageRequest(min(limit, 50), after),
        unit_of_work=_db().unit_of_work,
        executions=bootstrap.workflow_executions(),
    )
    return json_response(200, page_body(page, lambda item: item, RUNS_SCOPE, SortKind.DATETIME))


@app.post("/automations/<automation_id>/runs/retry", responses=responses(202))
@tracer.capture_method
def post_bulk_retry(automation_id: str, body: BulkRetryIn) -> Response[dict[str, Any]]:
    """Retries the automation's failed runs created in [created_after, created_before), each
    from its failed step (at most 500 per call)."""
    result = retry_failed_runs(
        path_uuid(automation_id, "automation"),
        principal(app),
        body.created_after,
        body.created_before,
        unit_of_work=_db().unit_of_work,
        engine=_engine(),
        meta=request_meta(app),
    )
    return json_response(202, result)


@app.post("/automation-runs/<run_id>/retry", responses=responses(202))
@tracer.capture_method
def post_retry(run_id: str) -> Response[dict[str, Any]]:
    """A failed run continues from its failed step: the actions it completed do not run
    again (the action ledger answers for them). 409 unless the run failed."""
    result = retry_run(
        path_uuid(run_id, "automation run"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        engine=_engine(),
        executions=bootstrap.workflow_executions(),
        meta=request_meta(app),
    )
    return json_response(202, result)


@app.post("/automation-runs/<run_id>/cancel", responses=responses(200))
@tracer.capture_method
def post_cancel(run_id: str) -> Response[dict[str, Any]]:
    """Stops a running run (recorded as cancelled); 409 when it is not running."""
    result = cancel_run(
        path_uuid(run_id, "automation run"),
        principal(app),
        unit_of_work=_db().unit_of_work,
        stopper=_engine(),
        meta=request_meta(app),
    )
    return json_response(200, result)


@app.post("/automations/<automation_id>/enrol", responses=responses(200))
@tracer.capture_method
def post_enrol(automation_id: str, body: EnrolIn) -> Response[dict[str, Any]]:
    """Starts the live version for each record (up to 100, read as the caller), once per
    (version, record): each record's outcome is started, already_enrolled, skipped (the
    re-enrolment policy or the monthly runs limit, with the reason) or not_found. 409 unless
    the automation is active."""
    result = enrol_records(
        path_uuid(automation_id, "automation"),
        body.record_ids,
        principal(app),
        unit_of_work=_db().unit_of_work,
        engine=_engine(),
        step_function_arn=settings.automation_step_function_arn,
    )
    return json_response(200, result)


@app.get("/triggers", responses=responses(200))
@tracer.capture_method
def read_triggers() -> Response[dict[str, Any]]:
    """Every trigger kind: its parameters as JSON Schema, the catalog event it listens to and
    an example."""
    return json_response(200, {"items": trigger_catalog()})


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValidationFailed(
            f"unknown {name}",
            [{"loc": ["query", name], "msg": f"expected one of {', '.join(allowed)}",
              "type": "value_error"}],
        )  # fmt: skip


def _version_number(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 2**31 - 1:
        raise NotFound(f"version {value} not found")
    return int(value)


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


@app.post("/actions", responses=responses(200, 404))
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
