"""The local cloud's template reader, on the real template.yaml and on the toy template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.environment import IntrinsicResolver, UnresolvableError, build_environment
from local.template import Template, TemplateError, load_yaml, read_template
from tests.support import ROOT

REAL = ROOT / "template.yaml"
TOY = ROOT / "tests" / "fixtures" / "local_cloud" / "template.yaml"


@pytest.fixture(scope="module")
def real() -> Template:
    return read_template(REAL)


@pytest.fixture(scope="module")
def toy() -> Template:
    return read_template(TOY)


def test_short_form_tags_become_long_form(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "A: !Ref X\n"
        "B: !GetAtt Db.Endpoint.Address\n"
        "C: !Sub ['${A}', {A: !Ref Y}]\n"
        "D: !Select [1, !Split [',', 'a,b']]\n"
        "E: !If [Cond, 1, 2]\n"
        "F: !GetAtt [Fn, Arn]\n"
    )
    document = load_yaml(path)
    assert document["A"] == {"Ref": "X"}
    assert document["B"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    assert document["C"] == {"Fn::Sub": ["${A}", {"A": {"Ref": "Y"}}]}
    assert document["D"] == {"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}
    assert document["E"] == {"Fn::If": ["Cond", 1, 2]}
    assert document["F"] == {"Fn::GetAtt": ["Fn", "Arn"]}


def test_real_template_functions_and_globals(real: Template) -> None:
    assert {"AuthorizerFunction", "TenantsApiFunction", "AutomationStepFunction"} <= set(
        real.functions
    )
    tenants = real.functions["TenantsApiFunction"]
    assert tenants.code_uri == ROOT / "functions" / "api_tenants"
    assert tenants.handler == "app.handler"
    assert tenants.handler_file == ROOT / "functions" / "api_tenants" / "app.py"
    assert tenants.timeout_seconds == 29
    assert tenants.memory_mb == 512
    assert tenants.environment["STAGE"] == {"Ref": "Stage"}  # from Globals
    assert tenants.environment["POWERTOOLS_SERVICE_NAME"] == "api-tenants"  # its own
    assert real.functions["OutboxRelayFunction"].timeout_seconds == 60
    assert real.layer_dirs == [ROOT / "layers" / "core"]


def test_real_template_routes_and_authorizer(real: Template) -> None:
    api = real.apis["CrmApi"]
    assert api.stage_name == {"Ref": "Stage"}
    assert api.default_authorizer == "BearerAuthorizer"
    bearer = api.authorizers["BearerAuthorizer"]
    assert bearer.function_id == "AuthorizerFunction"
    assert bearer.payload_type == "REQUEST"
    assert bearer.identity_headers == ("Authorization",)
    assert bearer.reauthorize_every == 300
    routes = {(r.method, r.path): r for r in real.routes}
    assert routes[("POST", "/tenants")].authorizer is None
    assert routes[("POST", "/auth/login")].authorizer is None
    assert routes[("GET", "/.well-known/jwks.json")].authorizer is None
    assert routes[("POST", "/leads")].authorizer == "BearerAuthorizer"
    assert routes[("GET", "/leads/{id}")].function_id == "LeadsApiFunction"
    assert all(r.api_id == "CrmApi" for r in real.routes)


def test_real_template_event_sources_and_schedules(real: Template) -> None:
    sources = {s.function_id: s for s in real.mq_sources}
    assert sources["AnalyticsIndexerFunction"].queues == ("q.analytics",)
    assert sources["AnalyticsIndexerFunction"].batch_size == 50
    assert sources["AutomationRouterFunction"].queues == ("q.automation",)
    assert sources["AutomationRouterFunction"].broker == {"Fn::GetAtt": ["Broker", "Arn"]}
    sweep = next(s for s in real.schedules if s.function_id == "OutboxRelayFunction")
    assert sweep.expression == "rate(1 minute)"
    assert sweep.enabled


def test_real_template_resources_by_type(real: Template) -> None:
    assert {"JwtSigningKeySecret", "DatabaseAppSecret", "BrokerSecret"} <= set(real.secrets)
    assert "AutomationStateMachineRole" in real.roles


def _defines(path: Path, name: str) -> bool:
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    return f"def {name}(" in text or f"\n{name} =" in text


def test_every_handler_of_the_real_template_exists(real: Template) -> None:
    missing = [
        f"{fn.logical_id}: {fn.handler_file.relative_to(ROOT)} defines no {fn.handler_attribute}"
        for fn in real.functions.values()
        if not _defines(fn.handler_file, fn.handler_attribute)
    ]
    assert missing == []


def test_real_template_environment_resolves_locally(real: Template) -> None:
    secret_arns = {
        sid: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{sid}-abcdef"
        for sid in real.secrets
    }
    env = build_environment(
        real,
        endpoints={
            "DATABASE_URL": "postgresql://crm_app:crm_app@127.0.0.1:1/crm",
            "AMQP_URL": "amqp://guest:guest@127.0.0.1:2/%2F",
            "OPENSEARCH_URL": "http://127.0.0.1:3",
        },
        moto_port=4,
        secret_arns=secret_arns,
    )
    assert env["STAGE"] == "local"
    assert env["DATABASE_URL"] == "postgresql://crm_app:crm_app@127.0.0.1:1/crm"
    assert env["AMQP_URL"] == "amqp://guest:guest@127.0.0.1:2/%2F"
    assert env["JWT_SIGNING_SECRET_ARN"] == secret_arns["JwtSigningKeySecret"]
    assert env["JWT_ISSUER"] == "https://api.crm.example.com"
    assert env["AUTOMATION_STEP_FUNCTION_ARN"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:AutomationStepFunction"
    )
    assert env["STATE_MACHINE_ROLE_ARN"] == (
        "arn:aws:iam::123456789012:role/AutomationStateMachineRole"
    )
    assert env["POWERTOOLS_SERVICE_NAME"] == "crm"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4"
    assert env["MOTO_PORT"] == "4"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_toy_template(toy: Template) -> None:
    echo = toy.functions["EchoFunction"]
    assert echo.code_uri == TOY.parent / "functions"  # CodeUri from Globals
    assert echo.handler_file == TOY.parent / "functions" / "echo.py"
    assert echo.memory_mb == 256
    routes = {(r.method, r.path): r.authorizer for r in echo.routes}
    assert routes == {
        ("GET", "/echo/{id}"): "ToyAuthorizer",
        ("GET", "/echo/static"): "ToyAuthorizer",
        ("POST", "/echo"): "ToyAuthorizer",
        ("ANY", "/files/{proxy+}"): "ToyAuthorizer",
        ("GET", "/public"): None,
    }
    (source,) = toy.mq_sources
    assert source.batching_window_seconds == 1.0
    assert source.batch_size == 5
    (schedule,) = toy.schedules
    assert json.loads(schedule.input or "") == {"job": "tick"}


def test_resolver_substitutes_and_refuses_what_has_no_local_value(toy: Template) -> None:
    resolver = IntrinsicResolver(toy, {"ToySecret": "arn:secret"})
    assert resolver.resolve({"Fn::Sub": "${Greeting}-${Stage}-${!Literal}"}) == (
        "hello-local-${Literal}"
    )
    assert resolver.resolve({"Ref": "ToySecret"}) == "arn:secret"
    assert resolver.resolve({"Fn::Join": ["/", ["a", {"Ref": "Stage"}]]}) == "a/local"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]}) == "y"
    with pytest.raises(UnresolvableError, match=r"Broker\.AmqpEndpoint"):
        resolver.resolve({"Fn::GetAtt": ["Broker", "AmqpEndpoint"]})


def test_route_to_an_undeclared_authorizer_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        """
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: x}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /x, Method: get, Auth: {Authorizer: Nope}}
"""
    )
    with pytest.raises(TemplateError, match="Nope"):
        read_template(path)
