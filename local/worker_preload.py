"""Imported by the fork server of the local Lambda runtime (:mod:`local.workers`): the layer's
own modules that are safe to share by every execution environment.

A module may be imported once for all functions only if importing it reads nothing of the
function's environment. The layer's ``crm.observability`` (Powertools ``Logger``/``Metrics``)
and ``crm.tracing`` (``Tracer``) create objects at import that read ``POWERTOOLS_SERVICE_NAME``
and friends, so they, and every module importing them at its top level (directly or not), are
left to each environment. The import graph is read from the sources (``ast``, top-level
statements only: imports inside functions run later, in the environment).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = "crm"
# Read the function's environment when imported.
ENVIRONMENT_BOUND = frozenset({"crm.observability", "crm.tracing"})


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child_node in ast.iter_child_nodes(node):
            visit(child_node)

    visit(tree)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def shareable_modules() -> list[str]:
    """The layer's modules whose import (with everything it imports) reads no environment."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return []
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    root = package_dir.parent
    graph: dict[str, set[str]] = {}
    for path in package_dir.rglob("*.py"):
        name = _module_name(root, path)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            graph[name] = set(ENVIRONMENT_BOUND)  # unknown: never shared
            continue
        imports = _top_level_imports(tree, name, path.name == "__init__.py")
        parts = name.split(".")
        imports.update(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        graph[name] = imports
    bound = set(ENVIRONMENT_BOUND)
    changed = True
    while changed:
        changed = False
        for name, imports in graph.items():
            if name not in bound and imports & bound:
                bound.add(name)
                changed = True
    return sorted(name for name in graph if name not in bound)


def preload() -> list[str]:
    loaded = []
    for name in shareable_modules():
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as error:  # an optional dependency missing, ...: not preloaded
            log.debug("not preloaded: %s (%s)", name, error)
    return loaded


if __name__ != "__main__":
    PRELOADED = preload()
