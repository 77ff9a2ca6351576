"""Automations you can author, evolve and operate, on the real PostgreSQL (as the app role, RLS
on) and embedded moto's Step Functions with real execution: drafts, numbered versions, pause,
resume, archive (with cancel), validation against the tenant's data, the monthly runs limit,
re-enrolment, and run control (retry from the failed step, cancel)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.sfn.engine import StepFunctionsEngine
from crm.adapters.sfn.executions import StepFunctionsExecutions
from crm.automation.model import Workflow
from crm.domain.concurrency import Precondition
from crm.domain.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.pagination import PageRequest
from crm.domain.run_inspection import RunFilters
from crm.domain.tenants import Principal, Role
from crm.domain.webhooks import AttemptResult, TargetPolicy
from crm.services import automations as service
from crm.services.automation_run_control import cancel_run, retry_failed_runs, retry_run
from crm.services.automation_runs import get_run, list_runs, run_logs
from crm.services.automation_runtime import execute_step, route_event
from crm.services.automation_webhooks import OutboundSettings
from crm.services.leads import NewLead, create_lead
from crm.services.request_context import RequestContext
from crm.services.taxonomy import create_tag
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import DefaultConfig

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

REGION = "us-east-1"
STEP_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"
ROLE_ARN = "arn:aws:iam::123456789012:role/automation-runner"
OK_HOOK = "http://hooks.test/ok"
FLAKY_HOOK = "http://hooks.test/flaky"


# Webhook actions are checked and sealed like the API does; these receivers are test doubles
# (never contacted), so the local relaxation of the target policy applies.
CIPHER = FieldCipher(bytes(range(32)))
OUTBOUND = OutboundSettings(
    cipher=CIPHER,
    policy=TargetPolicy(allow_http=True, allow_private=True),
    resolve=lambda host, port: ["127.0.0.1"],
)


@dataclass
class Webhooks:
    """Records every delivery attempt by URL; FLAKY_HOOK fails while `failing` is set."""

    attempts: list[tuple[str, str]] = field(default_factory=list)
    failing: bool = True

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, read_limit: int = 0
    ) -> AttemptResult:
        self.attempts.append((url, headers["webhook-id"]))
        if url == FLAKY_HOOK and self.failing:
            return AttemptResult(None, "receiver down")
        return AttemptResult(204)

    def hits(self, url: str) -> int:
        return sum(1 for sent, _ in self.attempts if sent == url)


@dataclass
class Cloud:
    db: PostgresDatabase
    admin_conn: Any
    client: Any
    webhooks: Webhooks

    @property
    def engine(self) -> StepFunctionsEngine:
        return StepFunctionsEngine(self.client, ROLE_ARN)

    @property
    def executions(self) -> StepFunctionsExecutions:
        return StepFunctionsExecutions(self.client)


@pytest.fixture
def cloud(
    db: PostgresDatabase, admin_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STEPFUNCTIONS", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    webhooks = Webhooks()

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        try:
            result = execute_step(
                json.loads(body), unit_of_work=db.unit_of_work, webhooks=webhooks, cipher=CIPHER
            )
        except Exception as error:  # as Lambda reports a function error
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {"errorType": type(error).__name__, "errorMessage": str(error)}
            ).encode()
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    config: DefaultConfig = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    with mock_aws(config=config):
        yield Cloud(db, admin_conn, boto3.client("stepfunctions", region_name=REGION), webhooks)


def hook_step(step_id: str, url: str = OK_HOOK) -> dict[str, Any]:
    return {"id": step_id, "type": "action", "action": {"kind": "webhook", "url": url}}


def workflow(*steps: dict[str, Any], **extra: Any) -> Workflow:
    return Workflow.model_validate(
        {"trigger": {"event": "crm.lead.created"}, "steps": list(steps), **extra}
    )


class Org:
    def __init__(self, cloud: Cloud, slug: str = "life") -> None:
        self.cloud = cloud
        tenant, owner = make_tenant(cloud.db, slug)
        self.owner = Principal(tenant.id, owner.id, Role.OWNER)
        self.uow = cloud.db.unit_of_work

    def create(self, flow: Workflow, *, publish: bool = False, name: str = "A") -> dict[str, Any]:
        return service.create_automation(
            name,
            flow,
            self.owner,
            unit_of_work=self.uow,
            step_function_arn=STEP_FUNCTION_ARN,
            publish=publish,
            engine=self.cloud.engine if publish else None,
            outbound=OUTBOUND,
        )

    def publish(self, automation_id: str) -> dict[str, Any]:
        return service.publish_automation(
            uuid.UUID(automation_id),
            self.owner,
            unit_of_work=self.uow,
            engine=self.cloud.engine,
            step_function_arn=STEP_FUNCTION_ARN,
        )

    def lead_event(self, name: str = "Lead", source: str = "web") -> CloudEvent:
        lead, _ = create_lead(NewLead(name=name, source=source), self.owner, unit_of_work=self.uow)
        rows = self.cloud.admin_conn.run(
            "SELECT envelope FROM outbox WHERE type = 'crm.lead.created'"
            " AND envelope->'data'->'lead'->>'id' = :id",
            id=lead["id"],
        )
        return CloudEvent.from_dict(rows[0][0])

    def route(self, event: CloudEvent) -> list[str]:
        with self.uow(self.owner.tenant_id) as uow:
            started = route_event(
                event,
                uow,
                engine=self.cloud.engine,
                step_function_arn=STEP_FUNCTION_ARN,
                executions=self.cloud.executions,
            )
            uow.commit()
        return started

    def runs(self, automation_id: str) -> list[dict[str, Any]]:
        page = list_runs(
            uuid.UUID(automation_id),
            self.owner,
            RunFilters(),
            PageRequest(50),
            unit_of_work=self.uow,
            executions=self.cloud.executions,
        )
        return [run.summary() for run in page.items]

    def run(self, run_id: str) -> dict[str, Any]:
        return get_run(
            uuid.UUID(run_id), self.owner, unit_of_work=self.uow, executions=self.cloud.executions
        )

    def context(self) -> RequestContext:
        return RequestContext(principal=self.owner, correlation_id=None)


def wait_until(check: Callable[[], bool], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def status_of(cloud: Cloud, arn: str) -> str:
    status: str = cloud.client.describe_execution(executionArn=arn)["status"]
    return status


def test_a_draft_never_fires_and_publishing_makes_version_1_live(cloud: Cloud) -> None:
    org = Org(cloud)
    created = org.create(workflow(hook_step("notify")))
    assert (created["status"], created["version"], created["revision"]) == ("draft", None, 1)

    # A draft starts nothing for a qualifying event (the route returns no execution)
    assert org.route(org.lead_event()) == []
    assert org.runs(created["id"]) == []

    published = org.publish(created["id"])
    assert (published["status"], published["version"]) == ("active", 1)
    assert published["revision"] > created["revision"]
    [version] = service.list_versions(uuid.UUID(created["id"]), org.owner, unit_of_work=org.uow)
    assert version["version"] == 1 and version["published_by"] == str(org.owner.user_id)
    assert version["state_machine_arn"].endswith("-v1")
    detail = service.get_version(uuid.UUID(created["id"]), 1, org.owner, unit_of_work=org.uow)
    assert detail["asl"]["StartAt"] == "Action_notify"

    [arn] = org.route(org.lead_event())
    wait_until(lambda: status_of(cloud, arn) == "SUCCEEDED")
    assert arn.split(":")[-2].endswith("-v1")


def test_runs_stay_on_their_version_while_v2_takes_new_events(cloud: Cloud) -> None:
    org = Org(cloud)
    v1 = workflow({"id": "wait", "type": "delay", "seconds": 3}, hook_step("first"))
    automation = org.create(v1, publish=True)
    automation_id = automation["id"]
    [v1_arn] = org.route(org.lead_event("Early"))

    # While the v1 run waits in its delay, the draft is edited and published as v2
    v2 = workflow(hook_step("second"))
    edited = service.update_automation(
        uuid.UUID(automation_id),
        org.owner,
        name="A v2",
        workflow=v2,
        unit_of_work=org.uow,
        step_function_arn=STEP_FUNCTION_ARN,
        precondition=Precondition.from_header(f'"{automation["revision"]}"'),
        outbound=OUTBOUND,
    )
    assert edited["version"] == 1 and edited["draft_differs"] is True
    assert status_of(cloud, v1_arn) == "RUNNING"
    published = org.publish(automation_id)
    assert published["version"] == 2 and published["draft_differs"] is False
    [v2_arn] = org.route(org.lead_event("Late"))

    wait_until(lambda: status_of(cloud, v1_arn) != "RUNNING")
    wait_until(lambda: status_of(cloud, v2_arn) != "RUNNING")
    assert (status_of(cloud, v1_arn), status_of(cloud, v2_arn)) == ("SUCCEEDED", "SUCCEEDED")
    # the v1 run took v1's step, the new one v2's
    hooked = [message_id.split(":")[1] for _, message_id in cloud.webhooks.attempts]
    assert sorted(hooked) == ["first", "second"]
    runs = org.runs(automation_id)
    assert sorted(run["version"] for run in runs) == [1, 2]
    versions = service.list_versions(uuid.UUID(automation_id), org.owner, unit_of_work=org.uow)
    assert [v["version"] for v in versions] == [2, 1]

    # Restoring v1 copies it into the draft; the live version stays 2 until published
    restored = service.restore_version(uuid.UUID(automation_id), 1, org.owner, unit_of_work=org.uow)
    assert restored["version"] == 2 and restored["draft_differs"] is True
    assert restored["workflow"]["steps"][1]["id"] == "first"

    # A stale If-Match is refused and changes nothing
    with pytest.raises(PreconditionFailed):
        service.update_automation(
            uuid.UUID(automation_id),
            org.owner,
            name="stale",
            workflow=None,
            unit_of_work=org.uow,
            step_function_arn=STEP_FUNCTION_ARN,
            precondition=Precondition.from_header(f'"{automation["revision"]}"'),
            outbound=OUTBOUND,
        )
    current = service.get_automation(uuid.UUID(automation_id), org.owner, unit_of_work=org.uow)
    assert current["name"] == "A v2"


def test_pause_stops_new_runs_and_resume_restarts_them(cloud: Cloud) -> None:
    org = Org(cloud)
    automation_id = uuid.UUID(org.create(workflow(hook_step("notify")), publish=True)["id"])
    paused = service.pause_automation(automation_id, org.owner, unit_of_work=org.uow)
    assert paused["status"] == "paused"
    assert org.route(org.lead_event("While paused")) == []
    with pytest.raises(Conflict):
        service.pause_automation(automation_id, org.owner, unit_of_work=org.uow)

    resumed = service.resume_automation(automation_id, org.owner, unit_of_work=org.uow)
    assert resumed["status"] == "active"
    assert len(org.route(org.lead_event("After resume"))) == 1
    assert len(org.runs(str(automation_id))) == 1


def test_archive_with_cancel_stops_the_running_runs(cloud: Cloud) -> None:
    org = Org(cloud)
    flow = workflow({"id": "wait", "type": "delay", "seconds": 30}, hook_step("never"))
    automation_id = uuid.UUID(org.create(flow, publish=True)["id"])
    [arn] = org.route(org.lead_event())
    assert status_of(cloud, arn) == "RUNNING"

    archived = service.archive_automation(
        automation_id,
        org.owner,
        unit_of_work=org.uow,
        stopper=cloud.engine,
        cancel_runs=True,
    )
    assert archived["status"] == "archived" and archived["cancelled_runs"] == 1
    assert status_of(cloud, arn) == "ABORTED"
    [run] = org.runs(str(automation_id))
    assert run["status"] == "cancelled" and "archived" in run["reason"]
    assert org.run(run["id"])["status"] == "cancelled"
    # no new runs, and an archived automation cannot change
    assert org.route(org.lead_event("After archive")) == []
    with pytest.raises(Conflict):
        org.publish(str(automation_id))
    assert cloud.webhooks.attempts == []


def test_a_run_is_cancelled_on_request(cloud: Cloud) -> None:
    org = Org(cloud)
    flow = workflow({"id": "wait", "type": "delay", "seconds": 30}, hook_step("never"))
    automation_id = org.create(flow, publish=True)["id"]
    [arn] = org.route(org.lead_event())
    [run] = org.runs(automation_id)
    assert cancel_run(
        uuid.UUID(run["id"]), org.owner, unit_of_work=org.uow, stopper=cloud.engine
    ) == {"id": run["id"], "status": "cancelled"}
    assert status_of(cloud, arn) == "ABORTED"
    with pytest.raises(Conflict):
        cancel_run(uuid.UUID(run["id"]), org.owner, unit_of_work=org.uow, stopper=cloud.engine)


def test_retry_continues_from_the_failed_step_without_repeating_earlier_actions(
    cloud: Cloud,
) -> None:
    org = Org(cloud)
    flow = workflow(hook_step("first"), hook_step("flaky", FLAKY_HOOK), hook_step("last"))
    automation_id = org.create(flow, publish=True)["id"]
    [arn] = org.route(org.lead_event())
    wait_until(lambda: status_of(cloud, arn) != "RUNNING", timeout=60)  # 2 + 4 + 8 s retries
    [run] = org.runs(automation_id)
    assert run["status"] == "failed"
    assert cloud.webhooks.hits(OK_HOOK) == 1
    flaky_attempts = cloud.webhooks.hits(FLAKY_HOOK)
    assert flaky_attempts >= 2

    # The receiver is back: the retry runs the failed step and the rest, not the first one
    cloud.webhooks.failing = False
    retried = retry_run(
        uuid.UUID(run["id"]),
        org.owner,
        unit_of_work=org.uow,
        engine=cloud.engine,
        executions=cloud.executions,
    )
    assert retried["attempt"] == 2
    wait_until(lambda: org.run(run["id"])["status"] != "running")
    detail = org.run(run["id"])
    assert detail["status"] == "succeeded" and detail["attempt"] == 2
    assert cloud.webhooks.hits(FLAKY_HOOK) == flaky_attempts + 1
    assert cloud.webhooks.hits(OK_HOOK) == 2  # "first" once, "last" once
    sent = [message_id for url, message_id in cloud.webhooks.attempts if url == OK_HOOK]
    assert sorted(sent) == sorted([f"{run['id']}:first", f"{run['id']}:last"])
    ledger = cloud.admin_conn.run(
        "SELECT step_id FROM action_executions WHERE run_id = CAST(:id AS uuid) ORDER BY step_id",
        id=run["id"],
    )
    assert [row[0] for row in ledger] == ["first", "flaky", "last"]

    # A succeeded run is not retried; a bulk retry over the range finds no failed run left
    with pytest.raises(Conflict):
        retry_run(
            uuid.UUID(run["id"]),
            org.owner,
            unit_of_work=org.uow,
            engine=cloud.engine,
            executions=cloud.executions,
        )
    now = datetime.now(UTC)
    bulk = retry_failed_runs(
        uuid.UUID(automation_id),
        org.owner,
        now - timedelta(hours=1),
        now + timedelta(minutes=1),
        unit_of_work=org.uow,
        engine=cloud.engine,
    )
    assert bulk == {"retried": [], "count": 0}

    # The logs show each step the run reached
    page = run_logs(
        uuid.UUID(automation_id),
        org.owner,
        PageRequest(10),
        unit_of_work=org.uow,
        executions=cloud.executions,
    )
    [logged] = page.items
    assert [line["step"] for line in logged["log"]] == ["first", "flaky", "last"]


def test_an_over_limit_event_is_recorded_as_a_skipped_run_and_audited(cloud: Cloud) -> None:
    org = Org(cloud)
    automation_id = org.create(workflow(hook_step("notify")), publish=True)["id"]
    month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cloud.admin_conn.run(
        "INSERT INTO usage_counters (tenant_id, metric, period_start, used)"
        " VALUES (:tenant, 'automation_runs_per_month', :start, 1000)"
        " ON CONFLICT (tenant_id, metric, period_start) DO UPDATE SET used = 1000",
        tenant=org.owner.tenant_id,
        start=month,
    )
    event = org.lead_event()
    assert org.route(event) == []
    [run] = org.runs(automation_id)
    assert run["status"] == "skipped" and run["reason"].startswith("plan limit")
    assert run["event"]["id"] == str(event.id)
    audit = cloud.admin_conn.run(
        "SELECT actor_type FROM audit_log WHERE action = 'automation.run_skipped'"
        " AND entity_id = :id",
        id=run["id"],
    )
    assert audit == [["system"]]
    # A redelivery of the same event records nothing more
    assert org.route(event) == []
    assert len(org.runs(automation_id)) == 1
    assert cloud.webhooks.attempts == []


def test_once_per_record_and_not_while_active_policies(cloud: Cloud) -> None:
    org = Org(cloud)
    once = org.create(
        Workflow.model_validate(
            {
                "trigger": {"kind": "field_changed", "record": "lead", "field": "score"},
                "steps": [hook_step("once")],
                "reenrolment": "once_per_record",
            }
        ),
        publish=True,
    )
    lead, _ = create_lead(NewLead(name="Scored", source="web"), org.owner, unit_of_work=org.uow)

    def updated(score: int) -> CloudEvent:
        from crm.services.leads import update_lead

        update_lead(uuid.UUID(lead["id"]), {"score": score}, org.context(), unit_of_work=org.uow)
        rows = cloud.admin_conn.run(
            "SELECT envelope FROM outbox WHERE type = 'crm.lead.updated'"
            " AND envelope->'data'->'lead'->>'id' = :id ORDER BY created_at DESC LIMIT 1",
            id=lead["id"],
        )
        return CloudEvent.from_dict(rows[0][0])

    assert len(org.route(updated(10))) == 1
    assert org.route(updated(20)) == []
    runs = org.runs(once["id"])
    assert runs[0]["status"] == "skipped" and len(runs) == 2
    assert "once per record" in runs[0]["reason"]
    service.archive_automation(
        uuid.UUID(once["id"]), org.owner, unit_of_work=org.uow, stopper=cloud.engine
    )

    # not while active: a second event during the first run's delay is skipped; after it ends
    # the next event starts a run again
    active = org.create(
        Workflow.model_validate(
            {
                "trigger": {"kind": "field_changed", "record": "lead", "field": "score"},
                "steps": [{"id": "wait", "type": "delay", "seconds": 2}, hook_step("later")],
                "reenrolment": "not_while_active",
            }
        ),
        publish=True,
    )
    [first] = org.route(updated(30))
    assert org.route(updated(40)) == []
    wait_until(lambda: status_of(cloud, first) == "SUCCEEDED")
    assert len(org.route(updated(50))) == 1
    statuses = [run["status"] for run in org.runs(active["id"])]
    assert statuses[1] == "skipped" and len(statuses) == 3


def test_validation_names_the_field_that_does_not_exist(cloud: Cloud) -> None:
    org = Org(cloud)
    create_tag("vip", None, org.context(), unit_of_work=org.uow)

    def problems(data: dict[str, Any]) -> list[tuple[str, ...]]:
        with pytest.raises(ValidationFailed) as raised:
            org.create(Workflow.model_validate(data))
        return [tuple(map(str, e["loc"])) for e in raised.value.extra["errors"]]

    assert problems({"trigger": {"event": "crm.lead.teleported"}, "steps": [hook_step("a")]}) == [
        ("body", "workflow", "trigger", "event")
    ]
    assert problems(
        {"trigger": {"event": "crm.automation.run_failed"}, "steps": [hook_step("a")]}
    ) == [("body", "workflow", "trigger", "event")]
    condition = {
        "id": "c",
        "type": "condition",
        "when": {"all": [{"field": "lead.colour", "op": "eq", "value": "red"}]},
        "then": [hook_step("a")],
    }
    assert problems({"trigger": {"event": "crm.lead.created"}, "steps": [condition]}) == [
        ("body", "workflow", "steps", "0", "when", "all", "0", "field")
    ]
    tagged = {"id": "t", "type": "action", "action": {"kind": "add_tag", "tag": "ghost"}}
    assert problems({"trigger": {"event": "crm.lead.created"}, "steps": [tagged]}) == [
        ("body", "workflow", "steps", "0", "action", "tag")
    ]
    assert problems(
        {"trigger": {"kind": "tag_added", "record": "lead", "tag": "nope"}, "steps": [tagged]}
    ) == [
        ("body", "workflow", "trigger", "tag"),
        ("body", "workflow", "steps", "0", "action", "tag"),
    ]
    custom = {
        **condition,
        "when": {"all": [{"field": "lead.custom_fields.plan", "op": "eq", "value": "x"}]},
    }
    assert problems({"trigger": {"event": "crm.lead.created"}, "steps": [custom]}) == [
        ("body", "workflow", "steps", "0", "when", "all", "0", "field")
    ]
    stage = {"kind": "deal_stage_changed", "to_stage_id": str(uuid.uuid4())}
    assert problems({"trigger": stage, "steps": [hook_step("a")]}) == [
        ("body", "workflow", "trigger", "to_stage_id")
    ]

    # What exists passes: a known tag, a snapshot field, a change, the current record
    fine = {
        "trigger": {"kind": "tag_added", "record": "lead", "tag": "vip"},
        "steps": [
            {
                **condition,
                "when": {
                    "any": [
                        {"field": "lead.source", "op": "eq", "value": "web"},
                        {"field": "added", "op": "exists"},
                    ]
                },
            },
            {"id": "t", "type": "action", "action": {"kind": "add_tag", "tag": "VIP"}},
        ],
    }
    assert org.create(Workflow.model_validate(fine))["status"] == "draft"


def test_another_tenants_automation_run_and_version_are_not_found(cloud: Cloud) -> None:
    mine, theirs = Org(cloud, "mine"), Org(cloud, "theirs")
    automation_id = uuid.UUID(mine.create(workflow(hook_step("notify")), publish=True)["id"])
    mine.route(mine.lead_event())
    [run] = mine.runs(str(automation_id))
    for call in (
        lambda: service.get_automation(automation_id, theirs.owner, unit_of_work=theirs.uow),
        lambda: service.get_version(automation_id, 1, theirs.owner, unit_of_work=theirs.uow),
        lambda: service.list_versions(automation_id, theirs.owner, unit_of_work=theirs.uow),
        lambda: service.pause_automation(automation_id, theirs.owner, unit_of_work=theirs.uow),
        lambda: theirs.publish(str(automation_id)),
        lambda: theirs.run(run["id"]),
        lambda: cancel_run(
            uuid.UUID(run["id"]), theirs.owner, unit_of_work=theirs.uow, stopper=cloud.engine
        ),
        lambda: retry_run(
            uuid.UUID(run["id"]),
            theirs.owner,
            unit_of_work=theirs.uow,
            engine=cloud.engine,
            executions=cloud.executions,
        ),
    ):
        with pytest.raises(NotFound):
            call()
    page = service.list_automations(
        theirs.owner, service.AutomationFilters(), PageRequest(10), unit_of_work=theirs.uow
    )
    assert page.items == []
    with pytest.raises(NotFound):
        service.get_version(automation_id, 7, mine.owner, unit_of_work=mine.uow)


def test_the_list_filters_by_status_trigger_kind_and_name_and_pages(cloud: Cloud) -> None:
    org = Org(cloud)
    org.create(workflow(hook_step("a")), name="Welcome web leads")
    org.create(workflow(hook_step("a")), name="Nurture", publish=True)
    org.create(
        Workflow.model_validate({"trigger": {"kind": "deal_won"}, "steps": [hook_step("a")]}),
        name="Won deals",
    )

    def names(**filters: Any) -> list[str]:
        page = service.list_automations(
            org.owner, service.AutomationFilters(**filters), PageRequest(10), unit_of_work=org.uow
        )
        return [item["name"] for item in page.items]

    assert names() == ["Won deals", "Nurture", "Welcome web leads"]
    assert names(status="active") == ["Nurture"]
    assert names(trigger_kind="deal_won") == ["Won deals"]
    assert names(q="WEB") == ["Welcome web leads"]
    first = service.list_automations(
        org.owner, service.AutomationFilters(), PageRequest(2), unit_of_work=org.uow
    )
    assert len(first.items) == 2 and first.next is not None
    rest = service.list_automations(
        org.owner, service.AutomationFilters(), PageRequest(2, first.next), unit_of_work=org.uow
    )
    assert [item["name"] for item in rest.items] == ["Welcome web leads"] and rest.next is None


def test_a_condition_after_a_delay_reads_the_record_as_it_is_then(cloud: Cloud) -> None:
    org = Org(cloud)
    flow = workflow(
        {"id": "wait", "type": "delay", "seconds": 2},
        {
            "id": "is_partner",
            "type": "condition",
            "when": {"all": [{"field": "record.source", "op": "in", "value": ["partner", "x"]}]},
            "then": [hook_step("yes", OK_HOOK + "/yes")],
            "else": [hook_step("no", OK_HOOK + "/no")],
        },
    )
    automation_id = org.create(flow, publish=True)["id"]
    event = org.lead_event("Changing", source="web")
    [arn] = org.route(event)

    # While the run waits, the lead's source changes: the condition sees the new value
    from crm.services.leads import update_lead

    lead_id = uuid.UUID(event.subject.split("/")[1])
    update_lead(lead_id, {"source": "partner"}, org.context(), unit_of_work=org.uow)
    wait_until(lambda: status_of(cloud, arn) != "RUNNING")
    assert status_of(cloud, arn) == "SUCCEEDED"
    assert (cloud.webhooks.hits(OK_HOOK + "/yes"), cloud.webhooks.hits(OK_HOOK + "/no")) == (1, 0)
    [run] = org.runs(automation_id)
    steps = {step["id"]: step for step in org.run(run["id"])["steps"]}
    assert steps["is_partner"]["outcome"] is True and steps["no"]["state"] == "skipped"


def test_the_exit_condition_ends_a_run_as_exited_before_its_next_action(cloud: Cloud) -> None:
    org = Org(cloud)
    flow = workflow(
        hook_step("welcome", OK_HOOK + "/welcome"),
        {"id": "wait", "type": "delay", "seconds": 2},
        hook_step("follow_up", OK_HOOK + "/follow_up"),
        exit_when={"any": [{"field": "record.status", "op": "eq", "value": "lost"}]},
    )
    automation_id = org.create(flow, publish=True)["id"]
    event = org.lead_event("Leaving")
    [arn] = org.route(event)
    wait_until(lambda: cloud.webhooks.hits(OK_HOOK + "/welcome") == 1)

    from crm.services.leads import update_lead

    lead_id = uuid.UUID(event.subject.split("/")[1])
    update_lead(
        lead_id, {"status": "lost", "lost_reason": "budget"}, org.context(), unit_of_work=org.uow
    )
    wait_until(lambda: status_of(cloud, arn) != "RUNNING")
    assert cloud.webhooks.hits(OK_HOOK + "/follow_up") == 0
    [run] = org.runs(automation_id)
    assert run["status"] == "exited" and "follow_up" in run["reason"]
    assert org.run(run["id"])["status"] == "exited"
    assert [kind for kind, _ in run_events_of(cloud, run["id"])] == [
        "crm.automation.run_started",
        "crm.automation.run_exited",
    ]

    # A lead that stays open runs to the end
    other = org.lead_event("Staying")
    [arn] = org.route(other)
    wait_until(lambda: status_of(cloud, arn) != "RUNNING")
    assert cloud.webhooks.hits(OK_HOOK + "/follow_up") == 1


def run_events_of(cloud: Cloud, run_id: str) -> list[tuple[str, str]]:
    rows = cloud.admin_conn.run(
        "SELECT type, envelope->'data'->>'status' FROM outbox"
        " WHERE type LIKE 'crm.automation.run_%' AND envelope->'data'->>'run_id' = :id"
        " ORDER BY created_at",
        id=run_id,
    )
    return [(row[0], row[1]) for row in rows]


def test_run_lifecycle_events_go_through_the_outbox_once(cloud: Cloud, migrated: Any) -> None:
    from crm.adapters.postgres.connection import ConnectionPool
    from crm.adapters.postgres.housekeeping import PostgresExpiredRecords
    from crm.services.automation_run_events import sweep_running_runs

    org = Org(cloud)
    automation_id = org.create(workflow(hook_step("notify")), publish=True)["id"]
    [arn] = org.route(org.lead_event())
    wait_until(lambda: status_of(cloud, arn) == "SUCCEEDED")
    run_id = run_id_of(org, automation_id)
    assert run_events_of(cloud, run_id) == [("crm.automation.run_started", "running")]

    # Nobody reads the run: the scheduled sweep records its outcome and publishes the event
    relay_pool = ConnectionPool(migrated.relay_url, size=1)
    try:
        directory = PostgresExpiredRecords(relay_pool)
        later = datetime.now(UTC) + timedelta(minutes=1)
        ended = sweep_running_runs(
            directory, unit_of_work=org.uow, executions=cloud.executions, now=later
        )
        assert ended >= 1
        # a second sweep finds the run recorded already: no second event
        sweep_running_runs(directory, unit_of_work=org.uow, executions=cloud.executions, now=later)
    finally:
        relay_pool.close()
    assert run_events_of(cloud, run_id) == [
        ("crm.automation.run_started", "running"),
        ("crm.automation.run_succeeded", "succeeded"),
    ]
    # Reading the run afterwards publishes nothing more
    assert org.run(run_id)["status"] == "succeeded"
    assert len(run_events_of(cloud, run_id)) == 2

    # Cancelled and exited runs publish their own events
    waiting = org.create(workflow({"id": "w", "type": "delay", "seconds": 30}, hook_step("x")),
                         publish=True)  # fmt: skip
    org.route(org.lead_event("Waits"))
    waiting_run = run_id_of(org, waiting["id"])
    cancel_run(uuid.UUID(waiting_run), org.owner, unit_of_work=org.uow, stopper=cloud.engine)
    assert [kind for kind, _ in run_events_of(cloud, waiting_run)] == [
        "crm.automation.run_started",
        "crm.automation.run_cancelled",
    ]


def run_id_of(org: Org, automation_id: str) -> str:
    rows = org.cloud.admin_conn.run(
        "SELECT id FROM automation_runs WHERE automation_id = CAST(:a AS uuid)", a=automation_id
    )
    assert len(rows) == 1
    return str(rows[0][0])


def test_a_switch_takes_the_first_matching_case_or_its_default(cloud: Cloud) -> None:
    org = Org(cloud)
    flow = workflow(
        {
            "id": "by_source",
            "type": "switch",
            "cases": [
                {
                    "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
                    "steps": [hook_step("web", OK_HOOK + "/web")],
                },
                {
                    "when": {"any": [{"field": "lead.source", "op": "in", "value": ["ads", "x"]}]},
                    "steps": [hook_step("ads", OK_HOOK + "/ads")],
                },
            ],
            "default": [hook_step("other", OK_HOOK + "/other")],
        },
        hook_step("after", OK_HOOK + "/after"),
    )
    automation_id = org.create(flow, publish=True)["id"]
    arns = [org.route(org.lead_event(source, source=source))[0] for source in ("ads", "fax")]
    for arn in arns:
        wait_until(lambda arn=arn: status_of(cloud, arn) != "RUNNING")
    hits = {path: cloud.webhooks.hits(OK_HOOK + path) for path in ("/web", "/ads", "/other")}
    assert hits == {"/web": 0, "/ads": 1, "/other": 1}
    assert cloud.webhooks.hits(OK_HOOK + "/after") == 2

    outcomes = {}
    for run in org.runs(automation_id):
        steps = {step["id"]: step for step in org.run(run["id"])["steps"]}
        outcomes[run["event"]["subject"]] = (
            steps["by_source"]["outcome"],
            steps["web"]["state"],
            steps["ads"]["state"],
            steps["other"]["state"],
        )
    assert sorted(outcomes.values()) == [
        ("1", "skipped", "succeeded", "skipped"),
        ("default", "skipped", "skipped", "succeeded"),
    ]


def test_manual_enrolment_starts_one_run_per_record_and_version(cloud: Cloud) -> None:
    from crm.services.automation_enrolment import enrol_records

    org = Org(cloud)
    flow = workflow(
        {
            "id": "is_web",
            "type": "condition",
            "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
            "then": [hook_step("web", OK_HOOK + "/web")],
        }
    )
    automation = org.create(flow, publish=True)
    lead, _ = create_lead(NewLead(name="Picked", source="web"), org.owner, unit_of_work=org.uow)
    missing = uuid.uuid4()

    def enrol() -> dict[str, Any]:
        return enrol_records(
            uuid.UUID(automation["id"]),
            [uuid.UUID(lead["id"]), missing],
            org.owner,
            unit_of_work=org.uow,
            engine=cloud.engine,
            step_function_arn=STEP_FUNCTION_ARN,
        )

    first = enrol()
    assert first["started"] == 1
    assert [r["status"] for r in first["records"]] == ["started", "not_found"]
    wait_until(lambda: cloud.webhooks.hits(OK_HOOK + "/web") == 1)
    # the same record in the same version: nothing new
    again = enrol()
    assert again["started"] == 0 and again["records"][0]["status"] == "already_enrolled"
    [run] = org.runs(automation["id"])
    assert run["event"]["type"] == "crm.automation.record_enrolled"
    assert run["event"]["subject"] == f"leads/{lead['id']}"
    # a paused automation enrols nothing; another tenant's is 404
    service.pause_automation(uuid.UUID(automation["id"]), org.owner, unit_of_work=org.uow)
    with pytest.raises(Conflict):
        enrol()
    other = Org(cloud, "other")
    with pytest.raises(NotFound):
        enrol_records(
            uuid.UUID(automation["id"]),
            [uuid.UUID(lead["id"])],
            other.owner,
            unit_of_work=other.uow,
            engine=cloud.engine,
            step_function_arn=STEP_FUNCTION_ARN,
        )


def test_delay_until_a_date_field_waits_for_the_computed_moment(cloud: Cloud) -> None:
    org = Org(cloud)
    flow = workflow(
        {"id": "later", "type": "delay_until", "field": "lead.created_at", "offset_seconds": 3},
        hook_step("woke", OK_HOOK + "/woke"),
    )
    automation_id = org.create(flow, publish=True)["id"]
    event = org.lead_event("Timed")
    created_at = datetime.fromisoformat(event.data["lead"]["created_at"])
    [arn] = org.route(event)
    wait_until(lambda: status_of(cloud, arn) != "RUNNING", timeout=60)
    assert status_of(cloud, arn) == "SUCCEEDED"
    assert cloud.webhooks.hits(OK_HOOK + "/woke") == 1
    history = cloud.client.get_execution_history(executionArn=arn)["events"]
    # the Task worked out created_at + 3 s; the Wait waited on it
    computed = [
        json.loads(e["stateExitedEventDetails"]["output"])["wake"]["later"]["at"]
        for e in history
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "When_later"
    ]
    expected = (created_at + timedelta(seconds=3)).astimezone(UTC)
    assert computed == [expected.strftime("%Y-%m-%dT%H:%M:%SZ")]
    entered, exited = (
        next(e["timestamp"] for e in history if e["type"] == kind)
        for kind in ("WaitStateEntered", "WaitStateExited")
    )
    assert (exited - entered).total_seconds() >= 1
    [run] = org.runs(automation_id)
    steps = {step["id"]: step for step in org.run(run["id"])["steps"]}
    assert steps["later"]["state"] == "succeeded"
