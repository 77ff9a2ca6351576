"""Schemathesis against the local cloud: every operation of the served /openapi.json, with
generated requests, must answer no 5xx, only statuses and content types the document names,
and bodies that match its schemas.

The budget fits CI: a few examples per operation, a fixed seed (derandomised), so a run is
repeatable and a failure names the request to reproduce. The caller is an owner's API key of
an enterprise tenant (the highest request limit): unlike a session token, no generated request
(POST /auth/logout, MFA enrolment) can end it half way through the run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from crm.domain.permissions import PERMISSIONS
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_pipelines_deals import _admin, _org

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 10
NEGATIVE_EXAMPLES_PER_OPERATION = 5
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [schemathesis.checks.not_a_server_error, content_type_conformance]


@pytest.fixture(scope="module")
def fuzz_caller(local_cloud: LocalCloudProcess, endpoints: Endpoints) -> Iterator[str]:
    """An API key with every permission, of an owner of an enterprise tenant."""
    for admin in _admin(endpoints):
        org = _org(local_cloud, admin, "Fuzz", plan="enterprise")
        created = org.api.call(
            "POST", "/api-keys", {"name": "schemathesis", "scopes": sorted(PERMISSIONS)}
        )
        assert created.status_code == 201, created.text
        yield str(created.json()["secret"])


@dataclass(frozen=True)
class Finding:
    operation: str
    kind: str
    detail: str
    reproduce: str


def _findings(case: Any, caller: str, checks: list[Any]) -> list[Finding]:
    headers = {"Authorization": f"Bearer {caller}"}
    curl = case.as_curl_command(headers=headers)
    try:
        case.call_and_validate(headers=headers, checks=checks)
    except (Failure, FailureGroup) as error:
        failures = list(error.exceptions) if isinstance(error, FailureGroup) else [error]
        return [
            Finding(case.operation.label, failure.title, failure.message[:300], curl)
            for failure in failures
        ]
    except requests.ConnectionError as error:  # the gateway dropped the connection
        return [Finding(case.operation.label, "Connection dropped", str(error)[:300], curl)]
    return []


def test_the_api_keeps_its_contract(local_cloud: LocalCloudProcess, fuzz_caller: str) -> None:
    """Given the served document, when every operation gets generated requests, then none
    answers 5xx or strays from the document."""
    served = requests.get(f"{local_cloud.url}/openapi.json", timeout=30)
    assert served.status_code == 200, served.text
    schema = schemathesis.openapi.from_dict(served.json())
    schema.config.update(base_url=local_cloud.url)
    findings: list[Finding] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples, checks in (
            (GenerationMode.POSITIVE, EXAMPLES_PER_OPERATION, CHECKS),
            # invalid requests (wrong types, missing fields, bodies of other media types):
            # any 4xx will do, never a 5xx
            (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES_PER_OPERATION, NEGATIVE_CHECKS),
        ):

            @settings(
                max_examples=examples,
                derandomize=True,  # the fixed seed: the same requests on every run
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                phases=[Phase.explicit, Phase.generate],
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case: Any) -> None:
                findings.extend(_findings(case, fuzz_caller, checks))  # noqa: B023 (run now)

            try:
                exercise()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations > 90
    server_errors = [f for f in findings if "Server error" in f.kind]
    report = "\n".join(f"{f.operation}: {f.kind}: {f.detail}\n    {f.reproduce}" for f in findings)
    assert not findings, f"{len(server_errors)} server errors, {len(findings)} findings:\n{report}"
