"""A route's contract, declared where the route is defined; the OpenAPI document is generated
from these declarations (crm.api.openapi, scripts/openapi.py), never from the handler's text.

Two declarations per route:

- `responses=` (Powertools' own route argument), built with `responses(...)`: every status
  the handler itself answers: its success status(es) and the problems it raises beyond those
  the document derives by rule (the gate's 401/403/429/503 on authenticated routes, 404 on a
  path with parameters, 409 on authenticated writes, 415/422 where a body or parameters are
  validated). A route without `responses=` fails `make openapi`, naming the route.
- `@contract(...)`, when the route honours `If-Match` (adds the header and 412) or takes an
  `Idempotency-Key` (adds the header, optional or required).

    @app.patch("/things/<thing_id>", responses=responses(200))
    @tracer.capture_method
    @contract(if_match=True)
    def patch_thing(thing_id: str, body: ThingPatch) -> Response[dict[str, Any]]:
        ...

See docs/api-contract.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

PROBLEM_JSON = "application/problem+json"
CONTRACT_ATTRIBUTE = "__api_contract__"

SUCCESS_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
}

Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclass(frozen=True)
class RouteContract:
    """What a route honours beyond its responses."""

    if_match: bool = False
    idempotency_key: Literal["optional", "required"] | None = None


def contract(
    *,
    if_match: bool = False,
    idempotency_key: Literal["optional", "required"] | None = None,
) -> Callable[[Handler], Handler]:
    """Declares the route's preconditions: put it below the route and tracer decorators."""
    declared = RouteContract(if_match=if_match, idempotency_key=idempotency_key)

    def declare(handler: Handler) -> Handler:
        setattr(handler, CONTRACT_ATTRIBUTE, declared)
        return handler

    return declare


def declared_contract(handler: Callable[..., Any]) -> RouteContract:
    """The contract declared on a handler or on any function it wraps (a tracer's wrapper)."""
    function: Any = handler
    while function is not None:
        found = getattr(function, CONTRACT_ATTRIBUTE, None)
        if isinstance(found, RouteContract):
            return found
        function = getattr(function, "__wrapped__", None)
    return RouteContract()


class UndeclaredContract(RuntimeError):
    """A route reads a header its contract does not declare: the document would not say so."""


def require_declared(app: Any, header: str) -> None:
    """Called by the readers of If-Match and Idempotency-Key (crm.api.concurrency.if_match,
    crm.api.writes.idempotency_key): the route being served must declare the header with
    @contract, or the document would not show it; a 500 in any test of the route says so."""
    route = app.context.get("_route")  # Powertools' current route
    if route is None:
        return
    declared = declared_contract(route.func)
    if (header == "If-Match" and declared.if_match) or (
        header == "Idempotency-Key" and declared.idempotency_key is not None
    ):
        return
    raise UndeclaredContract(
        f"{route.method} {route.path} ({route.func.__name__}) reads {header} without declaring "
        "it: add @contract(if_match=True) or @contract(idempotency_key=...) (crm.api.contract)"
    )


def responses(
    *statuses: int, media_type: str | None = None, description: str | None = None
) -> dict[int, OpenAPIResponse]:
    """Powertools `responses=` for these statuses. A success status documents the handler's
    return type as JSON, or `media_type` (text/csv: a string), or nothing (204); a problem
    status (4xx/5xx) is filled in with the problem+json component by crm.api.openapi."""
    declared: dict[int, dict[str, Any]] = {}
    for status in statuses:
        if status >= 400:
            declared[status] = {
                "description": "problem",
                "content": {PROBLEM_JSON: {"schema": {"type": "object"}}},
            }
            continue
        response: dict[str, Any] = {
            "description": description or SUCCESS_DESCRIPTIONS.get(status, "OK")
        }
        if status == 204:
            response["content"] = {}
        elif media_type is not None:
            response["content"] = {media_type: {"schema": {"type": "string"}}}
        declared[status] = response
    if not any(status < 400 for status in declared):
        raise ValueError("responses() needs the route's success status")
    return cast("dict[int, OpenAPIResponse]", declared)
