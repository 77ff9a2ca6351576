"""Merges the OpenAPI documents of the API functions' resolvers into one OpenAPI 3.1 document.

Every API function has its own Powertools resolver, so each knows only its own routes. This
module is pure (dicts in, a dict out); `scripts/openapi.py` loads the functions that
template.yaml declares and feeds their documents in, with each route's declarations
(crm.api.contract). What a resolver's document lacks is added here:

- security: the bearer scheme on exactly the routes that have the authorizer in the template;
- the statuses each route declares with `responses=` (success statuses as declared; problem
  statuses as RFC 9457 problem+json responses, crm.api.problems);
- problems by rule, see `_problem_statuses`: the gate's 401/403/429/503 on authenticated
  routes, 404 where a path names a record, 409 on authenticated writes, 415 where a body is
  read, 422 where a parameter or body is validated;
- the If-Match (and 412) and Idempotency-Key headers a route declares with `@contract`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm.api.contract import RouteContract

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
SECURITY_SCHEME = "bearer"
SCHEMA_REF = "#/components/schemas/"
RESPONSE_REF = "#/components/responses/"
PROBLEM_JSON = "application/problem+json"
# crm.services.idempotency.claim_key: 1 to 255 printable ASCII characters
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"}

# Powertools' own 422 body ({"detail": [...]}) is not what the API answers (crm.api.problems
# answers problem+json with `errors`): it is replaced, and its schemas pruned when unused.
POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


class OpenApiMergeError(ValueError):
    """The resolvers' documents cannot be merged into one (a clash, or a route missing)."""


@dataclass(frozen=True)
class RouteFacts:
    """What the template and the route's declarations say about one operation."""

    authenticated: bool  # the template gives the route an authorizer
    contract: RouteContract = field(default_factory=RouteContract)  # @contract(...)
    description: str = ""  # the handler's docstring, first paragraph


@dataclass(frozen=True)
class FunctionDocument:
    """One function's resolver document and the facts of its routes ("GET /leads/{lead_id}")."""

    tag: str
    document: Mapping[str, Any]
    routes: Mapping[str, RouteFacts] = field(default_factory=dict)


# ------------------------------------------------------------------ problem+json components

PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "description": "RFC 9457 problem details. Some problems add members (for example "
        "`exceeded` on a plan downgrade, `reason` on a conflict).",
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "ValidationProblem": {
        "title": "ValidationProblem",
        "description": "A 422 problem: one entry per invalid field.",
        "allOf": [
            {"$ref": SCHEMA_REF + "Problem"},
            {
                "type": "object",
                "required": ["errors"],
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {"$ref": SCHEMA_REF + "FieldError"},
                    }
                },
            },
        ],
    },
    "FieldError": {
        "title": "FieldError",
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "description": "where: body/query/path/header, then the field's path",
            },
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
}

_RATE_HEADERS = {
    "RateLimit-Limit": "requests the tenant may make in the current window",
    "RateLimit-Remaining": "requests left in the current window",
    "RateLimit-Reset": "seconds until the window resets",
}

# status -> (component name, description, schema)
PROBLEM_RESPONSES: dict[int, tuple[str, str, str]] = {
    401: (
        "Unauthorized",
        "No valid credential (missing, invalid or expired token or API key, ended session, "
        "user not active), or a sign-in that failed",
        "Problem",
    ),
    403: (
        "Forbidden",
        "The caller's role or API key scopes lack the route's permission, or a plan limit "
        "is reached (`plan-limit-exceeded`)",
        "Problem",
    ),
    404: ("NotFound", "No such record in the caller's tenant (another tenant's id too)", "Problem"),
    409: ("Conflict", "The request conflicts with the current state", "Problem"),
    410: ("Gone", "The link or token was used up, expired or replaced", "Problem"),
    412: ("PreconditionFailed", "`If-Match` names a stale version of the record", "Problem"),
    415: ("UnsupportedMediaType", "The body is not `application/json`", "Problem"),
    422: (
        "ValidationFailed",
        "The request is invalid; `errors` names each field",
        "ValidationProblem",
    ),
    429: (
        "TooManyRequests",
        "The tenant's per-minute limit, or too many sign-in attempts; see `Retry-After`",
        "Problem",
    ),
    503: ("ServiceUnavailable", "A dependency is unavailable; try again shortly", "Problem"),
}


def problem_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (name, description, schema) in PROBLEM_RESPONSES.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": SCHEMA_REF + schema}}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before trying again",
                    "schema": {"type": "integer"},
                }
            }
        responses[name] = response
    return responses


def security_schemes() -> dict[str, Any]:
    return {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <credential>`: an access token (a JWT from "
            "POST /auth/login or /auth/refresh) or an API key (`crm_live_...`, from POST "
            "/api-keys).",
        }
    }


# ------------------------------------------------------------------ merging


def route_key(method: str, path: str) -> str:
    """'GET /leads/{}': parameter names differ between the template and the resolvers."""
    return f"{method.upper()} {re.sub(r'{[^}]+}', '{}', path)}"


def merge(
    functions: Iterable[FunctionDocument],
    *,
    info: Mapping[str, Any],
    servers: list[Mapping[str, Any]],
) -> dict[str, Any]:
    """One document: every function's paths and component schemas, each route annotated with
    its security, problems, statuses and headers. Raises OpenApiMergeError on two definitions
    of one component name, two functions serving one route, or a route without facts."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = copy.deepcopy(PROBLEM_SCHEMAS)
    schema_owner = dict.fromkeys(PROBLEM_SCHEMAS, "crm.api.openapi")
    seen_routes: dict[str, str] = {}
    tags: set[str] = set()
    for function in functions:
        document = copy.deepcopy(dict(function.document))
        for name, schema in ((document.get("components") or {}).get("schemas") or {}).items():
            if name in schemas and schemas[name] != schema:
                raise OpenApiMergeError(
                    f"component schema {name!r} of {function.tag} differs from the one of "
                    f"{schema_owner[name]}: rename one of the models"
                )
            schemas.setdefault(name, schema)
            schema_owner.setdefault(name, function.tag)
        for path, item in (document.get("paths") or {}).items():
            for method in METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                key = route_key(method, path)
                if key in seen_routes:
                    raise OpenApiMergeError(
                        f"{key} is served by both {seen_routes[key]} and {function.tag}"
                    )
                facts = function.routes.get(key)
                if facts is None:
                    raise OpenApiMergeError(f"{function.tag} serves {key}, which has no facts")
                seen_routes[key] = function.tag
                tags.add(function.tag)
                paths.setdefault(path, {})[method] = annotate(
                    operation, method, function.tag, facts
                )
    components = {
        "schemas": schemas,
        "responses": problem_responses(),
        "securitySchemes": security_schemes(),
    }
    document = {
        "openapi": "3.1.0",
        "info": dict(info),
        "servers": [dict(server) for server in servers],
        "tags": [{"name": tag} for tag in sorted(tags)],
        "paths": {path: paths[path] for path in sorted(paths)},
        "components": components,
    }
    _prune_unused_schemas(document)
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


def annotate(
    source_operation: Mapping[str, Any], method: str, tag: str, facts: RouteFacts
) -> dict[str, Any]:
    """The operation with its tag, security, headers, declared statuses and problems."""
    operation: dict[str, Any] = copy.deepcopy(dict(source_operation))
    operation["tags"] = operation.get("tags") or [tag]
    if facts.description and not operation.get("description"):
        operation["description"] = facts.description
    if facts.authenticated:
        operation["security"] = [{SECURITY_SCHEME: []}]
    else:
        operation.pop("security", None)
    parameters = list(operation.get("parameters") or [])
    if facts.contract.if_match:
        parameters.append(_header("If-Match", 'the `ETag` of the version you read ("<version>")'))
    if facts.contract.idempotency_key is not None:
        parameters.append(
            _header(
                "Idempotency-Key",
                "a retry with the same key returns the first response",
                required=facts.contract.idempotency_key == "required",
                schema=IDEMPOTENCY_KEY_SCHEMA,
            )
        )
    if parameters:
        operation["parameters"] = parameters
    declared = operation.get("responses") or {}
    # Powertools adds its own 422 shape (ours is added below) and a problem status's
    # placeholder content (crm.api.contract.responses): both become the components.
    responses = {
        status: {key: value for key, value in response.items() if value != {}}
        for status, response in declared.items()
        if int(status) < 400
    }
    problems = {int(status) for status in declared if int(status) >= 400 and str(status) != "422"}
    for status in sorted(problems | set(_problem_statuses(operation, method, facts))):
        if status not in PROBLEM_RESPONSES:
            raise OpenApiMergeError(
                f"{method.upper()} of {tag} declares {status}, which has no problem response"
            )
        responses[str(status)] = {"$ref": RESPONSE_REF + PROBLEM_RESPONSES[status][0]}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _header(
    name: str, description: str, *, required: bool = False, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": dict(schema or {"type": "string"}),
    }


def _problem_statuses(operation: Mapping[str, Any], method: str, facts: RouteFacts) -> list[int]:
    statuses: set[int] = set()
    if facts.authenticated:
        # the authorizer (401) and the API gate: current user, permission, rate limit, and
        # 503 when it cannot reach the database
        statuses |= {401, 403, 429, 503}
    parameters = operation.get("parameters") or []
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if method in WRITE_METHODS and facts.authenticated:
        statuses.add(409)
    if facts.contract.if_match:
        statuses.add(412)
    if operation.get("requestBody"):
        statuses.add(415)  # crm.api.request_checks: a body that is not JSON
    if parameters or operation.get("requestBody"):
        statuses.add(422)
    return sorted(statuses)


def _prune_unused_schemas(document: dict[str, Any]) -> None:
    """Drops component schemas nothing refers to (Powertools' 422 shape, once replaced)."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    outside = {key: value for key, value in document.items() if key != "components"}
    outside["responses"] = document["components"]["responses"]
    reachable: set[str] = set()
    pending = _refs(outside)
    while pending:
        name = pending.pop()
        if name in reachable or name not in schemas:
            continue
        reachable.add(name)
        pending |= _refs(schemas[name])
    for name in list(schemas):
        if name not in reachable:
            del schemas[name]


def _refs(value: Any) -> set[str]:
    text = json.dumps(value)
    return set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))


def operations(document: Mapping[str, Any]) -> set[str]:
    """Every operation of a document as route_key ('GET /leads/{}')."""
    return {
        route_key(method, path)
        for path, item in (document.get("paths") or {}).items()
        for method in METHODS
        if method in item
    }


def render(document: Mapping[str, Any]) -> str:
    """The committed text: stable key order as built, two-space indent, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
