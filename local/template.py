"""Reads a SAM template into typed, immutable descriptions of what the local cloud serves.

The reader understands the CloudFormation short-form tags (``!Ref``, ``!Sub``, ``!GetAtt``, ...)
and turns them into their long form (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``), so the rest
of the local cloud sees one representation. Values stay unresolved here; resolving them is the
job of :mod:`local.environment`, which knows the local endpoints.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FUNCTION_TYPE = "AWS::Serverless::Function"
API_TYPE = "AWS::Serverless::Api"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type
ROLE_TYPE = "AWS::IAM::Role"
BUCKET_TYPE = "AWS::S3::Bucket"
IMPLICIT_API_ID = "ServerlessRestApi"
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_REAUTHORIZE_SECONDS = 300
NO_AUTHORIZER = "NONE"


class TemplateError(ValueError):
    """The template uses something the local cloud cannot serve, or is malformed."""


# ------------------------------------------------------------------ YAML with CloudFormation tags


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic function tags."""


def _construct_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node!r}")


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value = _construct_node(loader, node)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "Resource.Attr.With.Dots" splits on the first dot only.
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parses a CloudFormation/SAM YAML file, short-form tags included."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise TemplateError(f"{path}: not a CloudFormation template")
    return document


# ------------------------------------------------------------------ typed model


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any = None


@dataclass(frozen=True)
class ApiRoute:
    """One ``Api`` event: a method and path of a REST API served by a function."""

    function_id: str
    event_id: str
    api_id: str
    path: str
    method: str  # upper case; ANY matches every method
    authorizer: str | None  # effective authorizer name; None means public


@dataclass(frozen=True)
class MqSource:
    """One ``MQ`` event source mapping (Amazon MQ for RabbitMQ)."""

    function_id: str
    event_id: str
    queues: tuple[str, ...]
    batch_size: int
    batching_window_seconds: float | None
    enabled: bool
    broker: Any  # raw, usually {"Fn::GetAtt": [Broker, Arn]}


@dataclass(frozen=True)
class Schedule:
    """One ``ScheduleV2`` event (EventBridge Scheduler)."""

    function_id: str
    event_id: str
    expression: str
    input: str | None
    enabled: bool
    timezone: str | None


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path  # absolute
    handler: str  # "module.attribute", module may be dotted
    timeout_seconds: int
    memory_mb: int
    environment: Mapping[str, Any]  # Globals merged with the function's own, unresolved
    layers: tuple[Any, ...] = ()  # Globals' then the function's own, unresolved
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions
    routes: tuple[ApiRoute, ...] = ()
    mq_sources: tuple[MqSource, ...] = ()
    schedules: tuple[Schedule, ...] = ()

    @property
    def handler_module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    @property
    def handler_file(self) -> Path:
        return self.code_uri.joinpath(*self.handler_module.split(".")).with_suffix(".py")


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of a REST API."""

    name: str
    function_id: str
    payload_type: str  # "REQUEST" or "TOKEN"
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    reauthorize_every: int  # seconds; 0 disables caching


@dataclass(frozen=True)
class GatewayResponseSpec:
    """A ``GatewayResponses`` entry: what API Gateway sends instead of its own error body."""

    status: int | None  # None keeps the default status of the response type
    headers: Mapping[str, str]  # static values only (the template's quotes removed)
    templates: Mapping[str, str]  # content type -> body template ($context.* variables)


@dataclass(frozen=True)
class Api:
    logical_id: str
    stage_name: Any  # raw, often {"Ref": "Stage"}
    default_authorizer: str | None
    authorizers: Mapping[str, Authorizer]
    gateway_responses: Mapping[str, GatewayResponseSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Template:
    path: Path
    parameters: Mapping[str, Parameter]
    functions: Mapping[str, Function]
    apis: Mapping[str, Api]
    resources: Mapping[str, Resource] = field(repr=False)

    def resources_of_type(self, resource_type: str) -> dict[str, Resource]:
        return {rid: r for rid, r in self.resources.items() if r.type == resource_type}

    @property
    def layer_dirs(self) -> list[Path]:
        """Content directories of the template's layers (what Lambda puts on sys.path)."""
        return [
            (self.path.parent / str(layer.properties["ContentUri"])).resolve()
            for layer in self.resources_of_type(LAYER_TYPE).values()
            if isinstance(layer.properties.get("ContentUri"), str)
        ]

    @property
    def layers(self) -> dict[str, Path]:
        """Content directory of each layer, by logical id."""
        return {
            rid: (self.path.parent / str(layer.properties["ContentUri"])).resolve()
            for rid, layer in self.resources_of_type(LAYER_TYPE).items()
            if isinstance(layer.properties.get("ContentUri"), str)
        }

    @property
    def secrets(self) -> dict[str, Resource]:
        return self.resources_of_type(SECRET_TYPE)

    @property
    def roles(self) -> dict[str, Resource]:
        return self.resources_of_type(ROLE_TYPE)

    @property
    def buckets(self) -> dict[str, Resource]:
        return self.resources_of_type(BUCKET_TYPE)

    @property
    def routes(self) -> list[ApiRoute]:
        return [route for fn in self.functions.values() for route in fn.routes]

    @property
    def mq_sources(self) -> list[MqSource]:
        return [source for fn in self.functions.values() for source in fn.mq_sources]

    @property
    def schedules(self) -> list[Schedule]:
        return [schedule for fn in self.functions.values() for schedule in fn.schedules]


# ------------------------------------------------------------------ reading


def read_template(path: Path) -> Template:
    """Reads a SAM template file into a :class:`Template`.

    ``Globals`` are merged into the resources by the SAM translator's own code, so they merge
    exactly as ``sam deploy`` merges them (maps key by key, lists appended: a function's
    ``Layers`` come after the global ones; scalars replaced).
    """
    path = path.resolve()
    document = apply_globals(load_yaml(path))
    raw_resources = document.get("Resources") or {}
    resources = {
        rid: Resource(rid, str(body.get("Type", "")), body.get("Properties") or {})
        for rid, body in raw_resources.items()
    }
    apis = {rid: _read_api(rid, r.properties) for rid, r in resources.items() if r.type == API_TYPE}
    if any(_route_api_id(r.properties) == IMPLICIT_API_ID for r in _functions(resources)):
        # the implicit API gets the Api globals as SAM gives them to it
        apis.setdefault(IMPLICIT_API_ID, _read_api(IMPLICIT_API_ID, document[_IMPLICIT_GLOBALS]))
    functions = {
        r.logical_id: _read_function(path.parent, r.logical_id, r.properties, apis)
        for r in _functions(resources)
    }
    parameters = {
        name: Parameter(name, str(body.get("Type", "String")), body.get("Default"))
        for name, body in (document.get("Parameters") or {}).items()
    }
    return Template(path, parameters, functions, apis, resources)


_IMPLICIT_GLOBALS = "__ImplicitApiProperties"


def apply_globals(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the template with ``Globals`` merged into each serverless resource by
    samtranslator (as its GlobalsPlugin does before translating), and the Globals section
    removed. The implicit API's merged properties are kept under ``__ImplicitApiProperties``.
    """
    from samtranslator.model.exceptions import (
        ExceptionWithMessage,
    )
    from samtranslator.plugins.globals.globals import Globals

    merged = copy.deepcopy(dict(document))
    try:
        globals_ = Globals(merged)
        for logical_id, body in (merged.get("Resources") or {}).items():
            if not isinstance(body, dict) or not str(body.get("Type", "")).startswith(
                "AWS::Serverless::"
            ):
                continue
            body["Properties"] = globals_.merge(
                str(body["Type"]),
                body.get("Properties") or {},
                logical_id,
                body.get("IgnoreGlobals"),
            )
        merged[_IMPLICIT_GLOBALS] = globals_.merge(API_TYPE, {}, IMPLICIT_API_ID)
    except ExceptionWithMessage as error:
        raise TemplateError(f"Globals: {error.message}") from error
    Globals.del_section(merged)
    return merged


def _functions(resources: Mapping[str, Resource]) -> list[Resource]:
    return [r for r in resources.values() if r.type == FUNCTION_TYPE]


def _route_api_id(properties: Mapping[str, Any]) -> str | None:
    for event in (properties.get("Events") or {}).values():
        if event.get("Type") == "Api":
            return _api_id((event.get("Properties") or {}).get("RestApiId"))
    return None


def _api_id(rest_api_id: Any) -> str:
    if rest_api_id is None:
        return IMPLICIT_API_ID
    if isinstance(rest_api_id, dict) and "Ref" in rest_api_id:
        return str(rest_api_id["Ref"])
    if isinstance(rest_api_id, str):
        return rest_api_id
    raise TemplateError(f"RestApiId must be a !Ref to an AWS::Serverless::Api, got {rest_api_id!r}")


def _read_api(logical_id: str, properties: Mapping[str, Any]) -> Api:
    auth = properties.get("Auth") or {}
    authorizers = {
        name: _read_authorizer(name, body) for name, body in (auth.get("Authorizers") or {}).items()
    }
    default = auth.get("DefaultAuthorizer")
    if default is not None and default not in authorizers:
        raise TemplateError(f"{logical_id}: DefaultAuthorizer {default!r} is not declared")
    responses = {
        str(kind): _read_gateway_response(logical_id, str(kind), body or {})
        for kind, body in (properties.get("GatewayResponses") or {}).items()
    }
    return Api(logical_id, properties.get("StageName"), default, authorizers, responses)


def _read_gateway_response(api: str, kind: str, body: Mapping[str, Any]) -> GatewayResponseSpec:
    headers: dict[str, str] = {}
    for name, value in ((body.get("ResponseParameters") or {}).get("Headers") or {}).items():
        text = str(value)
        if not (len(text) >= 2 and text.startswith("'") and text.endswith("'")):
            raise TemplateError(
                f"{api}: GatewayResponses.{kind} header {name}: only static 'values' are "
                "supported locally"
            )
        headers[str(name)] = text[1:-1]
    status = body.get("StatusCode")
    templates = {str(k): str(v) for k, v in (body.get("ResponseTemplates") or {}).items()}
    return GatewayResponseSpec(int(status) if status is not None else None, headers, templates)


def _read_authorizer(name: str, body: Mapping[str, Any]) -> Authorizer:
    function_arn = body.get("FunctionArn")
    if function_arn is None:
        raise TemplateError(f"authorizer {name}: only Lambda authorizers are supported locally")
    function_id = _function_id_of_arn(function_arn)
    payload_type = str(body.get("FunctionPayloadType", "TOKEN")).upper()
    identity = body.get("Identity") or {}
    if payload_type == "TOKEN":
        headers: tuple[str, ...] = (str(identity.get("Header", "Authorization")),)
        query_strings: tuple[str, ...] = ()
    elif payload_type == "REQUEST":
        headers = tuple(str(h) for h in identity.get("Headers") or ())
        query_strings = tuple(str(q) for q in identity.get("QueryStrings") or ())
    else:
        raise TemplateError(f"authorizer {name}: unknown FunctionPayloadType {payload_type!r}")
    reauthorize = int(identity.get("ReauthorizeEvery", DEFAULT_REAUTHORIZE_SECONDS))
    return Authorizer(name, function_id, payload_type, headers, query_strings, reauthorize)


def _function_id_of_arn(function_arn: Any) -> str:
    if isinstance(function_arn, dict) and "Fn::GetAtt" in function_arn:
        resource, attribute = function_arn["Fn::GetAtt"]
        if attribute == "Arn":
            return str(resource)
    raise TemplateError(
        f"authorizer FunctionArn must be !GetAtt <Function>.Arn, got {function_arn!r}"
    )


def _read_function(
    base_dir: Path, logical_id: str, props: Mapping[str, Any], apis: Mapping[str, Api]
) -> Function:
    code_uri, handler = props.get("CodeUri"), props.get("Handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}: needs a local CodeUri and a Handler 'module.attribute'")
    environment = (props.get("Environment") or {}).get("Variables") or {}
    routes: list[ApiRoute] = []
    mq_sources: list[MqSource] = []
    schedules: list[Schedule] = []
    for event_id, event in (props.get("Events") or {}).items():
        event_type = event.get("Type")
        event_props = event.get("Properties") or {}
        if event_type == "Api":
            routes.append(_read_route(logical_id, event_id, event_props, apis))
        elif event_type == "MQ":
            mq_sources.append(_read_mq_source(logical_id, event_id, event_props))
        elif event_type == "ScheduleV2":
            schedules.append(_read_schedule(logical_id, event_id, event_props))
    return Function(
        logical_id=logical_id,
        code_uri=(base_dir / code_uri).resolve(),
        handler=handler,
        timeout_seconds=int(props.get("Timeout", DEFAULT_TIMEOUT_SECONDS)),
        memory_mb=int(props.get("MemorySize", DEFAULT_MEMORY_MB)),
        environment=dict(environment),
        layers=tuple(props.get("Layers") or ()),
        reserved_concurrency=_reserved_concurrency(logical_id, props),
        routes=tuple(routes),
        mq_sources=tuple(mq_sources),
        schedules=tuple(schedules),
    )


def _reserved_concurrency(logical_id: str, props: Mapping[str, Any]) -> int | None:
    value = props.get("ReservedConcurrentExecutions")
    if value is None:
        return None
    if not isinstance(value, int) or value < 0:
        raise TemplateError(f"{logical_id}: ReservedConcurrentExecutions must be an integer >= 0")
    return value


def _read_route(
    function_id: str, event_id: str, props: Mapping[str, Any], apis: Mapping[str, Api]
) -> ApiRoute:
    api_id = _api_id(props.get("RestApiId"))
    api = apis.get(api_id)
    if api is None:
        raise TemplateError(f"{function_id}.{event_id}: RestApiId {api_id!r} is not an Api")
    auth = props.get("Auth") or {}
    authorizer = auth.get("Authorizer", api.default_authorizer)
    if authorizer == NO_AUTHORIZER:
        authorizer = None
    elif authorizer is not None and authorizer not in api.authorizers:
        raise TemplateError(f"{function_id}.{event_id}: authorizer {authorizer!r} not in {api_id}")
    method = str(props["Method"]).upper()
    return ApiRoute(function_id, event_id, api_id, str(props["Path"]), method, authorizer)


def _read_mq_source(function_id: str, event_id: str, props: Mapping[str, Any]) -> MqSource:
    queues = props.get("Queues") or []
    if not queues or not all(isinstance(q, str) for q in queues):
        raise TemplateError(f"{function_id}.{event_id}: MQ Queues must be literal queue names")
    window = props.get("MaximumBatchingWindowInSeconds")
    return MqSource(
        function_id=function_id,
        event_id=event_id,
        queues=tuple(queues),
        batch_size=int(props.get("BatchSize", 100)),
        batching_window_seconds=float(window) if window is not None else None,
        enabled=bool(props.get("Enabled", True)),
        broker=props.get("Broker"),
    )


def _read_schedule(function_id: str, event_id: str, props: Mapping[str, Any]) -> Schedule:
    expression = props.get("ScheduleExpression")
    if not isinstance(expression, str):
        raise TemplateError(f"{function_id}.{event_id}: ScheduleExpression must be a literal")
    schedule_input = props.get("Input")
    if schedule_input is not None and not isinstance(schedule_input, str):
        raise TemplateError(f"{function_id}.{event_id}: Input must be a JSON string")
    return Schedule(
        function_id=function_id,
        event_id=event_id,
        expression=expression,
        input=schedule_input,
        enabled=str(props.get("State", "ENABLED")).upper() != "DISABLED",
        timezone=props.get("ScheduleExpressionTimezone"),
    )
