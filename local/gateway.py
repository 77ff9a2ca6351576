"""A local API Gateway (REST, Lambda proxy integration v1) for every ``Api`` route of the template.

One HTTP port serves all routes at the root (``/leads``, not ``/<stage>/leads``). Requests are
turned into the proxy event API Gateway sends, the route's Lambda authorizer runs first when
the route has one (with API Gateway's result cache), and the handler runs in-process.

Where API Gateway has a documented behaviour, this follows it: an unknown route or method is
403 ``Missing Authentication Token``; a missing identity source is 401 without calling the
authorizer; an authorizer raising ``Unauthorized`` is 401; a policy that does not allow the
method ARN is 403; a malformed authorizer answer is 500; a handler exception or a malformed
proxy response is 502. Authorizer ``context`` values reach the handler stringified, as there.

Local conveniences that API Gateway does not have: ``GET /_local/health``, and CORS for
``http://localhost`` / ``http://127.0.0.1`` origins (preflight answered with 204, and the
allow-origin header added to responses that lack it) so a dashboard dev server can call the API.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from local import dashboard
from local.authorizers import (
    LOCAL_API_ID,
    AuthorizerCache,
    AuthorizerConfigurationError,
    AuthorizerOutput,
    method_arn,
    parse_authorizer_output,
    policy_allows,
    run_authorizer,
)
from local.environment import ACCOUNT_ID
from local.http_api import GatewayRequest, GatewayResponse, Invoke, Mount
from local.invocation import FunctionTimeoutError, TooManyRequestsError
from local.template import Api, ApiRoute, Authorizer, GatewayResponseSpec

if TYPE_CHECKING:
    from local.websocket import WebSocketApi

# Re-exported: these lived here before local/authorizers.py and local/http_api.py.
__all__ = [
    "AuthorizerCache",
    "AuthorizerConfigurationError",
    "AuthorizerOutput",
    "GatewayRequest",
    "GatewayResponse",
    "method_arn",
    "parse_authorizer_output",
    "policy_allows",
]

log = logging.getLogger(__name__)

HEALTH_PATH = "/_local/health"
_LOCAL_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$")


# ------------------------------------------------------------------ routing


_STATIC, _PARAMETER, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class RouteMatch:
    route: ApiRoute
    path_parameters: dict[str, str]


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


class RouteTable:
    """Finds the route of a request as API Gateway does.

    The resource is chosen first, most specific wins segment by segment (a static segment beats
    ``{param}``, which beats ``{proxy+}``); then the method (exact beats ``ANY``). A resource
    that matches without the method is no match, as in API Gateway.
    """

    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        self._by_resource: dict[str, list[ApiRoute]] = {}
        for route in routes:
            resource_routes = self._by_resource.setdefault(route.path, [])
            if any(r.method == route.method for r in resource_routes):
                raise ValueError(f"two routes for {route.method} {route.path}")
            resource_routes.append(route)

    def __len__(self) -> int:
        return sum(len(routes) for routes in self._by_resource.values())

    def match(self, method: str, path: str) -> RouteMatch | None:
        segments = [unquote(s) for s in _segments(path)]
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for resource in self._by_resource:
            matched = _match_resource(_segments(resource), segments)
            if matched is not None and (best is None or matched[0] < best[0]):
                best = (matched[0], resource, matched[1])
        if best is None:
            return None
        _, resource, parameters = best
        routes = self._by_resource[resource]
        for wanted in (method.upper(), "ANY"):
            for route in routes:
                if route.method == wanted:
                    return RouteMatch(route, parameters)
        return None


def _match_resource(
    pattern: list[str], segments: list[str]
) -> tuple[tuple[int, ...], dict[str, str]] | None:
    parameters: dict[str, str] = {}
    rank: list[int] = []
    for index, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest or index != len(pattern) - 1:
                return None
            parameters[part[1:-2]] = "/".join(rest)
            rank.append(_GREEDY)
            return tuple(rank), parameters
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            parameters[part[1:-1]] = segments[index]
            rank.append(_PARAMETER)
        elif part == segments[index]:
            rank.append(_STATIC)
        else:
            return None
    if len(segments) != len(pattern):
        return None
    return tuple(rank), parameters


# ------------------------------------------------------------------ requests and responses


def _single_and_multi(items: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in items:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def build_request_context(
    request: GatewayRequest, route: ApiRoute, stage: str, api_id: str = LOCAL_API_ID
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": request.host,
        "domainPrefix": request.host.split(".")[0].split(":")[0],
        "extendedRequestId": request.request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.source_ip,
            "user": None,
            "userAgent": request.header("User-Agent"),
            "userArn": None,
        },
        "path": f"/{stage}{request.path}",
        "protocol": "HTTP/1.1",
        "requestId": request.request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "resourceId": f"{route.method}:{route.path}",
        "resourcePath": route.path,
        "stage": stage,
    }


def build_proxy_event(
    request: GatewayRequest,
    match: RouteMatch,
    stage: str,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Lambda proxy integration event (payload format 1.0) of a REST API."""
    headers, multi_headers = _single_and_multi(request.header_items)
    query, multi_query = _single_and_multi(request.query_items)
    context = build_request_context(request, match.route, stage)
    if authorizer is not None:
        context["authorizer"] = authorizer
    body: str | None = None
    is_base64 = False
    if request.body:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body = base64.b64encode(request.body).decode("ascii")
            is_base64 = True
    return {
        "resource": match.route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


class MalformedProxyResponse(ValueError):
    pass


def proxy_response(result: Any) -> GatewayResponse:
    """Turns a handler's proxy result into the HTTP response API Gateway would send."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise MalformedProxyResponse(f"not a proxy response: {str(result)[:200]}")
    headers: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(value)) for value in values)
    for name, value in (result.get("headers") or {}).items():
        if (name, str(value)) not in headers:
            headers.append((name, str(value)))
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise MalformedProxyResponse("body must be a string")
    try:
        payload = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else None
    except binascii.Error as error:
        raise MalformedProxyResponse("isBase64Encoded body is not base64") from error
    return GatewayResponse(result["statusCode"], headers, payload or body.encode("utf-8"))


# ------------------------------------------------------------------ Lambda authorizers


def _identity(authorizer: Authorizer, request: GatewayRequest) -> tuple[str, ...] | None:
    values = [request.header(h) for h in authorizer.identity_headers]
    values += [request.query(q) for q in authorizer.identity_query_strings]
    if not values or any(not v for v in values):
        return None
    return tuple(v for v in values if v)


def build_authorizer_event(
    authorizer: Authorizer,
    request: GatewayRequest,
    match: RouteMatch,
    stage: str,
    arn: str,
    identity: tuple[str, ...],
) -> dict[str, Any]:
    if authorizer.payload_type == "TOKEN":
        return {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": arn}
    proxy = build_proxy_event(request, match, stage)
    return {
        "type": "REQUEST",
        "methodArn": arn,
        "resource": proxy["resource"],
        "path": proxy["path"],
        "httpMethod": proxy["httpMethod"],
        "headers": proxy["headers"] or {},
        "multiValueHeaders": proxy["multiValueHeaders"] or {},
        "queryStringParameters": proxy["queryStringParameters"] or {},
        "multiValueQueryStringParameters": proxy["multiValueQueryStringParameters"] or {},
        "pathParameters": proxy["pathParameters"] or {},
        "stageVariables": {},
        "requestContext": proxy["requestContext"],
    }


# ------------------------------------------------------------------ the gateway


UNAUTHORIZED = ("Unauthorized", "UnauthorizedException")
FORBIDDEN = ("User is not authorized to access this resource", "AccessDeniedException")
MISSING_TOKEN = ("Missing Authentication Token", "MissingAuthenticationTokenException")
# The GatewayResponses type of each error this gateway answers for an authorizer.
RESPONSE_TYPES = {
    "UnauthorizedException": "UNAUTHORIZED",
    "AccessDeniedException": "ACCESS_DENIED",
    "MissingAuthenticationTokenException": "MISSING_AUTHENTICATION_TOKEN",
}


def customise_response(
    response: GatewayResponse,
    specs: Mapping[str, GatewayResponseSpec],
    request_id: str,
) -> GatewayResponse:
    """Applies the API's ``GatewayResponses`` entry for this error, as API Gateway does:
    status, static headers, and the ``application/json`` body template, whose
    ``$context.requestId``, ``$context.error.message`` and ``$context.error.messageString``
    (the message JSON-quoted) are filled in."""
    error_type = next((v for k, v in response.headers if k == "x-amzn-ErrorType"), None)
    spec = specs.get(RESPONSE_TYPES.get(error_type or "", ""))
    if spec is None:
        return response
    message = json.loads(response.body).get("message") or ""
    overridden = {name.lower() for name in spec.headers}
    headers = [(k, v) for k, v in response.headers if k.lower() not in overridden]
    headers.extend(spec.headers.items())
    body = response.body
    template = spec.templates.get("application/json")
    if template is not None:
        body = (
            template.replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message)
            .replace("$context.requestId", request_id)
            .encode()
        )
    return GatewayResponse(spec.status or response.status, headers, body)


class ApiGateway:
    """Serves the template's REST routes on one port, invoking handlers through ``invoke``."""

    def __init__(
        self,
        routes: Iterable[ApiRoute],
        apis: Mapping[str, Api],
        stages: Mapping[str, str],
        invoke: Invoke,
        host: str = "127.0.0.1",
        port: int = 0,
        cache: AuthorizerCache | None = None,
        websocket: WebSocketApi | None = None,
        serialize_invocations: bool = True,
    ) -> None:
        self.routes = RouteTable(routes)
        self.websocket = websocket  # the WebSocket API at /ws and its @connections endpoint
        # Handlers tried in order before the routes (after the health check); each answers a
        # response or None. See mount().
        self.mounts: list[Mount] = [dashboard.mount]
        if websocket is not None:
            self.mounts.append(websocket.manage)
        self._apis = apis
        self._stages = stages
        self._invoke = invoke
        self._cache = cache or AuthorizerCache()
        # Powertools keeps the current event on its BaseRouter class, not on the resolver:
        # two API handlers running at once in this process would read each other's requests
        # (headers, path parameters, the authorizer's tenant). Lambda runs one invocation per
        # process; with in-process handlers API invocations take turns. Handlers in worker
        # processes (the local cloud's) need no turns.
        self._resolver_turn: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if serialize_invocations else contextlib.nullcontext()
        )
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def mount(self, handler: Mount) -> None:
        """Serves what ``handler`` answers (a response, or None to pass) before the routes:
        e.g. static files under a prefix the template's routes do not use."""
        self.mounts.append(handler)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = ThreadingHTTPServer(self._address, _handler_class(self))
        self._server.daemon_threads = True
        if self.websocket is not None:
            self.websocket.port = self.port  # local connection ids name their gateway
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="api-gateway", daemon=True
        )
        self._thread.start()
        log.info("API gateway on %s (%d routes)", self.url, len(self.routes))

    def stop(self) -> None:
        if self._server is None:
            return
        if self.websocket is not None:
            self.websocket.close_all()
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -------------------------------------------------------------- request pipeline

    def handle(self, request: GatewayRequest) -> GatewayResponse:
        if request.method == "GET" and request.path == HEALTH_PATH:
            body = {"status": "ok", "routes": len(self.routes)}
            return GatewayResponse(
                200, [("Content-Type", "application/json")], json.dumps(body).encode()
            )
        for mount in self.mounts:
            mounted = mount(request)
            if mounted is not None:
                return mounted
        match = self.routes.match(request.method, request.path)
        if match is None:
            if request.method == "OPTIONS" and request.header("Access-Control-Request-Method"):
                return _preflight(request)
            # API Gateway answers any path or method it does not declare (TRACE, QUERY, ...)
            # with its MISSING_AUTHENTICATION_TOKEN gateway response
            return self._missing_route(request)
        stage = self._stages[match.route.api_id]
        authorizer_context: dict[str, Any] | None = None
        if match.route.authorizer is not None:
            authorizer = self._apis[match.route.api_id].authorizers[match.route.authorizer]
            outcome = self._authorize(authorizer, request, match, stage)
            if isinstance(outcome, GatewayResponse):
                specs = self._apis[match.route.api_id].gateway_responses
                return customise_response(outcome, specs, request.request_id)
            authorizer_context = outcome
        event = build_proxy_event(request, match, stage, authorizer_context)
        try:
            with self._resolver_turn:
                result = self._invoke(match.route.function_id, event)
            return proxy_response(result)
        except FunctionTimeoutError as error:
            log.error("%s", error)
            return GatewayResponse.message(504, "Endpoint request timed out")
        except TooManyRequestsError as error:
            log.warning("%s", error)
            return GatewayResponse.message(429, "Too Many Requests", "TooManyRequestsException")
        except MalformedProxyResponse as error:
            log.error("%s: malformed Lambda proxy response: %s", match.route.function_id, error)
        except Exception:
            log.error("%s raised:\n%s", match.route.function_id, traceback.format_exc())
        return GatewayResponse.message(502, "Internal server error")

    def _missing_route(self, request: GatewayRequest) -> GatewayResponse:
        missing = GatewayResponse.message(403, *MISSING_TOKEN)
        if len(self._apis) != 1:  # several REST APIs on one port: none owns the miss
            return missing
        specs = next(iter(self._apis.values())).gateway_responses
        return customise_response(missing, specs, request.request_id)

    def _authorize(
        self, authorizer: Authorizer, request: GatewayRequest, match: RouteMatch, stage: str
    ) -> dict[str, Any] | GatewayResponse:
        identity = _identity(authorizer, request)
        if identity is None:
            return GatewayResponse.message(401, *UNAUTHORIZED)
        arn = method_arn(stage, request.method, request.path)
        output = self._cache.get(authorizer, identity)
        started = time.monotonic()
        if output is None:
            event = build_authorizer_event(authorizer, request, match, stage, arn, identity)
            outcome = run_authorizer(self._invoke, authorizer.function_id, event, authorizer.name)
            if isinstance(outcome, GatewayResponse):
                return outcome
            output = outcome
            self._cache.put(authorizer, identity, output)
        if not policy_allows(output.policy_document, arn):
            return GatewayResponse.message(403, *FORBIDDEN)
        latency_ms = int((time.monotonic() - started) * 1000)
        return {
            **output.context,
            "principalId": output.principal_id,
            "integrationLatency": latency_ms,
        }


_METHOD_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _preflight(request: GatewayRequest) -> GatewayResponse:
    origin = request.header("Origin") or ""
    if not _LOCAL_ORIGIN.match(origin):
        return GatewayResponse(204, [], b"")
    headers = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Methods", "GET,POST,PUT,PATCH,DELETE,OPTIONS"),
        (
            "Access-Control-Allow-Headers",
            request.header("Access-Control-Request-Headers")
            or "Authorization,Content-Type,Idempotency-Key,If-Match",
        ),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", "ETag,Location"),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin"),
    ]
    return GatewayResponse(204, headers, b"")


def _handler_class(gateway: ApiGateway) -> type[BaseHTTPRequestHandler]:
    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "local-api-gateway"
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            started = time.monotonic()
            url = urlsplit(self.path)
            websocket = gateway.websocket
            if websocket is not None and websocket.is_upgrade(
                url.path, self.headers.get("Upgrade")
            ):
                self._upgrade(websocket, url.path, url.query)
                return
            request = GatewayRequest(
                method=self.command,
                path=url.path or "/",
                raw_query=url.query,
                header_items=list(self.headers.items()),
                body=self._read_body(),
                source_ip=self.client_address[0],
                host=self.headers.get("Host", "localhost"),
            )
            try:
                response = gateway.handle(request)
            except Exception:
                log.error("gateway error:\n%s", traceback.format_exc())
                response = GatewayResponse.message(500, "Internal server error")
            self._write(request, response)
            log.info(
                "%s %s %d %.1fms",
                request.method,
                self.path,
                response.status,
                (time.monotonic() - started) * 1000,
            )

        def _upgrade(self, websocket: WebSocketApi, path: str, query: str) -> None:
            request = GatewayRequest(
                method=self.command,
                path=path,
                raw_query=query,
                header_items=list(self.headers.items()),
                body=b"",
                source_ip=self.client_address[0],
                host=self.headers.get("Host", "localhost"),
            )
            outcome = websocket.upgrade(request)
            if isinstance(outcome, GatewayResponse):
                self._write(request, outcome)
                self.close_connection = True
                log.info("WebSocket upgrade %s refused: %d", path, outcome.status)
                return
            connection_id, authorizer = outcome
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            key = request.header("Sec-WebSocket-Key") or ""
            self.send_header("Sec-WebSocket-Accept", websocket.accept(key))
            self.end_headers()
            self.close_connection = True
            log.info("WebSocket %s connected", connection_id)
            websocket.serve(
                connection_id, authorizer, request, self.connection, self.rfile, self.wfile
            )
            log.info("WebSocket %s closed", connection_id)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def __getattr__(self, name: str) -> Any:
            # BaseHTTPRequestHandler answers 501 for a method without a do_ method; API
            # Gateway answers every method, so any token method goes through the pipeline
            # (which answers 403 MISSING_AUTHENTICATION_TOKEN where no route declares it).
            if name.startswith("do_") and _METHOD_TOKEN.fullmatch(name[3:]):
                return self._serve
            raise AttributeError(name)

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _write(self, request: GatewayRequest, response: GatewayResponse) -> None:
            self.send_response(response.status)
            names = {name.lower() for name, _ in response.headers}
            for name, value in response.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            origin = request.header("Origin") or ""
            if _LOCAL_ORIGIN.match(origin) and "access-control-allow-origin" not in names:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Vary", "Origin")
            self.send_header("x-amzn-RequestId", request.request_id)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if request.method != "HEAD":
                self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are logged once, with their duration, by ``_serve``."""

    return _RequestHandler
