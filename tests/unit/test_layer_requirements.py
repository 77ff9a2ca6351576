"""layers/core/requirements.txt is generated from pyproject.toml (`make requirements`);
this fails as soon as the two lists drift. constraints.txt pins what setup installs."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from tests.support import ROOT


def test_layer_requirements_match_pyproject_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "layers/core/requirements.txt").read_text().splitlines()
    generated = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert generated == declared


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
