"""The deploy-time custom resources, run as CloudFormation runs them: the packaged handler (the
file template.yaml's CodeUri ships, with its migrations/ beside it) gets a Create/Update event,
reads its secrets from Secrets Manager (embedded moto) and answers on the ResponseURL (a
loopback server standing in for the pre-signed S3 URL).

- DatabaseMigrations migrates an empty database (real PostgreSQL) and is a no-op on a migrated
  one;
- JwtKeySet writes the first signing key set over the random string CloudFormation leaves in
  the secret, keeps it on update, and the schedule rotates it keeping the old key.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import boto3
import pytest
from crm.adapters.postgres.connection import ConnectionParams, connect, with_credentials
from crm.adapters.secrets.jwt_keys import SigningKeySet
from moto import mock_aws

from local.services import Endpoints
from tests.support import ROOT
from tests.unit.test_template import _functions

pytestmark = pytest.mark.integration


@pytest.fixture()
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    responses: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            responses.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/response", responses
    server.shutdown()
    server.server_close()


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager")


@pytest.fixture()
def fresh_database(endpoints: Endpoints) -> Iterator[str]:
    name = f"crm_deploy_{uuid.uuid4().hex[:8]}"
    admin = connect(endpoints.admin_database_url)
    admin.run(f"CREATE DATABASE {name}")
    yield endpoints.admin_database_url.rsplit("/", 1)[0] + f"/{name}"
    admin.run(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


def _packaged(logical_id: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The handler module of a template function, loaded from its CodeUri as Lambda would."""
    properties = _functions()[logical_id]
    module_name, _, _ = properties["Handler"].rpartition(".")
    path = ROOT / properties["CodeUri"] / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"packaged_{logical_id}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def _event(kind: str, url: str, logical_id: str) -> dict[str, Any]:
    return {"RequestType": kind, "ResponseURL": url, "StackId": "arn:stack/crm",
            "RequestId": str(uuid.uuid4()), "LogicalResourceId": logical_id,
            "ResourceProperties": {}}  # fmt: skip


class _Context:
    function_name = "DeployFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DeployFunction"
    aws_request_id = "req-1"


def _secret(client: Any, name: str, username: str, password: str) -> str:
    value = json.dumps({"username": username, "password": password})
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def test_migrations_run_from_the_package_on_an_empty_database_then_are_a_no_op(
    fresh_database: str,
    aws: Any,
    cloudformation: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, responses = cloudformation
    owner = ConnectionParams.from_url(fresh_database)
    # the roles are cluster-wide and other tests log in with these passwords: keep them
    monkeypatch.setenv(
        "DATABASE_OWNER_SECRET_ARN", _secret(aws, "owner", owner.user, owner.password or "")
    )
    monkeypatch.setenv("DATABASE_APP_SECRET_ARN", _secret(aws, "app", "crm_app", "crm_app"))
    monkeypatch.setenv("DATABASE_RELAY_SECRET_ARN", _secret(aws, "relay", "crm_relay", "crm_relay"))
    # what the functions get: the app's credentials; the resource swaps in the owner's
    monkeypatch.setenv("DATABASE_URL", with_credentials(fresh_database, "crm_app", "crm_app"))
    module = _packaged("DatabaseMigrationsFunction", monkeypatch)
    shipped = sorted(p.name for p in (ROOT / "infra/db/migrations").glob("*.sql"))

    module.handler(_event("Create", url, "DatabaseMigrations"), _Context())
    assert responses[-1]["Status"] == "SUCCESS", responses[-1]["Reason"]
    assert responses[-1]["Data"] == {"Applied": len(shipped)}
    check = connect(fresh_database)
    try:
        recorded = [r[0] for r in check.run("SELECT name FROM schema_migrations ORDER BY name")]
        assert recorded == shipped
        before = check.run("SELECT name, applied_at FROM schema_migrations ORDER BY name")
    finally:
        check.close()

    module.handler(_event("Update", url, "DatabaseMigrations"), _Context())
    assert responses[-1]["Status"] == "SUCCESS", responses[-1]["Reason"]
    assert responses[-1]["Data"] == {"Applied": 0} and responses[-1]["Reason"] == "up to date"
    check = connect(fresh_database)
    try:
        assert check.run("SELECT name, applied_at FROM schema_migrations ORDER BY name") == before
    finally:
        check.close()
    app = connect(with_credentials(fresh_database, "crm_app", "crm_app"))
    try:
        assert app.run("SELECT current_user") == [["crm_app"]]
    finally:
        app.close()

    module.handler(_event("Delete", url, "DatabaseMigrations"), _Context())
    assert responses[-1]["Status"] == "SUCCESS"


def test_migrations_that_cannot_reach_the_database_fail_the_deploy_not_hang_it(
    aws: Any, cloudformation: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, responses = cloudformation
    for name in ("OWNER", "APP", "RELAY"):
        monkeypatch.setenv(f"DATABASE_{name}_SECRET_ARN", _secret(aws, name, "u", "p"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/crm")
    module = _packaged("DatabaseMigrationsFunction", monkeypatch)
    module.handler(_event("Create", url, "DatabaseMigrations"), _Context())
    assert responses[-1]["Status"] == "FAILED" and responses[-1]["Reason"]


def test_the_key_set_is_written_on_first_deploy_kept_on_update_and_rotated_on_schedule(
    aws: Any, cloudformation: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, responses = cloudformation
    # CloudFormation creates the secret with a random string of its own
    arn = aws.create_secret(Name="jwt", SecretString="x7Gq0-random-password")["ARN"]
    monkeypatch.setenv("JWT_SIGNING_SECRET_ARN", arn)
    module = _packaged("JwtKeysFunction", monkeypatch)

    module.handler(_event("Create", url, "JwtKeySet"), _Context())
    assert responses[-1]["Status"] == "SUCCESS", responses[-1]["Reason"]
    first = SigningKeySet.from_json(aws.get_secret_value(SecretId=arn)["SecretString"])
    assert responses[-1]["Data"] == {"ActiveKid": first.active_kid}

    module.handler(_event("Update", url, "JwtKeySet"), _Context())
    assert responses[-1]["Reason"] == "kept"
    same = SigningKeySet.from_json(aws.get_secret_value(SecretId=arn)["SecretString"])
    assert same.active_kid == first.active_kid

    rotated = module.handler({"source": "scheduler"}, _Context())  # the rotation schedule
    after = SigningKeySet.from_json(aws.get_secret_value(SecretId=arn)["SecretString"])
    assert after.active_kid == rotated["active_kid"] != first.active_kid
    assert first.active_kid in after.private_keys  # old tokens keep verifying
