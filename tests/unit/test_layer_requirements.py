"""layers/core/requirements.txt is generated from pyproject.toml's runtime dependencies at
constraints.txt's pins (`make requirements`, scripts/layer_requirements.py); this fails as soon
as the file differs from what constraints.txt implies. constraints.txt pins what setup installs."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from scripts import layer_requirements
from tests.support import ROOT


def _layer_pins() -> dict[str, str]:
    lines = (ROOT / "layers/core/requirements.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    return pins


def test_layer_requirements_are_the_pinned_closure_of_the_runtime_dependencies() -> None:
    text = (ROOT / "layers/core/requirements.txt").read_text()
    assert text == layer_requirements.expected(), "stale: run `make requirements`"


def test_layer_pins_every_runtime_dependency_exactly_as_constraints_do() -> None:
    pins = layer_requirements.constraints()
    layer = _layer_pins()
    for requirement in layer_requirements.runtime_dependencies():
        name = _name(str(requirement))
        if name in layer_requirements.PROVIDED_BY_RUNTIME:
            assert name not in layer
        else:
            assert layer[name] == pins[name]
    # nothing in the layer is unpinned or pinned elsewhere
    assert all(pins[name] == version for name, version in layer.items())


def test_layer_leaves_out_what_the_runtime_has_and_grpc() -> None:
    layer = _layer_pins()
    for name in ("boto3", "botocore", "s3transfer", "grpcio", "protobuf", "opensearch-protobufs"):
        assert name not in layer, f"{name} must not be in the layer"
    # the X-Ray SDK is not shipped: crm.tracing is a no-op without it (Lambda's active tracing
    # still traces every invocation)
    assert "aws-xray-sdk" not in layer


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement such as `pydantic[email]>=2.11,<3`."""
    name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_is_pinned_in_constraints_within_its_range() -> None:
    """constraints.txt (what scripts/setup.sh installs with) pins every dependency, runtime and
    dev, at a version inside the range pyproject.toml declares."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project.get("optional-dependencies", {}).get("dev", [])
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[_name(name)] = version
    for requirement in declared:
        parsed = Requirement(requirement)
        name = _name(requirement)
        assert name in pins, f"{name} is not pinned in constraints.txt: run `make constraints`"
        assert parsed.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside {parsed.specifier}"
        )
