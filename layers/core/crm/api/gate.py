"""The API gate: every API function's resolver admits an authenticated request before
Powertools routes it (crm.services.admission: rate limit, current role, route permission).

It wraps `resolve` rather than being a Powertools middleware because Powertools validates the
request body before any middleware runs: a caller without the permission, or over the rate
limit, must get 403/429 whatever they send, never a 422 that describes the schema.

One database round trip per request (admit_api_request): the rate-limit window, the caller's
current role and status, and whether their API key, access token or session (logout, refresh
token reuse, password reset) has been revoked since the authorizer's decision (which API Gateway caches for up to 300 s) was made. Every authenticated response carries
RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset; a 429 also Retry-After.

Then, on public and authenticated routes alike, the request's raw shape is checked
(crm.api.request_checks: a body that is not JSON, bytes that are not UTF-8, strings the
database cannot store) before Powertools parses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm.api.context import ADMITTED_PRINCIPAL, authorizer_principal, token_facts
from crm.api.problems import domain_problem, problem
from crm.api.request_checks import check_request
from crm.domain.errors import DomainError
from crm.observability import logger
from crm.services.admission import UnmappedRoute, admit

if TYPE_CHECKING:  # crm.ports imports every domain module: not at cold start
    from crm.ports import RequestAdmission

AdmissionSource = Callable[[], "RequestAdmission"]


class GatedResolver(APIGatewayRestResolver):
    def __init__(self, admission: AdmissionSource, **options: Any) -> None:
        super().__init__(**options)
        self._admission = admission
        self._takes_body_by_route: dict[str, bool] = {}

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            caller = authorizer_principal(event)
            token = token_facts(event)
        except DomainError as error:  # an authorizer context we cannot read: not admitted
            return _proxy(domain_problem(error), {})
        if caller is None:  # a public route: no authorizer ran
            return self._checked_resolve(event, context, {})
        method, resource = str(event.get("httpMethod")), str(event.get("resource"))
        try:
            admission = self._admission().admit(
                caller.tenant_id,
                caller.user_id,
                api_key_id=caller.api_key_id,
                issued_at=token.issued_at,
                session_id=token.session_id,
            )
        except Exception:
            logger.exception("admission failed")
            return _proxy(
                problem(503, "unavailable", "Service unavailable", "try again shortly"), {}
            )
        headers = admission.headers()
        try:
            admitted = admit(caller, admission, method, resource)
        except DomainError as error:
            return _proxy(domain_problem(error), headers)
        except UnmappedRoute:
            logger.error("route missing from crm.domain.permissions.ROUTE_PERMISSIONS",
                         extra={"route": f"{method} {resource}"})  # fmt: skip
            return _proxy(
                problem(500, "internal", "Internal error", "an unexpected error occurred"),
                headers,
            )
        self.append_context(**{ADMITTED_PRINCIPAL: admitted})
        return self._checked_resolve(event, context, headers)

    def _checked_resolve(
        self, event: Mapping[str, Any], context: LambdaContext, headers: dict[str, str]
    ) -> dict[str, Any]:
        """Routes the request once its raw shape passed crm.api.request_checks."""
        rejected = check_request(event, has_body=self._takes_body(event))
        if rejected is not None:
            return _proxy(rejected, headers)
        return _with_headers(super().resolve(event, context), headers)

    def _takes_body(self, event: Mapping[str, Any]) -> bool:
        """Whether the route the event names declares a request body (template paths and
        resolver paths may name their parameters differently); worked out once per route,
        on its first request, so a cold start analyses no other route."""
        shape = _route_shape(str(event.get("httpMethod")), str(event.get("resource")))
        if shape not in self._takes_body_by_route:
            self._takes_body_by_route[shape] = any(
                bool(route.dependant.body_params)
                for route in [*self._static_routes, *self._dynamic_routes]
                if _route_shape(route.method, route.openapi_path) == shape
            )
        return self._takes_body_by_route[shape]


def _route_shape(method: str, path: str) -> str:
    return f"{method.upper()} {re.sub(r'{[^}]+}', '{}', path)}"


def _proxy(response: Response[str], headers: dict[str, str]) -> dict[str, Any]:
    """A Lambda proxy result (REST, payload 1.0) for a response made before routing."""
    body = response.body if isinstance(response.body, str) else json.dumps(response.body)
    multi = {"Content-Type": [str(response.content_type)]}
    multi.update({name: [value] for name, value in headers.items()})
    return {
        "statusCode": response.status_code,
        "multiValueHeaders": multi,
        "body": body,
        "isBase64Encoded": False,
    }


def _with_headers(result: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    if not headers:
        return result
    multi = result.get("multiValueHeaders")
    if multi is not None:
        for name, value in headers.items():
            multi[name] = [value]
    else:
        result["headers"] = {**(result.get("headers") or {}), **headers}
    return result
