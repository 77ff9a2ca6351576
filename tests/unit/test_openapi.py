"""The OpenAPI 3.1 document (functions/api_docs/openapi.json): current with the code, valid,
true to template.yaml (every route, its method, the authorizer) and to crm.api.problems; the
merge refuses clashes; the docs function serves the committed file and a self-contained page."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from crm.api.contract import RouteContract, contract, declared_contract, responses
from crm.api.openapi import (
    PROBLEM_JSON,
    FunctionDocument,
    OpenApiMergeError,
    RouteFacts,
    merge,
    operations,
    render,
    route_key,
)
from crm.api.problems import domain_problem, problem
from crm.domain.errors import Conflict, PlanLimitExceeded
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from local.registry import LambdaContext
from scripts.openapi import DOCUMENT, REGENERATE, _declarations, build_document
from tests.support import load_event
from tests.unit.test_template import _functions, _load_function_module

INFO = {"title": "t", "version": "1"}


def _template_routes() -> dict[str, bool]:
    """route_key -> has the authorizer, for every Api event of template.yaml."""
    routes: dict[str, bool] = {}
    for properties in _functions().values():
        for event in (properties.get("Events") or {}).values():
            if event["Type"] == "Api":
                route = event["Properties"]
                authorizer = (route.get("Auth") or {}).get("Authorizer")
                routes[route_key(route["Method"], route["Path"])] = authorizer != "NONE"
    return routes


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return document


def _operation(document: dict[str, Any], key: str) -> dict[str, Any]:
    method = key.split(" ", 1)[0]
    for doc_path, item in document["paths"].items():
        if route_key(method, doc_path) == key:
            operation: dict[str, Any] = item[method.lower()]
            return operation
    raise KeyError(key)


# ------------------------------------------------------------------ the committed document


def test_the_committed_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(build_document()), (
        f"{DOCUMENT} is stale (a route, request model or handler changed): run {REGENERATE} "
        "and commit the file"
    )


def test_the_document_is_valid_openapi_3_1(committed: dict[str, Any]) -> None:
    assert committed["openapi"] == "3.1.0"
    validate(committed, cls=OpenAPIV31SpecValidator)


def test_every_template_route_is_documented_with_its_method_and_nothing_else(
    committed: dict[str, Any],
) -> None:
    documented, declared = operations(committed), set(_template_routes())
    assert sorted(declared - documented) == [], f"missing: run {REGENERATE}"
    assert sorted(documented - declared) == [], f"not in template.yaml: run {REGENERATE}"


def test_bearer_security_exactly_on_the_routes_with_the_authorizer(
    committed: dict[str, Any],
) -> None:
    assert committed["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": committed["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert "security" not in committed  # no global default: public routes need nothing
    for key, authenticated in _template_routes().items():
        operation = _operation(committed, key)
        if authenticated:
            assert operation["security"] == [{"bearer": []}], key
            assert {"401", "403", "429"} <= set(operation["responses"]), key
        else:
            assert "security" not in operation, key
            assert "403" not in operation["responses"], key
    assert "security" not in _operation(committed, "GET /openapi.json")
    assert "security" in _operation(committed, "GET /leads/{}")


def test_errors_are_problem_json_of_the_shape_the_api_answers(committed: dict[str, Any]) -> None:
    components = committed["components"]
    root = {"components": components}
    for item in committed["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    name = response["$ref"].rsplit("/", 1)[1]
                    assert list(components["responses"][name]["content"]) == [PROBLEM_JSON]

    def conforms(body: dict[str, Any], schema: str) -> None:
        jsonschema.validate(body, {"$ref": f"#/components/schemas/{schema}", **root})

    # what crm.api.problems really sends validates against the documented schemas
    for status in (401, 403, 404, 409, 412, 429):
        conforms(json.loads(problem(status, "x", "X", "detail").body), "Problem")
    plan = PlanLimitExceeded("users", limit=3, usage=3, plan="free")
    conforms(json.loads(domain_problem(plan).body), "Problem")
    conforms(json.loads(domain_problem(Conflict("taken", reason="last_owner")).body), "Problem")
    invalid = json.loads(problem(422, "v", "V", "d", errors=[{"loc": ["body", "x", 0],
                                                              "msg": "m", "type": "t"}]).body)  # fmt: skip
    conforms(invalid, "ValidationProblem")
    with pytest.raises(jsonschema.ValidationError):
        conforms({"detail": [{"loc": ["body"], "msg": "m", "type": "t"}]}, "ValidationProblem")


def test_statuses_and_headers_follow_the_declarations(committed: dict[str, Any]) -> None:
    delete = _operation(committed, "DELETE /leads/{}")
    assert set(delete["responses"]) >= {"204", "404", "412"} and "200" not in delete["responses"]
    assert "If-Match" in {p["name"] for p in delete["parameters"]}
    create = _operation(committed, "POST /leads")
    assert "201" in create["responses"] and "200" not in create["responses"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    login = _operation(committed, "POST /auth/login")
    assert {"200", "401", "415", "422", "429"} == set(login["responses"])
    assert "TooManyRequests" in login["responses"]["429"]["$ref"]
    retry_after = committed["components"]["responses"]["TooManyRequests"]["headers"]
    assert "Retry-After" in retry_after
    assert _operation(committed, "GET /leads")["tags"] == ["leads"]
    assert committed["info"]["title"] == "CRM API"
    for created in ("POST /tags", "POST /categories", "POST /webhooks"):
        assert "201" in _operation(committed, created)["responses"], created
        assert "200" not in _operation(committed, created)["responses"], created
    assert "401" in _operation(committed, "POST /auth/logout")["responses"]
    for export in ("GET /leads/export", "GET /contacts/export"):
        assert list(_operation(committed, export)["responses"]["200"]["content"]) == ["text/csv"]
    assert "404" in _operation(committed, "GET /reports/pipelines")["responses"]
    assert (
        "415" in create["responses"]
        and "415" not in _operation(committed, "GET /leads")["responses"]
    )


def test_a_route_without_declared_responses_fails_naming_it() -> None:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.get("/declared", responses=responses(200, 404))
    @contract(if_match=True)
    def declared() -> dict[str, Any]:
        return {}

    @app.get("/forgotten/<thing_id>")
    def forgotten(thing_id: str) -> dict[str, Any]:
        return {}

    with pytest.raises(
        OpenApiMergeError, match=r"things: GET /forgotten/\{thing_id\} \(forgotten\)"
    ):
        _declarations(app, "things")
    assert declared_contract(declared) == RouteContract(if_match=True)
    assert declared_contract(forgotten) == RouteContract()
    with pytest.raises(ValueError, match="success status"):
        responses(404)


# ------------------------------------------------------------------ the merge, on small inputs


def _doc(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas or {}}}


def _op(**extra: Any) -> dict[str, Any]:
    return {
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": {}}}},
            "422": {"description": "Validation Error", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}},
        },
        **extra,
    }  # fmt: skip


POWERTOOLS_422 = {
    "HTTPValidationError": {"properties": {"detail": {"items": {"$ref": "#/components/schemas/ValidationError"}}}},
    "ValidationError": {"properties": {"loc": {}}},
}  # fmt: skip


def test_conflicting_component_names_fail_and_identical_ones_merge() -> None:
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}}
    one = FunctionDocument(
        "a",
        _doc({"/a": {"post": _op(requestBody=body)}}, {"In": {"type": "object"}}),
        {"POST /a": RouteFacts(authenticated=True)},
    )
    same = FunctionDocument(
        "b",
        _doc({"/b": {"post": _op(requestBody=body)}}, {"In": {"type": "object"}}),
        {"POST /b": RouteFacts(authenticated=True)},
    )
    merged = merge([one, same], info=INFO, servers=[])
    assert merged["components"]["schemas"]["In"] == {"type": "object"}
    other = FunctionDocument(
        "c",
        _doc({"/c": {"post": _op(requestBody=body)}}, {"In": {"type": "string"}}),
        {"POST /c": RouteFacts(authenticated=True)},
    )
    with pytest.raises(OpenApiMergeError, match=r"'In' of c differs from the one of a"):
        merge([one, other], info=INFO, servers=[])
    # a name of ours is taken too
    clash = FunctionDocument("d", _doc({}, {"Problem": {"type": "string"}}), {})
    with pytest.raises(OpenApiMergeError, match="Problem"):
        merge([clash], info=INFO, servers=[])


def test_a_route_served_twice_or_without_template_facts_fails() -> None:
    first = FunctionDocument(
        "a", _doc({"/x/{id}": {"get": _op()}}), {"GET /x/{}": RouteFacts(True)}
    )
    second = FunctionDocument(
        "b", _doc({"/x/{x_id}": {"get": _op()}}), {"GET /x/{}": RouteFacts(True)}
    )
    with pytest.raises(OpenApiMergeError, match=r"GET /x/\{\} is served by both a and b"):
        merge([first, second], info=INFO, servers=[])
    undeclared = FunctionDocument("a", _doc({"/y": {"get": _op()}}), {})
    with pytest.raises(OpenApiMergeError, match="GET /y"):
        merge([undeclared], info=INFO, servers=[])


def test_annotations_replace_powertools_422_and_follow_the_declarations() -> None:
    declared_201 = {"201": {"description": "Created", "content": {"application/json": {}}}}
    declared_204 = {"204": {"description": "No content", "content": {}}}
    teapot = {"418": {"description": "problem"}}
    function = FunctionDocument(
        "things",
        _doc(
            {
                "/things": {"post": _op(requestBody={"content": {}}, responses=declared_201)},
                "/things/{thing_id}": {
                    "delete": _op(
                        parameters=[
                            {
                                "name": "thing_id",
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        ],
                        responses=declared_204,
                    ),
                },
                "/ping": {"get": _op(responses={**_op()["responses"], "429": {}})},
                "/teapot": {"get": _op(responses={**_op()["responses"], **teapot})},
            },
            POWERTOOLS_422,
        ),
        {
            "POST /things": RouteFacts(
                True,
                RouteContract(if_match=True, idempotency_key="required"),
                description="Make a thing.",
            ),
            "DELETE /things/{}": RouteFacts(True),
            "GET /ping": RouteFacts(False),
            "GET /teapot": RouteFacts(False),
        },
    )
    with pytest.raises(OpenApiMergeError, match="418"):
        merge([function], info=INFO, servers=[{"url": "/"}])
    del function.document["paths"]["/teapot"]  # type: ignore[attr-defined]
    merged = merge([function], info=INFO, servers=[{"url": "/"}])
    assert merged["components"]["schemas"].keys() == {"Problem", "ValidationProblem", "FieldError"}
    post = merged["paths"]["/things"]["post"]
    assert list(post["responses"]) == [
        "201",
        "401",
        "403",
        "409",
        "412",
        "415",
        "422",
        "429",
        "503",
    ]
    assert post["responses"]["422"] == {"$ref": "#/components/responses/ValidationFailed"}
    assert [(p["name"], p["required"]) for p in post["parameters"]] == [
        ("If-Match", False),
        ("Idempotency-Key", True),
    ]
    assert post["tags"] == ["things"] and post["security"] == [{"bearer": []}]
    assert post["description"] == "Make a thing."
    delete = merged["paths"]["/things/{thing_id}"]["delete"]
    assert list(delete["responses"]) == ["204", "401", "403", "404", "409", "422", "429", "503"]
    assert "content" not in delete["responses"]["204"]
    ping = merged["paths"]["/ping"]["get"]
    assert list(ping["responses"]) == ["200", "429"] and "security" not in ping
    validate(merged, cls=OpenAPIV31SpecValidator)


# ------------------------------------------------------------------ the docs function


@pytest.fixture
def docs_function(monkeypatch: pytest.MonkeyPatch) -> Any:
    return _load_function_module("DocsApiFunction", "functions/api_docs/", monkeypatch)


def _invoke(module: Any, sample: str) -> dict[str, Any]:
    context = LambdaContext("DocsApiFunction", "arn:aws:lambda:us-east-1:1:function:docs", 256, 29)
    result: dict[str, Any] = module.handler(load_event(sample), context)
    return result


def _header(result: dict[str, Any], name: str) -> str:
    headers = {k.lower(): v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
    headers.update({k.lower(): v for k, v in (result.get("headers") or {}).items()})
    return headers[name.lower()]


def test_the_docs_function_serves_the_committed_document(docs_function: Any) -> None:
    result = _invoke(docs_function, "api_docs/openapi_json")
    assert result["statusCode"] == 200
    assert _header(result, "Content-Type") == "application/json"
    assert result["body"] == DOCUMENT.read_text()


def test_the_docs_page_is_self_contained_and_its_policy_allows_only_its_own_blocks(
    docs_function: Any,
) -> None:
    result = _invoke(docs_function, "api_docs/docs")
    assert result["statusCode"] == 200
    assert _header(result, "Content-Type").startswith("text/html")
    page = result["body"]
    assert 'fetch("openapi.json"' in page
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=|https?://", page)
    policy = _header(result, "Content-Security-Policy")
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    assert len(scripts) == 1
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy


def test_reading_an_undeclared_precondition_header_fails_loudly() -> None:
    from crm.api.concurrency import if_match
    from crm.api.contract import UndeclaredContract
    from crm.api.writes import idempotency_key

    app = APIGatewayRestResolver()

    @app.patch("/declared", responses=responses(200))
    @contract(if_match=True)
    def declared() -> dict[str, Any]:
        return {"precondition": str(if_match(app))}

    @app.post("/forgotten", responses=responses(201))
    def forgotten() -> dict[str, Any]:
        return {"key": idempotency_key(app)}

    def call(method: str, path: str) -> dict[str, Any]:
        event = {"httpMethod": method, "path": path, "resource": path, "body": None,
                 "headers": {"If-Match": '"3"', "Idempotency-Key": "k"},
                 "multiValueHeaders": {}, "isBase64Encoded": False,
                 "requestContext": {"requestId": "r", "stage": "v1"}}  # fmt: skip
        result: dict[str, Any] = app.resolve(event, LambdaContext("f", "arn", 128, 3))
        return result

    assert call("PATCH", "/declared")["statusCode"] == 200
    with pytest.raises(
        UndeclaredContract, match=r"POST /forgotten \(forgotten\) reads Idempotency"
    ):
        call("POST", "/forgotten")
