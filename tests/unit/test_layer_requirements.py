"""layers/core/requirements.txt is generated from pyproject.toml (`make requirements`);
this fails as soon as the two lists drift."""

from __future__ import annotations

import tomllib

from tests.support import ROOT


def test_layer_requirements_match_pyproject_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "layers/core/requirements.txt").read_text().splitlines()
    generated = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert generated == declared
