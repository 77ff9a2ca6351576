"""Writes functions/api_docs/openapi.json: the OpenAPI 3.1 document of the whole REST API.

    make openapi                                        # rewrite it
    .venv/bin/python scripts/openapi.py                 # the same
    .venv/bin/python scripts/openapi.py --check         # exit 1 when it is stale

It imports every function of template.yaml that has `Api` events (with placeholder settings:
nothing connects at import), asks each Powertools resolver for its document and merges them
(crm.api.openapi) with each route's declarations (crm.api.contract: `responses=` and
`@contract`) and what only the template knows: which routes have the authorizer. A route
without `responses=` stops the build with its name (see docs/api-contract.md).
tests/unit/test_openapi.py fails while the committed file is stale, so whoever changes a route,
a request model or a declared status regenerates it.

The document lives in the api_docs function's folder (its CodeUri) so that `sam build` packages
it with the function that serves it and the local cloud, which loads handlers from the same
folder, serves the very same file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT), str(ROOT / "layers" / "core")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from crm.api.contract import RouteContract, declared_contract  # noqa: E402
from crm.api.openapi import (  # noqa: E402
    FunctionDocument,
    OpenApiMergeError,
    RouteFacts,
    merge,
    render,
    route_key,
)

from local.environment import IMPORT_PLACEHOLDER_ENV  # noqa: E402
from local.template import Function, read_template  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
DOCUMENT = ROOT / "functions" / "api_docs" / "openapi.json"
REGENERATE = ".venv/bin/python scripts/openapi.py  (or: make openapi)"

# Settings the function modules read at import; placeholders, nothing connects to them.
PLACEHOLDER_ENV = IMPORT_PLACEHOLDER_ENV

SERVERS: list[dict[str, Any]] = [
    {"url": "http://127.0.0.1:8765", "description": "the local cloud (`make dev`)"},
    {
        "url": "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
        "description": "API Gateway (the stack's CrmApi)",
        "variables": {
            "api_id": {"default": "api-id"},
            "region": {"default": "us-east-1"},
            "stage": {"default": "dev", "enum": ["dev", "staging", "prod"]},
        },
    },
]

DESCRIPTION = (
    "The CRM's REST API. JSON in snake_case; errors are RFC 9457 `application/problem+json` "
    "(a 422 adds `errors: [{loc, msg, type}]`). Another tenant's id answers 404, never 403. "
    "Routes with a lock need `Authorization: Bearer <access token or API key>`; the others are "
    "public. Generated from the Powertools resolvers of every API function by "
    "`scripts/openapi.py`."
)


def info() -> dict[str, Any]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"title": "CRM API", "version": project["version"], "description": DESCRIPTION}


def tag_of(function: Function) -> str:
    """functions/api_api_keys -> 'api-keys'."""
    return function.code_uri.name.removeprefix("api_").replace("_", "-")


def placeholder(name: str) -> str:
    """A well-formed stand-in for a variable that has no placeholder above (a new function's
    setting), by what its name says it is."""
    if name in PLACEHOLDER_ENV:
        return PLACEHOLDER_ENV[name]
    if name.endswith("_ARN"):
        return f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name.lower()}"
    if name.endswith("_URL"):
        return "http://127.0.0.1:1"
    return f"placeholder-{name.lower().replace('_', '-')}"


@contextlib.contextmanager
def _placeholder_environment(names: set[str]) -> Iterator[None]:
    """Every setting a function declares in the template (literal values are used as they
    are; intrinsics such as !Ref get a placeholder), restored afterwards."""
    values = {name: placeholder(name) for name in names | set(PLACEHOLDER_ENV)}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _import_function(function: Function) -> Any:
    name = f"openapi_{function.logical_id}"
    spec = importlib.util.spec_from_file_location(name, function.handler_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {function.handler_file}")
    module = importlib.util.module_from_spec(spec)
    # Registered like any module: Powertools resolves the routes' type hints through
    # sys.modules[func.__module__] when it builds the document.
    sys.modules[name] = module
    sys.path.insert(0, str(function.code_uri))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(function.code_uri))
    return module


@dataclass(frozen=True)
class Declared:
    """A route's declarations: its contract and the first paragraph of its docstring."""

    contract: RouteContract
    description: str


def _declarations(app: Any, tag: str) -> dict[str, Declared]:
    """'METHOD /path/{}' -> the route's declarations. Powertools keeps its routes in these two
    lists; a route that declares no `responses=` is an error naming it."""
    declared: dict[str, Declared] = {}
    for route in [*app._static_routes, *app._dynamic_routes]:
        key = route_key(route.method, route.openapi_path)
        if not route.responses:
            raise OpenApiMergeError(
                f"{tag}: {route.method} {route.openapi_path} ({route.func.__name__}) declares no "
                "responses=: add responses=responses(<success status>, <problems>) from "
                "crm.api.contract (see docs/api-contract.md)"
            )
        doc = (inspect.getdoc(inspect.unwrap(route.func)) or "").split("\n\n", 1)[0]
        declared[key] = Declared(declared_contract(route.func), " ".join(doc.split()))
    return declared


def function_documents() -> list[FunctionDocument]:
    template = read_template(TEMPLATE)
    documents: list[FunctionDocument] = []
    for function in sorted(template.functions.values(), key=lambda f: f.logical_id):
        if not function.routes:
            continue
        literals = {k: v for k, v in function.environment.items() if isinstance(v, str)}
        with _placeholder_environment(set(function.environment)):
            os.environ.update(literals)
            module = _import_function(function)
            try:
                app = module.app
                declarations = _declarations(app, tag_of(function))
                routes = {
                    key: RouteFacts(
                        authenticated=route.authorizer is not None,
                        contract=declarations[key].contract,
                        description=declarations[key].description,
                    )
                    for route in function.routes
                    for key in [route_key(route.method, route.path)]
                    if key in declarations
                }
                schema = app.get_openapi_schema().model_dump(
                    mode="json", by_alias=True, exclude_none=True
                )
            finally:
                sys.modules.pop(module.__name__, None)
            documents.append(FunctionDocument(tag_of(function), schema, routes))
    return documents


def build_document() -> dict[str, Any]:
    return merge(function_documents(), info=info(), servers=SERVERS)


def main(argv: list[str]) -> int:
    expected = render(build_document())
    if "--check" in argv:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != expected:
            sys.stderr.write(f"{DOCUMENT} is stale: run {REGENERATE}\n")
            return 1
        return 0
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(expected)
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
