"""`sam build` with the project's tool chain, then a table of what Lambda would be sent: each
function's and the layer's zipped size (limit 10 MB each), and a check that the layer holds
exactly layers/core/requirements.txt's versions (no boto3: the runtime has it).

    .venv/bin/python scripts/sam_build.py [--build-dir DIR]      (`make build`, CI)

SAM CLI lives in its own venv, .local/sam-cli (scripts/setup.sh installs it: its pins clash
with the project's); its Python builders look for `python3.12` on the PATH, which the project
venv's bin provides.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SAM = ROOT / ".local/sam-cli/bin/sam"
SIZE_LIMIT = 10_000_000  # bytes, zipped, per function and per layer
LAYER = "CoreLayer"


def sam_env() -> dict[str, str]:
    venv_bin = Path(sys.executable).parent
    return {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_CONTACT_TELEMETRY": "0",
    }


def run_sam(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    if not SAM.exists():
        raise SystemExit(f"{SAM} is missing: run `make setup`")
    return subprocess.run(
        [str(SAM), *args], cwd=cwd, env=sam_env(), capture_output=True, text=True, check=False
    )


def build(build_dir: Path) -> None:
    result = run_sam("build", "--build-dir", str(build_dir), "--parallel")
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout}\n{result.stderr}")


def zipped_size(directory: Path) -> int:
    """The size of the deployment zip SAM would upload (deflated, like `sam deploy`'s)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return len(buffer.getvalue())


def unzipped_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def sizes(build_dir: Path) -> dict[str, tuple[int, int]]:
    """artifact -> (zipped, unzipped) bytes, for every built function and layer."""
    return {
        path.name: (zipped_size(path), unzipped_size(path))
        for path in sorted(build_dir.iterdir())
        if path.is_dir()
    }


def layer_versions(build_dir: Path) -> dict[str, str]:
    found = {}
    for dist_info in (build_dir / LAYER / "python").glob("*.dist-info"):
        text = (dist_info / "METADATA").read_text()
        name = re.search(r"^Name: (.+)$", text, re.M)
        version = re.search(r"^Version: (.+)$", text, re.M)
        assert name and version, dist_info
        found[canonicalize_name(name.group(1).strip())] = version.group(1).strip()
    return found


def required_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "layers/core/requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[canonicalize_name(name)] = version
    return pins


def report(table: dict[str, tuple[int, int]]) -> str:
    lines = [f"{'artifact':32} {'zipped kB':>10} {'unzipped kB':>12}"]
    for name, (zipped, unzipped) in table.items():
        lines.append(f"{name:32} {zipped / 1e3:10.1f} {unzipped / 1e3:12.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam/build")
    args = parser.parse_args(argv)
    build(args.build_dir)
    table = sizes(args.build_dir)
    print(report(table))
    problems = [
        f"{n}: {z} bytes zipped > {SIZE_LIMIT}" for n, (z, _) in table.items() if z > SIZE_LIMIT
    ]
    if layer_versions(args.build_dir) != required_versions():
        problems.append("the built layer's versions differ from layers/core/requirements.txt")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
