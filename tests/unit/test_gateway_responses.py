"""GatewayResponses: API Gateway's own 401/403 bodies replaced by the template's problem+json,
locally as in AWS; the template declares them for UNAUTHORIZED and ACCESS_DENIED."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.gateway import (
    ApiGateway,
    AuthorizerCache,
    GatewayRequest,
    GatewayResponse,
    customise_response,
)
from local.template import (
    Api,
    ApiRoute,
    Authorizer,
    GatewayResponseSpec,
    TemplateError,
    read_template,
)
from tests.support import ROOT
from tests.unit.test_gateway_routing import FakeFunctions

PROBLEM = GatewayResponseSpec(
    status=None,
    headers={"Content-Type": "application/problem+json", "WWW-Authenticate": "Bearer"},
    templates={
        "application/json": '{"title": "Unauthorized", "detail": $context.error.messageString,'
        ' "raw": "$context.error.message", "request_id": "$context.requestId"}'
    },
)


def test_the_template_declares_problem_json_for_401_and_403() -> None:
    api = read_template(ROOT / "template.yaml").apis["CrmApi"]
    kinds = (("UNAUTHORIZED", 401), ("ACCESS_DENIED", 403), ("MISSING_AUTHENTICATION_TOKEN", 403))
    for kind, status in kinds:
        spec = api.gateway_responses[kind]
        assert spec.status == status
        assert spec.headers["Content-Type"] == "application/problem+json"
        body = json.loads(spec.templates["application/json"].replace("$context.requestId", "r"))
        assert body["status"] == status and body["type"].startswith("https://")


def test_a_matching_response_gets_the_status_headers_and_rendered_body() -> None:
    original = GatewayResponse.message(401, "Unauthorized", "UnauthorizedException")
    custom = customise_response(original, {"UNAUTHORIZED": PROBLEM}, "req-42")
    headers = dict(custom.headers)
    assert custom.status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["WWW-Authenticate"] == "Bearer"
    assert headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert [k for k, _ in custom.headers].count("Content-Type") == 1
    assert json.loads(custom.body) == {
        "title": "Unauthorized", "detail": "Unauthorized", "raw": "Unauthorized",
        "request_id": "req-42",
    }  # fmt: skip


def test_other_responses_and_undeclared_types_are_left_alone() -> None:
    forbidden = GatewayResponse.message(403, "denied", "AccessDeniedException")
    assert customise_response(forbidden, {"UNAUTHORIZED": PROBLEM}, "r") is forbidden
    missing = GatewayResponse.message(403, "Missing Authentication Token", "Missing")
    assert customise_response(missing, {"UNAUTHORIZED": PROBLEM}, "r") is missing


def test_a_status_override_applies() -> None:
    spec = GatewayResponseSpec(status=418, headers={}, templates={})
    custom = customise_response(
        GatewayResponse.message(401, "Unauthorized", "UnauthorizedException"),
        {"UNAUTHORIZED": spec},
        "r",
    )
    assert custom.status == 418 and json.loads(custom.body) == {"message": "Unauthorized"}


def test_the_gateway_pipeline_uses_the_apis_gateway_responses() -> None:
    functions = FakeFunctions()
    authorizer = Authorizer("Tok", "Auth", "TOKEN", ("X-Token",), (), 60)
    api = Api("Api", "v1", "Tok", {"Tok": authorizer}, {"UNAUTHORIZED": PROBLEM})
    routes = [ApiRoute("Fn", "Get", "Api", "/items/{id}", "GET", "Tok")]
    gateway = ApiGateway(
        routes, {"Api": api}, {"Api": "v1"}, functions.invoke, cache=AuthorizerCache()
    )
    for token in (None, "bad"):
        headers = [("x-token", token)] if token else []
        response = gateway.handle(
            GatewayRequest("GET", "/items/1", "", headers, b"", "127.0.0.1", "localhost", "rid")
        )
        assert response.status == 401
        assert dict(response.headers)["Content-Type"] == "application/problem+json"
        assert json.loads(response.body)["request_id"] == "rid"


def test_an_undeclared_method_or_path_gets_the_missing_token_gateway_response() -> None:
    functions = FakeFunctions()
    missing = GatewayResponseSpec(
        status=403,
        headers={"Content-Type": "application/problem+json"},
        templates={"application/json": '{"status": 403, "request_id": "$context.requestId"}'},
    )
    api = Api("Api", "v1", None, {}, {"MISSING_AUTHENTICATION_TOKEN": missing})
    routes = [ApiRoute("Fn", "Get", "Api", "/items/{id}", "GET", None)]
    gateway = ApiGateway(routes, {"Api": api}, {"Api": "v1"}, functions.invoke)
    for method, path in (("TRACE", "/items/1"), ("QUERY", "/items/1"), ("GET", "/nothing")):
        response = gateway.handle(
            GatewayRequest(method, path, "", [], b"", "127.0.0.1", "localhost", "rid")
        )
        assert response.status == 403
        assert dict(response.headers)["Content-Type"] == "application/problem+json"
        assert json.loads(response.body) == {"status": 403, "request_id": "rid"}
    assert functions.calls == []


def test_dynamic_header_values_are_refused_by_the_reader(tmp_path: Any) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  Api:\n"
        "    Type: AWS::Serverless::Api\n"
        "    Properties:\n"
        "      StageName: v1\n"
        "      GatewayResponses:\n"
        "        UNAUTHORIZED:\n"
        "          ResponseParameters:\n"
        "            Headers:\n"
        "              X-Echo: method.request.header.X-Echo\n"
    )
    with pytest.raises(TemplateError, match="static"):
        read_template(template)
