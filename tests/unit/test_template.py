"""template.yaml is the single source of truth: it lints, the SAM translator accepts it, every
handler it names exists, and every route it declares is served by that function's resolver
(and nothing is served that it does not declare)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.environment import IMPORT_PLACEHOLDER_ENV
from tests.support import ROOT

TEMPLATE = ROOT / "template.yaml"

DUMMY_ENV = IMPORT_PLACEHOLDER_ENV


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def _template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def _functions() -> dict[str, dict[str, Any]]:
    resources = _template()["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _declared_routes(properties: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in (properties.get("Events") or {}).values()
        if event["Type"] == "Api"
    }


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_translator_accepts_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = _template()
    for resource in template["Resources"].values():  # as `sam package` leaves them
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://artifacts/code.zip"
    parameters = {"VpcSubnetIds": ["subnet-1"], "VpcSecurityGroupIds": ["sg-1"]}
    transformed = transform(template, parameters, NoManagedPolicies())  # type: ignore[arg-type]
    types = {resource["Type"] for resource in transformed["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::ApiGateway::RestApi", "AWS::Lambda::EventSourceMapping",
            "AWS::Scheduler::Schedule"} <= types  # fmt: skip


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_every_handler_exists(logical_id: str) -> None:
    properties = _functions()[logical_id]
    module, _, attribute = properties["Handler"].rpartition(".")
    source = ROOT / properties["CodeUri"] / f"{module}.py"
    assert source.is_file(), f"{logical_id}: {source} missing"
    assert re.search(rf"^def {attribute}\(", source.read_text(), re.MULTILINE)


def _load_function_module(logical_id: str, code_uri: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in DUMMY_ENV.items():
        monkeypatch.setenv(name, value)
    path = ROOT / code_uri / "app.py"
    spec = importlib.util.spec_from_file_location(f"template_check_{logical_id}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # Registered like any imported module: Powertools resolves the route's type hints
    # through sys.modules[func.__module__].
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


API_FUNCTIONS = sorted(name for name, props in _functions().items() if _declared_routes(props))


@pytest.mark.parametrize("logical_id", API_FUNCTIONS)
def test_every_declared_route_is_served_and_nothing_else(
    logical_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    properties = _functions()[logical_id]
    module = _load_function_module(logical_id, properties["CodeUri"], monkeypatch)
    schema = module.app.get_openapi_schema()
    served = {
        (method.upper(), _normalise(path))
        for path, operations in (schema.paths or {}).items()
        for method in ("get", "post", "put", "patch", "delete")
        if getattr(operations, method, None) is not None
    }
    declared = {(method, _normalise(path)) for method, path in _declared_routes(properties)}
    assert served == declared
