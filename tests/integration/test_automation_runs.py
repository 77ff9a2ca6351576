"""Runs read back on the real PostgreSQL (as the app role, RLS on) and embedded moto's Step
Functions with real execution: the router starts the runs, the Task states run the real
execute_step (its webhook sender is a recording fake), and crm.services.automation_runs lists
and inspects them through StepFunctionsExecutions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.sfn.engine import StepFunctionsEngine
from crm.adapters.sfn.executions import StepFunctionsExecutions
from crm.automation.model import Workflow
from crm.domain.errors import NotFound
from crm.domain.events import CloudEvent
from crm.domain.pagination import PageRequest
from crm.domain.run_inspection import ExecutionInfo, RunFilters
from crm.domain.tenants import Principal, Role
from crm.domain.webhooks import AttemptResult, TargetPolicy
from crm.services.automation_runs import get_run, list_runs
from crm.services.automation_runtime import execute_step, route_event
from crm.services.automation_webhooks import OutboundSettings
from crm.services.automations import create_automation
from crm.services.leads import NewLead, create_lead
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import DefaultConfig

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

REGION = "us-east-1"
STEP_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"
ROLE_ARN = "arn:aws:iam::123456789012:role/automation-runner"
HOOK = "http://hooks.test/crm"
CIPHER = FieldCipher(bytes(32))


@dataclass
class RecordingWebhooks:
    sent: list[str] = field(default_factory=list)

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, read_limit: int = 0
    ) -> AttemptResult:
        self.sent.append(headers["webhook-id"])
        return AttemptResult(204)


@dataclass
class CountingExecutions:
    """StepFunctionsExecutions, counting the DescribeExecution calls it makes."""

    inner: StepFunctionsExecutions
    described: list[str] = field(default_factory=list)

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        self.described.append(execution_arn)
        return self.inner.describe(execution_arn)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.inner.history(execution_arn)


@dataclass
class Cloud:
    db: PostgresDatabase
    admin_conn: Any
    client: Any
    webhooks: RecordingWebhooks

    @property
    def engine(self) -> StepFunctionsEngine:
        return StepFunctionsEngine(self.client, ROLE_ARN)

    def executions(self) -> CountingExecutions:
        return CountingExecutions(StepFunctionsExecutions(self.client))


@pytest.fixture
def cloud(
    db: PostgresDatabase, admin_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STEPFUNCTIONS", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    webhooks = RecordingWebhooks()

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        result = execute_step(
            json.loads(body), unit_of_work=db.unit_of_work, webhooks=webhooks, cipher=CIPHER
        )
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    config: DefaultConfig = {
        "stepfunctions": {"execute_state_machine": True},
        "lambda": {"use_docker": False},
    }
    with mock_aws(config=config):
        yield Cloud(db, admin_conn, boto3.client("stepfunctions", region_name=REGION), webhooks)


class Org:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        tenant, owner = make_tenant(cloud.db, "runs")
        self.owner = Principal(tenant.id, owner.id, Role.OWNER)
        workflow = Workflow.model_validate(
            {
                "trigger": {"event": "crm.lead.created"},
                "steps": [
                    {
                        "id": "is_web",
                        "type": "condition",
                        "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
                        "then": [
                            {
                                "id": "notify",
                                "type": "action",
                                "action": {"kind": "webhook", "url": HOOK},
                            }
                        ],
                    }
                ],
            }
        )
        created = create_automation(
            "Web leads",
            workflow,
            self.owner,
            unit_of_work=cloud.db.unit_of_work,
            step_function_arn=STEP_FUNCTION_ARN,
            outbound=OutboundSettings(
                cipher=CIPHER,
                policy=TargetPolicy(allow_http=True),
                resolve=lambda host, port: ["93.184.216.34"],
            ),
        )
        self.automation_id = uuid.UUID(created["id"])

    def lead_run(self, source: str) -> tuple[str, str]:
        """Creates a lead, routes its crm.lead.created event; returns (lead id, execution)."""
        lead, _ = create_lead(
            NewLead(name=f"{source} lead", source=source),
            self.owner,
            unit_of_work=self.cloud.db.unit_of_work,
        )
        with self.cloud.db.unit_of_work(self.owner.tenant_id) as uow:
            event = self.event_of(lead["id"])
            [arn] = route_event(
                event, uow, engine=self.cloud.engine, step_function_arn=STEP_FUNCTION_ARN
            )
            uow.commit()
        return lead["id"], arn

    def event_of(self, lead_id: str) -> CloudEvent:
        rows = self.cloud.admin_conn.run(
            "SELECT envelope FROM outbox WHERE type = 'crm.lead.created'"
            " AND envelope->'data'->'lead'->>'id' = :id",
            id=lead_id,
        )
        return CloudEvent.from_dict(rows[0][0])

    def wait(self, arn: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.cloud.client.describe_execution(executionArn=arn)["status"] != "RUNNING":
                return
            time.sleep(0.05)
        raise AssertionError(f"{arn} still running")

    def runs(self, executions: Any, **filters: Any) -> list[dict[str, Any]]:
        page = list_runs(
            self.automation_id,
            self.owner,
            RunFilters(**filters),
            PageRequest(50),
            unit_of_work=self.cloud.db.unit_of_work,
            executions=executions,
        )
        return [run.summary() for run in page.items]


def test_runs_are_listed_with_their_outcome_cached_after_one_describe(cloud: Cloud) -> None:
    org = Org(cloud)
    web_lead, web_arn = org.lead_run("web")
    other_lead, other_arn = org.lead_run("referral")
    org.wait(web_arn)
    org.wait(other_arn)

    # When the runs are listed for the first time, each still-running row is described once
    executions = cloud.executions()
    runs = org.runs(executions)
    assert [run["event"]["subject"] for run in runs] == [f"leads/{other_lead}", f"leads/{web_lead}"]
    assert {run["status"] for run in runs} == {"succeeded"}
    assert all(run["event"]["type"] == "crm.lead.created" for run in runs)
    assert sorted(executions.described) == sorted([web_arn, other_arn])

    # Then the finished outcome is cached: listing again asks Step Functions nothing
    again = cloud.executions()
    assert org.runs(again) == runs
    assert again.described == []
    assert org.runs(again, statuses=("failed",)) == []
    assert len(org.runs(again, statuses=("succeeded",))) == 2


def test_a_status_filter_sees_runs_that_finished_since_they_were_cached_as_running(
    cloud: Cloud,
) -> None:
    org = Org(cloud)
    _, arn = org.lead_run("web")
    org.wait(arn)

    # The cached status says running; the filter on succeeded still finds the run
    executions = cloud.executions()
    assert [run["status"] for run in org.runs(executions, statuses=("succeeded",))] == ["succeeded"]
    assert executions.described == [arn]


def test_a_run_step_by_step_from_the_real_history_and_ledger(cloud: Cloud) -> None:
    org = Org(cloud)
    web_lead, web_arn = org.lead_run("web")
    _, other_arn = org.lead_run("referral")
    org.wait(web_arn)
    org.wait(other_arn)
    runs = {run["event"]["subject"]: run for run in org.runs(cloud.executions())}

    web = get_run(
        uuid.UUID(runs[f"leads/{web_lead}"]["id"]),
        org.owner,
        unit_of_work=cloud.db.unit_of_work,
        executions=cloud.executions(),
    )

    assert web["status"] == "succeeded"
    assert web["event"]["envelope"]["data"]["lead"]["id"] == web_lead
    condition, notify = web["steps"]
    assert condition["outcome"] is True and condition["state"] == "succeeded"
    assert notify["state"] == "succeeded"
    result = notify["result"]
    assert result["kind"] == "webhook" and result["status"] == 204
    assert result["response"] == {"status": 204, "body_excerpt": "", "body_truncated": False}
    assert notify["attempts"] == 1
    assert len(cloud.webhooks.sent) == 1
    other = next(run for subject, run in runs.items() if subject != f"leads/{web_lead}")
    body = get_run(
        uuid.UUID(other["id"]),
        org.owner,
        unit_of_work=cloud.db.unit_of_work,
        executions=cloud.executions(),
    )
    assert [step["state"] for step in body["steps"]] == ["succeeded", "skipped"]
    assert body["steps"][0]["outcome"] is False


def test_the_event_type_outlives_the_outbox_row(cloud: Cloud, admin_conn: Any) -> None:
    org = Org(cloud)
    lead_id, arn = org.lead_run("web")
    org.wait(arn)
    admin_conn.run(
        "DELETE FROM outbox WHERE tenant_id = :t AND envelope->'data'->'lead'->>'id' = :id",
        t=org.owner.tenant_id,
        id=lead_id,
    )

    [run] = org.runs(cloud.executions())
    body = get_run(
        uuid.UUID(run["id"]),
        org.owner,
        unit_of_work=cloud.db.unit_of_work,
        executions=cloud.executions(),
    )

    assert body["event"]["type"] == "crm.lead.created"
    assert body["event"]["subject"] == f"leads/{lead_id}"
    assert body["event"]["envelope"] is None


def test_another_tenants_automation_and_run_are_not_found(cloud: Cloud) -> None:
    org, stranger = Org(cloud), Org(cloud)
    _, arn = org.lead_run("web")
    org.wait(arn)
    [run] = org.runs(cloud.executions())

    with pytest.raises(NotFound):
        list_runs(
            org.automation_id,
            stranger.owner,
            RunFilters(),
            PageRequest(10),
            unit_of_work=cloud.db.unit_of_work,
            executions=cloud.executions(),
        )
    with pytest.raises(NotFound):
        get_run(
            uuid.UUID(run["id"]),
            stranger.owner,
            unit_of_work=cloud.db.unit_of_work,
            executions=cloud.executions(),
        )
    assert stranger.runs(cloud.executions()) == []


def test_pages_follow_the_keyset_and_the_created_range(cloud: Cloud) -> None:
    org = Org(cloud)
    arns = [org.lead_run("referral")[1] for _ in range(3)]
    for arn in arns:
        org.wait(arn)
    everything = org.runs(cloud.executions())

    seen: list[str] = []
    after = None
    while True:
        page = list_runs(
            org.automation_id,
            org.owner,
            RunFilters(),
            PageRequest(2, after),
            unit_of_work=cloud.db.unit_of_work,
            executions=cloud.executions(),
        )
        seen += [str(run.id) for run in page.items]
        if page.next is None:
            break
        after = page.next

    assert seen == [run["id"] for run in everything]
    newest = everything[0]["started_at"]
    since = org.runs(cloud.executions(), created_after=datetime.fromisoformat(newest))
    assert [run["id"] for run in since] == [everything[0]["id"]]
    before = org.runs(cloud.executions(), created_before=datetime.fromisoformat(newest))
    assert [run["id"] for run in before] == [run["id"] for run in everything[1:]]
