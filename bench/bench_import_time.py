"""Cold import time of each function module, as Lambda's init phase pays it.

For each function in template.yaml, a fresh interpreter imports its handler module; the figure
is the CPU time (user + system, ms) the import took: the child's CPU time minus that of an
interpreter that imports nothing, the best of RUNS. CPU time, not wall time: it holds on a
machine that other work keeps busy, where -X importtime's wall clock varies severalfold. The
baseline, in the same run, is the least an API function can be: a fresh interpreter importing
a bare Powertools REST resolver with validation and one pydantic model (BASELINE). The target
for API functions is 1.4x the baseline: those above it are listed (with --strict the run then
exits 1; without, `make bench` goes on to the other benchmarks).

Run: .venv/bin/python bench/bench_import_time.py
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.smoke import scaled  # noqa: E402
from tests.unit.test_template import DUMMY_ENV, _functions  # noqa: E402

RUNS = scaled(3, smoke=1)
TARGET = 1.4

BASELINE = """
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel


class Item(BaseModel):
    name: str


app = APIGatewayRestResolver(enable_validation=True)


@app.post("/items")
def create(item: Item) -> dict:
    return item.model_dump()


def handler(event, context):
    return app.resolve(event, context)
"""


def _child_cpu_ms(code: str) -> float:
    env = {**os.environ, **DUMMY_ENV, "PYTHONPATH": f"{ROOT / 'layers/core'}:{ROOT}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def import_ms(code: str) -> float:
    """CPU ms of importing `code`, less an empty interpreter's start-up (best of RUNS each)."""
    empty = min(_child_cpu_ms("pass") for _ in range(RUNS))
    return max(min(_child_cpu_ms(code) for _ in range(RUNS)) - empty, 0.0)


def module_code(code_uri: str, handler: str) -> str:
    path = ROOT / code_uri / f"{handler.rpartition('.')[0]}.py"
    return (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('app', {str(path)!r}); "
        "m = importlib.util.module_from_spec(spec); sys.modules['app'] = m; spec.loader.exec_module(m)"
    )


def is_api(properties: dict) -> bool:
    return any(e["Type"] == "Api" for e in (properties.get("Events") or {}).values())


def main() -> int:
    yaml.safe_load("{}")  # warm the import of yaml for _functions()
    baseline = import_ms(BASELINE)
    print(f"baseline (Powertools resolver + validation + one pydantic model): {baseline:.1f} ms")
    print(f"{'function':32} {'import ms':>10} {'x baseline':>11}")
    over = []
    for logical_id, properties in sorted(_functions().items()):
        code = module_code(properties["CodeUri"], properties["Handler"])
        best = import_ms(code)
        ratio = best / baseline
        api = is_api(properties)
        mark = " (API)" if api else ""
        print(f"{logical_id:32} {best:10.1f} {ratio:11.2f}{mark}")
        if api and ratio > TARGET:
            over.append(logical_id)
    if over:
        print(f"above {TARGET}x the baseline: {', '.join(over)}")
        return 1 if "--strict" in sys.argv[1:] else 0
    print(f"every API function within {TARGET}x the baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
