"""Which AWS operations the code calls, found by reading it (ast), for the IAM and runtime-SDK
checks (tests/unit/test_iam_policies.py, tests/unit/test_runtime_sdk.py).

The rules, generic so that a new function, adapter or bootstrap factory is covered unchanged:
- a client is made by `boto3.client("<service>", ...)`; the operations of that service are
  the `<x>.<operation>(...)` calls (and `get_paginator("<op>")` / `generate_presigned_url("<op>")`)
  in the scope that makes the client and in the crm modules that scope imports (a bootstrap
  factory imports its adapter and hands it the client);
- per adapter method, its operations are those called in its body and in the methods of the same
  class it calls (`self.<m>(...)`);
- a function (template.yaml) uses the bootstrap factories it calls, from its own code or the crm
  modules it imports (bootstrap and adapters aside), and of each factory's adapters only the
  methods whose names its code calls.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

from tests.support import ROOT

LAYER = ROOT / "layers/core"
BOOTSTRAP = "crm.bootstrap"

# IAM actions whose name is not "<signing name>:<Operation>"
ACTION_OVERRIDES = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("apigatewaymanagementapi", "PostToConnection"): "execute-api:ManageConnections",
}
# Actions an operation needs besides its own
IMPLIED_ACTIONS = {
    ("stepfunctions", "CreateStateMachine"): {"iam:PassRole"},
}
NAMED_OPERATION_CALLS = {"get_paginator", "generate_presigned_url", "can_paginate"}


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> Operation name."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


@cache
def _signing_name(service: str) -> str:
    model = botocore.session.get_session().get_service_model(service)
    return str(model.signing_name or model.endpoint_prefix)


def iam_actions(service: str, operation: str) -> set[str]:
    action = ACTION_OVERRIDES.get((service, operation), f"{_signing_name(service)}:{operation}")
    return {action} | IMPLIED_ACTIONS.get((service, operation), set())


@cache
def module_file(name: str) -> Path | None:
    base = LAYER.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, *, into_functions: bool = True) -> Iterator[ast.AST]:
    """ast.walk, skipping `if TYPE_CHECKING:` blocks (and nested functions when asked)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for orelse in child.orelse for n in [orelse, *_walk(orelse)])
            continue
        if not into_functions and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        yield child
        yield from _walk(child, into_functions=into_functions)


def crm_imports(node: ast.AST, *, into_functions: bool = True) -> set[str]:
    """The crm modules imported in `node` (`from crm.x import y` counts crm.x and, when it is
    a module, crm.x.y)."""
    found: set[str] = set()
    for child in _walk(node, into_functions=into_functions):
        if isinstance(child, ast.Import):
            found |= {a.name for a in child.names if a.name.split(".")[0] == "crm"}
        elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
            if child.module.split(".")[0] != "crm":
                continue
            found.add(child.module)
            for alias in child.names:
                if module_file(f"{child.module}.{alias.name}"):
                    found.add(f"{child.module}.{alias.name}")
    return {m for m in found if module_file(m)}


def attribute_calls(node: ast.AST) -> set[str]:
    """Names called as attributes (`x.name(...)`), and operations named by string."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
            names.add(child.func.attr)
            if child.func.attr in NAMED_OPERATION_CALLS and child.args:
                first = child.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return names


def clients_made(node: ast.AST) -> set[str]:
    services = set()
    for child in ast.walk(node):
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr == "client"
            and isinstance(child.func.value, ast.Name)
            and child.func.value.id == "boto3"
            and child.args
            and isinstance(child.args[0], ast.Constant)
        ):
            services.add(str(child.args[0].value))
    return services


def _operations_in(names: set[str], service: str) -> set[str]:
    table = _operations(service)
    return {table[n] for n in names if n in table}


@dataclass
class Factory:
    """A scope that makes AWS clients: a bootstrap factory (or any function/module doing it)."""

    name: str
    services: set[str]
    modules: set[str]  # crm modules it imports (its adapters)
    own_calls: set[str]  # attribute calls in the scope itself


def _scopes(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    yield "<module>", tree
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node


@cache
def factories_in(module: str) -> dict[str, Factory]:
    path = module_file(module)
    assert path, module
    tree = _tree(path)
    found = {}
    for name, scope in _scopes(tree):
        if name == "<module>":
            top = ast.Module(body=[n for n in tree.body if not isinstance(n, ast.FunctionDef)])
            own = clients_made(top)
        else:
            own = clients_made(scope)
        if own or (module == BOOTSTRAP and name != "<module>"):
            imports = crm_imports(scope) | crm_imports(tree, into_functions=False) | {module}
            found[name] = Factory(name, own, imports, attribute_calls(scope))
    return found


@cache
def adapter_methods(module: str, service: str) -> dict[str, set[str]]:
    path = module_file(module)
    assert path, module
    tree = _tree(path)
    result: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {
                m.name: m
                for m in node.body
                if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            module_functions = {
                n.name: n
                for n in tree.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            direct = {name: attribute_calls(m) for name, m in methods.items()}
            for name, method in methods.items():  # module functions it calls, one level
                for call in ast.walk(method):
                    if (
                        isinstance(call, ast.Call)
                        and isinstance(call.func, ast.Name)
                        and call.func.id in module_functions
                    ):
                        direct[name] |= attribute_calls(module_functions[call.func.id])
            for name in methods:
                seen, stack, calls = {name}, [name], set()
                while stack:
                    current = stack.pop()
                    calls |= direct[current]
                    for callee in direct[current] & set(methods):
                        if callee not in seen:
                            seen.add(callee)
                            stack.append(callee)
                ops = _operations_in(calls, service)
                if ops:
                    result[name] = result.get(name, set()) | ops
        elif isinstance(node, ast.FunctionDef):
            ops = _operations_in(attribute_calls(node), service)
            if ops:
                result[node.name] = ops
    return result


def _code_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(LAYER.joinpath("crm").rglob("*.py")):
        yield (
            ".".join(path.relative_to(LAYER).with_suffix("").parts).removesuffix(".__init__"),
            path,
        )


@cache
def operations_called_in_code() -> dict[str, set[str]]:
    """service -> operations called anywhere in the layer's code."""
    called: dict[str, set[str]] = {}
    for module, _ in _code_files():
        for factory in factories_in(module).values():
            for service in factory.services:
                ops = _operations_in(factory.own_calls, service)
                for imported in factory.modules:
                    for method_ops in adapter_methods(imported, service).values():
                        ops |= method_ops
                called.setdefault(service, set()).update(ops)
    return called


_TOP_LEVEL: dict[int, dict[str, ast.AST]] = {}
_FROM_IMPORTS: dict[int, dict[str, tuple[str, str]]] = {}


def _top_level(tree: ast.Module) -> dict[str, ast.AST]:
    if id(tree) in _TOP_LEVEL:
        return _TOP_LEVEL[id(tree)]
    defs: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    defs[target.id] = node
    _TOP_LEVEL[id(tree)] = defs
    return defs


def _from_imports(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """local name -> (crm module, imported name), for every `from crm... import` in the module."""
    if id(tree) in _FROM_IMPORTS:
        return _FROM_IMPORTS[id(tree)]
    found = {}
    for node in _walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == "crm"
        ):
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    _FROM_IMPORTS[id(tree)] = found
    return found


@cache
def function_closure(code_dir: Path) -> tuple[set[str], set[str]]:
    """(attribute calls, bootstrap factories called) of a function's code and of the crm code
    it reaches: the names it imports from crm modules (a function, a class, a whole module)
    and, inside them, the names they use, transitively; bootstrap and adapters aside."""
    calls: set[str] = set()
    factories: set[str] = set()
    # units: (module, name) with name "*" for a whole module
    pending: list[tuple[str | Path, str]] = [(p, "*") for p in sorted(code_dir.glob("*.py"))]
    seen: set[tuple[str | Path, str]] = set()
    while pending:
        unit = pending.pop()
        if unit in seen:
            continue
        seen.add(unit)
        where, name = unit
        path = where if isinstance(where, Path) else module_file(where)
        if path is None:
            continue
        tree = _tree(path)
        if name == "*":
            node: ast.AST = tree
        else:
            defs = _top_level(tree)
            if name not in defs:
                continue
            node = defs[name]
        calls |= attribute_calls(node)
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        used |= {n.value.id for n in ast.walk(node)
                 if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}  # fmt: skip
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "bootstrap"
            ):
                factories.add(call.func.attr)
        if name != "*":
            local = _top_level(tree)
            pending.extend((where, n) for n in used & set(local) if n != name)  # type: ignore[misc]
        imports = _from_imports(tree)
        for local_name in used & set(imports):
            module, imported = imports[local_name]
            if module == BOOTSTRAP or module.startswith("crm.adapters"):
                continue
            submodule = f"{module}.{imported}"
            if module_file(submodule):
                if not submodule.startswith("crm.adapters") and submodule != BOOTSTRAP:
                    pending.append((submodule, "*"))
            else:
                pending.append((module, imported))
    return calls, factories


def _with_inner_factories(names: set[str], known: set[str]) -> set[str]:
    """`names` and the bootstrap factories they call in turn (email_transport ->
    _ses_transport), transitively."""
    path = module_file(BOOTSTRAP)
    assert path
    defs = _top_level(_tree(path))
    found, pending = set(names), list(names)
    while pending:
        node = defs.get(pending.pop())
        if node is None:
            continue
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in known
                and call.func.id not in found
            ):
                found.add(call.func.id)
                pending.append(call.func.id)
    return found


@cache
def actions_needed_by_function(code_dir: Path) -> dict[str, set[str]]:
    """IAM action -> the operations ("service:Operation") of this function's code needing it."""
    calls, factory_names = function_closure(code_dir)
    factories = factories_in(BOOTSTRAP)
    factory_names = _with_inner_factories(factory_names, set(factories))
    needed: dict[str, set[str]] = {}
    for name in sorted(factory_names):
        factory = factories.get(name)
        if factory is None:
            continue
        services = set(factory.services)
        for module in factory.modules - {BOOTSTRAP}:  # an adapter module that makes its client
            for inner in factories_in(module).values():
                services |= inner.services
        for service in services:
            ops = _operations_in(factory.own_calls, service)
            for module in factory.modules:
                for method, method_ops in adapter_methods(module, service).items():
                    if method in calls:
                        ops |= method_ops
            for op in ops:
                for action in iam_actions(service, op):
                    needed.setdefault(action, set()).add(f"{service}:{op}")
    return needed


@cache
def opensearch_factories() -> set[str]:
    """bootstrap factories that build an OpenSearch client."""
    tree = _tree(module_file(BOOTSTRAP))  # type: ignore[arg-type]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            m.startswith("crm.adapters.opensearch") for m in crm_imports(node)
        ):
            found.add(node.name)
    return found
