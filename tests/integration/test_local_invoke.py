"""`python -m local invoke` runs one handler once, like `sam local invoke`, with the sample
events of events/: the result on stdout, exit 1 when the handler raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from crm.adapters.postgres.migrations import MigrationResult

from local.services import Endpoints
from tests.support import ROOT

pytestmark = pytest.mark.integration


def invoke(endpoints: Endpoints, function: str, event: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": endpoints.admin_database_url,
        "AMQP_URL": endpoints.amqp_url,
        "OPENSEARCH_URL": endpoints.opensearch_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "local", "invoke", function, "--event", event, "--profile", "test"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_invoke_runs_the_scheduled_relay_once(
    endpoints: Endpoints, migrated: MigrationResult
) -> None:
    result = invoke(endpoints, "OutboxRelayFunction", "events/outbox_relay/scheduled.json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert isinstance(json.loads(result.stdout)["published"], int)


def test_invoke_exits_1_when_the_handler_raises(
    endpoints: Endpoints, migrated: MigrationResult
) -> None:
    # The sample's bearer token is a placeholder: the authorizer must refuse it.
    result = invoke(endpoints, "AuthorizerFunction", "events/authorizer/request.json")
    assert result.returncode == 1
    assert "Unauthorized" in result.stderr


def test_invoke_names_an_unknown_function(endpoints: Endpoints) -> None:
    result = invoke(endpoints, "NoSuchFunction", "events/outbox_relay/scheduled.json")
    assert result.returncode != 0
    assert "NoSuchFunction" in result.stderr
