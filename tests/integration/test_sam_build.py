"""`sam validate --lint` and `sam build` as CI and an operator run them (SAM CLI from
.local/sam-cli, Python 3.12 from the venv): the build succeeds, the layer holds exactly
layers/core/requirements.txt's versions (built from the pins, no boto3/botocore, no grpc), and
every function and the layer stay within 10 MB zipped. The sizes are printed (pytest -s, or
`make build`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import sam_build

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sam-build")
    sam_build.build(directory)
    return directory


def test_sam_validate_lint_passes() -> None:
    result = sam_build.run_sam("validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_built_layer_holds_exactly_the_pinned_versions(build_dir: Path) -> None:
    built = sam_build.layer_versions(build_dir)
    assert built == sam_build.required_versions()
    for name in ("boto3", "botocore", "s3transfer", "grpcio", "protobuf", "aws-xray-sdk"):
        assert name not in built
    python = build_dir / sam_build.LAYER / "python"
    assert (python / "crm" / "bootstrap.py").is_file()
    # arm64 wheels, whatever machine built them
    native = [p.name for p in python.rglob("*.so")]
    assert native and all("x86_64" not in n for n in native), native


def test_every_function_and_the_layer_fit_in_10_mb_zipped(build_dir: Path) -> None:
    table = sam_build.sizes(build_dir)
    print("\n" + sam_build.report(table))
    assert sam_build.LAYER in table
    assert len(table) > 20  # every function of the template was built
    too_big = {name: z for name, (z, _) in table.items() if z > sam_build.SIZE_LIMIT}
    assert not too_big
