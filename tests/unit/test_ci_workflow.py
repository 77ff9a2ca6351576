"""The GitHub Actions workflow is valid (actionlint, which scripts/setup.sh builds into
.local/bin, also runs shellcheck-like checks of its run blocks where shellcheck is present),
and it runs what the project runs: lint, type-check, make test, sam build, and a deploy
through an OIDC role, never stored keys. samconfig.toml has the three stages it deploys."""

from __future__ import annotations

import subprocess
import tomllib

import yaml

from tests.support import ROOT

WORKFLOW = ROOT / ".github/workflows/ci.yml"


def test_actionlint_accepts_the_workflow() -> None:
    actionlint = ROOT / ".local/bin/actionlint"
    assert actionlint.exists(), "run `make setup` (scripts/setup.sh builds actionlint)"
    result = subprocess.run(
        [str(actionlint), "-no-color", str(WORKFLOW)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_lints_tests_builds_and_deploys_through_oidc() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "ruff check" in runs["lint"] and "mypy" in runs["lint"]
    assert "make test" in runs["test"]
    assert "make build" in runs["build"]
    deploy = jobs["deploy"]
    assert set(deploy["needs"]) == {"lint", "test", "build"}
    assert deploy["permissions"]["id-token"] == "write"
    credentials = next(
        s for s in deploy["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws")
    )
    assert "role-to-assume" in credentials["with"]
    assert "aws-access-key-id" not in credentials["with"]
    assert "sam deploy --config-env" in runs["deploy"]


def test_samconfig_has_the_three_stages() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for stage in ("dev", "staging", "prod"):
        deploy = config[stage]["deploy"]["parameters"]
        assert f"Stage={stage}" in deploy["parameter_overrides"]
        assert config[stage]["global"]["parameters"]["stack_name"] == f"crm-{stage}"
        assert "CAPABILITY_IAM" in deploy["capabilities"]
