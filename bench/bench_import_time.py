"""Cold import time of each function module, as Lambda's init phase pays it.

For each function in template.yaml, a fresh interpreter imports its handler module under
`python -X importtime`; the figure is the sum of the top-level cumulative times (ms). The
baseline, in the same run, is a fresh interpreter importing nothing but `json`.

Run: .venv/bin/python bench/bench_import_time.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.smoke import scaled  # noqa: E402
from tests.unit.test_template import DUMMY_ENV, _functions  # noqa: E402

RUNS = scaled(3, smoke=1)


def import_ms(code: str) -> float:
    env = {**os.environ, **DUMMY_ENV, "PYTHONPATH": f"{ROOT / 'layers/core'}:{ROOT}"}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    total_us = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name_field = line.removeprefix("import time:").split("|")
        if not name_field.startswith("  "):  # top level: a single space after the bar
            total_us += int(cumulative)
    return total_us / 1000


def module_code(code_uri: str, handler: str) -> str:
    path = ROOT / code_uri / f"{handler.rpartition('.')[0]}.py"
    return (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('app', {str(path)!r}); "
        "m = importlib.util.module_from_spec(spec); sys.modules['app'] = m; spec.loader.exec_module(m)"
    )


def main() -> None:
    yaml.safe_load("{}")  # warm the import of yaml for _functions()
    baseline = min(import_ms("import json") for _ in range(RUNS))
    print(f"baseline (import json): {baseline:.1f} ms")
    print(f"{'function':32} {'import ms':>10} {'x baseline':>11}")
    functions = sorted(_functions().items())
    for logical_id, properties in functions[: scaled(len(functions), smoke=3)]:
        code = module_code(properties["CodeUri"], properties["Handler"])
        best = min(import_ms(code) for _ in range(RUNS))
        print(f"{logical_id:32} {best:10.1f} {best / baseline:11.1f}")


if __name__ == "__main__":
    main()
