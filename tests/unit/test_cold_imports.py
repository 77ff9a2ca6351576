"""What a function's cold start imports, checked in a fresh interpreter:

- nothing that the layer build deletes (layers/core/layer-exclude.txt): the layer would lack
  it in Lambda, so a new import of one of those modules fails here first;
- neither boto3/botocore nor the X-Ray SDK: the AWS clients are built lazily by crm.bootstrap
  when a function first needs one, and the tracer is a no-op without the SDK (crm.tracing),
  so the import phase, which every cold start pays, holds neither.

Every function of template.yaml is imported (with placeholder settings, as the local cloud
does), then the lazy paths that the layer's pruning relies on are exercised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from local.environment import IMPORT_PLACEHOLDER_ENV
from tests.support import ROOT
from tests.unit.test_template import _functions

NOT_ON_A_COLD_PATH = ("boto3", "botocore", "aws_xray_sdk")


def excluded_modules() -> list[str]:
    """Module names of the layer-exclude.txt entries that are modules (not data files)."""
    modules = []
    for line in (ROOT / "layers/core/layer-exclude.txt").read_text().splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#") or any(c in entry for c in "*?["):
            continue
        if entry == "bin":
            continue
        modules.append(entry.removesuffix(".py").replace("/", "."))
    return modules


CHILD = r"""
import importlib.abc, importlib.util, json, sys

blocked = tuple(json.loads(sys.argv[1]))
functions = json.loads(sys.argv[2])


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ImportError(f"{name} is blocked (not in the layer / not on a cold path)")
        return None


sys.meta_path.insert(0, Blocker())
failures = {}
for logical_id, path in functions.items():
    try:
        spec = importlib.util.spec_from_file_location(f"cold_{logical_id}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    except Exception as error:  # report every function, not just the first
        failures[logical_id] = f"{type(error).__name__}: {error}"

# lazy paths the pruning relies on
try:
    from pydantic import BaseModel, EmailStr

    class Probe(BaseModel):
        email: EmailStr

    Probe(email="ana@example.com")
    import opensearchpy  # its asyncio client is pruned

    opensearchpy.OpenSearch(hosts=["http://127.0.0.1:1"])
    from opensearchpy import helpers  # noqa: F401 - its bulk helpers import part of _async
    import charset_normalizer  # without its compiled speed-ups
    import requests  # noqa: F401 - opensearch-py's signer imports it

    charset_normalizer.from_bytes("olá".encode()).best()
except Exception as error:
    failures["<lazy paths>"] = f"{type(error).__name__}: {error}"
print(json.dumps(failures))
"""


def test_functions_import_without_pruned_modules_boto3_or_xray() -> None:
    functions = {
        logical_id: str(ROOT / props["CodeUri"] / f"{props['Handler'].rpartition('.')[0]}.py")
        for logical_id, props in _functions().items()
    }
    blocked = [*excluded_modules(), *NOT_ON_A_COLD_PATH]
    assert "dns" in blocked and "boto3" in blocked
    env = {
        **os.environ,
        **IMPORT_PLACEHOLDER_ENV,
        "PYTHONPATH": f"{ROOT / 'layers/core'}{os.pathsep}{ROOT}",
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(blocked), json.dumps(functions)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert failures == {}
