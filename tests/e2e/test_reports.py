"""Reports end to end through the local cloud: deals written through the API reach OpenSearch
through the outbox, RabbitMQ and the analytics worker, and GET /reports/pipelines counts them
per stage and currency; tenants and sellers see only what is theirs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver
from tests.e2e.tenancy_support import Api as AutomationsApi
from tests.e2e.test_automation_runs import (
    create_automation,
    create_lead,
    eventually,
    failing_receiver,
)
from tests.e2e.test_pipelines_deals import Api, Org, _org, _problem, _user, admin

pytestmark = pytest.mark.e2e

__all__ = ["admin", "failing_receiver"]  # fixtures, imported for this module's tests


def _eventually(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return check()


def _report(api: Api, **params: Any) -> dict[str, Any]:
    response = api.get("/reports/pipelines", **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _only(report: dict[str, Any], pipeline_id: str) -> dict[str, Any]:
    return next(p for p in report["pipelines"] if p["pipeline_id"] == pipeline_id)


def _stages(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage["name"]: stage for stage in entry["stages"]}


def _move(org: Org, deal: dict[str, Any], pipeline: dict[str, Any], stage: str) -> None:
    body: dict[str, Any] = {"stage_id": org.stage(pipeline, stage)}
    if stage == "Lost":
        body["lost_reason"] = "budget"
    moved = org.api.call("PATCH", f"/deals/{deal['id']}", body)
    assert moved.status_code == 200, moved.text


def test_the_pipeline_report_counts_stages_currencies_and_conversion(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Reporters")
    other = _org(local_cloud, admin, "Bystanders")
    ana, ana_id = _user(local_cloud, admin, org, "seller")
    pipeline = org.default_pipeline()
    eur_big = org.deal(title="A", value="1000.00", currency="EUR")
    eur_small = org.deal(title="B", value="250.50", currency="EUR")
    usd = org.deal(title="C", value="99.99", currency="USD")
    org.deal(title="D", value="10.00", currency="USD")  # stays in Prospecting
    anas = ana.call("POST", "/deals", {"title": "E", "value": "5.00", "currency": "EUR"})
    assert anas.status_code == 201 and anas.json()["owner_id"] == ana_id
    _move(org, eur_big, pipeline, "Won")
    _move(org, usd, pipeline, "Won")
    _move(org, eur_small, pipeline, "Lost")

    def settled() -> bool:
        entry = _only(_report(org.api), pipeline["id"])
        return bool(entry["deals"] == 5 and entry["won"]["deals"] == 2 and entry["lost"]["deals"])

    assert _eventually(settled), _report(org.api)
    entry = _only(_report(org.api, pipeline_id=pipeline["id"]), pipeline["id"])
    stages = _stages(entry)
    assert stages["Prospecting"]["deals"] == 2 and stages["Prospecting"]["values"] == [
        {"currency": "EUR", "deals": 1, "value": "5.00"},
        {"currency": "USD", "deals": 1, "value": "10.00"},
    ]
    assert stages["Won"]["values"] == [
        {"currency": "EUR", "deals": 1, "value": "1000.00"},
        {"currency": "USD", "deals": 1, "value": "99.99"},
    ]
    assert stages["Lost"]["values"] == [{"currency": "EUR", "deals": 1, "value": "250.50"}]
    assert stages["Proposal"] == {**stages["Proposal"], "deals": 0, "values": []}
    assert entry["won"]["values"] == stages["Won"]["values"]
    assert entry["lost"] == {"deals": 1, "values": stages["Lost"]["values"]}
    assert entry["conversion_rate"] == round(2 / 3, 4)
    assert entry["average_days_to_close"] is not None and entry["average_days_to_close"] < 1
    month = time.strftime("%Y-%m", time.gmtime())
    assert entry["created_per_month"] == [{"month": month, "deals": 5}]

    # a period that ends before today: nothing closed or created in it, the stages unchanged
    past = _only(_report(org.api, **{"from": "2020-01-01", "to": "2020-12-31"}), pipeline["id"])
    assert past["won"]["deals"] == 0 and past["conversion_rate"] is None
    assert past["created_per_month"] == [] and past["deals"] == 5

    # the seller: their deal and unassigned ones only (every deal here has an owner)
    seller = _only(_report(ana), pipeline["id"])
    assert seller["deals"] == 1 and seller["won"]["deals"] == 0
    assert _stages(seller)["Prospecting"]["values"] == [
        {"currency": "EUR", "deals": 1, "value": "5.00"}
    ]

    # the other tenant: its own empty default pipeline, and 404 for this one
    theirs = _report(other.api)
    assert [p["deals"] for p in theirs["pipelines"]] == [0]
    assert theirs["pipelines"][0]["pipeline_id"] != pipeline["id"]
    _problem(other.api.get("/reports/pipelines", pipeline_id=pipeline["id"]), 404)
    _problem(org.api.get("/reports/pipelines", pipeline_id=str(uuid.uuid4())), 404)


def test_bad_report_parameters_are_422_problems(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "Validators")
    for params, field in (
        ({"pipeline_id": "not-a-uuid"}, "pipeline_id"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-31"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
    ):
        problem = _problem(org.api.get("/reports/pipelines", **params), 422)
        assert [error["loc"] for error in problem["errors"]] == [["query", field]], params


def test_the_automations_report_counts_runs_and_outcomes_per_automation_and_day(
    local_cloud: LocalCloudProcess,
    admin: Any,
    webhook_receiver: WebhookReceiver,
    failing_receiver: str,
) -> None:
    org = _org(local_cloud, admin, "Automators")  # a paid plan: room for two automations
    other = _org(local_cloud, admin, "Idlers")
    token = str(org.api.session.headers["Authorization"]).removeprefix("Bearer ")
    api = AutomationsApi(local_cloud.url, token)
    good = create_automation(api, "Good hook", webhook_receiver.url)
    broken = create_automation(api, "Broken hook", failing_receiver)
    create_lead(api, "Web Lead", "web")
    create_lead(api, "Phone Lead", "phone")

    def read() -> dict[str, Any]:
        response = org.api.get("/reports/automations")
        assert response.status_code == 200, response.text
        return dict(response.json())

    # Only this report is read: it asks Step Functions about the runs still cached as
    # running. The broken hook's action is retried (2 + 4 + 8 s) before its run fails.
    report = eventually(read, lambda r: r["totals"]["running"] == 0 and r["totals"]["runs"] == 4)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert report["totals"] == {
        "runs": 4,
        "succeeded": 3,
        "failed": 1,
        "running": 0,
        "skipped": 0,
        "cancelled": 0,
        "exited": 0,
    }, report
    by_id = {a["automation_id"]: a for a in report["automations"]}
    assert by_id[good] == {
        "automation_id": good,
        "name": "Good hook",
        "runs": 2,
        "succeeded": 2,
        "failed": 0,
        "running": 0,
        "skipped": 0,
        "cancelled": 0,
        "exited": 0,
        "per_day": [
            {
                "date": today,
                "runs": 2,
                "succeeded": 2,
                "failed": 0,
                "running": 0,
                "skipped": 0,
                "cancelled": 0,
                "exited": 0,
            }
        ],
    }
    # the phone lead's run succeeds (condition false, nothing to do); the web lead's fails
    assert (by_id[broken]["succeeded"], by_id[broken]["failed"]) == (1, 1)
    # outside the period: nothing
    past = org.api.get("/reports/automations", **{"from": "2020-01-01", "to": "2020-01-31"})
    assert past.json()["totals"]["runs"] == 0 and past.json()["automations"] == []
    # another tenant sees none of it
    theirs = other.api.get("/reports/automations").json()
    assert theirs["totals"] == {
        "runs": 0,
        "succeeded": 0,
        "failed": 0,
        "running": 0,
        "skipped": 0,
        "cancelled": 0,
        "exited": 0,
    }
    assert theirs["automations"] == []
    _problem(org.api.get("/reports/automations", **{"from": "2026-02-01", "to": "2026-01-01"}), 422)


def test_the_leads_report_gives_the_average_days_to_convert(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Converters")
    other = _org(local_cloud, admin, "Watchers")
    lead = org.api.call("POST", "/leads", {"name": "Rita", "email": "rita@x.io"}).json()
    org.api.call("POST", "/leads", {"name": "Open", "email": "open@x.io"})
    converted = org.api.call("POST", f"/leads/{lead['id']}/convert", {})
    assert converted.status_code == 200, converted.text

    def read() -> dict[str, Any]:
        response = org.api.get("/reports/leads")
        assert response.status_code == 200, response.text
        return dict(response.json())

    report = eventually(read, lambda r: r["by_status"].get("converted") == 1)
    assert report["total"] == 2 and report["by_status"] == {"converted": 1, "new": 1}
    # converted seconds after it was created
    assert report["average_days_to_convert"] is not None
    assert 0 <= report["average_days_to_convert"] < 0.01
    assert other.api.get("/reports/leads").json()["average_days_to_convert"] is None
    # a seller counts their own and unassigned leads only (the owner's two are not theirs)
    ana, _ = _user(local_cloud, admin, org, "seller")
    assert ana.call("POST", "/leads", {"name": "Ana's", "email": "anas@x.io"}).status_code == 201
    seen = eventually(lambda: dict(ana.get("/reports/leads").json()), lambda r: r["total"] == 1)
    assert seen["by_status"] == {"new": 1} and seen["average_days_to_convert"] is None
