"""POST /automations/{id}/publish of a 100-step workflow (crm.services.automations, the code
behind the route) against compiling the same workflow alone, same run.

Publishing = lock the automation row, validate the draft against the catalog and the tenant's
data (fields, tag), compile, insert the numbered version (definition + ASL), create its state
machine (embedded moto, in process), make it live, audit, commit. The baseline is
`compile_workflow` of the same workflow: the ratio says what publishing adds to compiling.

Run: .venv/bin/python bench/bench_publish.py [--iterations N] [--smoke]
(starts the test servers if needed; --smoke: 3 iterations, for CI)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core"), str(ROOT / "bench")]

import boto3  # noqa: E402
from bench_compiler import hundred_step_workflow  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.adapters.secrets.field_cipher import FieldCipher  # noqa: E402
from crm.adapters.sfn.engine import StepFunctionsEngine  # noqa: E402
from crm.automation import Workflow, compile_workflow  # noqa: E402
from crm.domain.taxonomy import Tag  # noqa: E402
from crm.domain.tenants import Principal, Role, Tenant, User  # noqa: E402
from crm.domain.webhooks import TargetPolicy  # noqa: E402
from crm.services.automation_webhooks import OutboundSettings  # noqa: E402
from crm.services.automations import create_automation, publish_automation  # noqa: E402
from moto import mock_aws  # noqa: E402

from local.services import ensure_test_services  # noqa: E402

STEP_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"
ROLE_ARN = "arn:aws:iam::123456789012:role/automation-runner"


def publishable_workflow() -> dict[str, Any]:
    """bench_compiler's 100 steps, with ids the tenant has: move_stage becomes a webhook."""
    data = hundred_step_workflow()

    def fix(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if step["type"] == "action" and step["action"]["kind"] == "move_stage":
                step["action"] = {"kind": "webhook", "url": "https://hooks.example.com/y"}
            fix(step.get("then", []))
            fix(step.get("else", []))

    fix(data["steps"])
    return data


class NoEngine:
    """Creates nothing: isolates our code from the emulator's CreateStateMachine."""

    def ensure_state_machine(self, name: str, definition: dict[str, Any]) -> str:
        return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"

    def start(self, state_machine_arn: str, execution_name: str, payload: dict[str, Any]) -> str:
        raise NotImplementedError


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    iterations = 3 if args.smoke else args.iterations

    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    db = PostgresDatabase(ConnectionPool(migrated.app_url, size=2))
    tenant = Tenant(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}", plan="enterprise")
    owner = User(
        tenant_id=tenant.id,
        email=f"owner@{tenant.slug}.example.com",
        name="Bench",
        password_hash="not-a-real-hash",  # noqa: S106 (never used to log in)
        role=Role.OWNER,
    )
    with db.unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        uow.tags.add(Tag("hot", None, owner.id))
        uow.commit()
    principal = Principal(tenant.id, owner.id, Role.OWNER)
    workflow = Workflow.model_validate(publishable_workflow())
    states = len(compile_workflow(workflow, step_function_arn=STEP_FUNCTION_ARN)["States"])

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STEPFUNCTIONS"):
        os.environ.pop(name, None)
    with mock_aws():
        engine = StepFunctionsEngine(
            boto3.client("stepfunctions", region_name="us-east-1"), ROLE_ARN
        )
        automation = create_automation(
            "bench", workflow, principal, unit_of_work=db.unit_of_work,
            step_function_arn=STEP_FUNCTION_ARN, publish=False,
            # the webhook steps pass the target policy as in the API (a public address)
            outbound=OutboundSettings(
                cipher=FieldCipher(bytes(32)), policy=TargetPolicy(),
                resolve=lambda host, port: ["93.184.216.34"],
            ),
        )  # fmt: skip
        automation_id = uuid.UUID(automation["id"])
        publish: list[float] = []
        ours: list[float] = []
        compile_only: list[float] = []
        for _ in range(iterations):
            start = time.perf_counter()
            publish_automation(
                automation_id, principal, unit_of_work=db.unit_of_work, engine=NoEngine(),
                step_function_arn=STEP_FUNCTION_ARN,
            )  # fmt: skip
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            publish_automation(
                automation_id, principal, unit_of_work=db.unit_of_work, engine=engine,
                step_function_arn=STEP_FUNCTION_ARN,
            )  # fmt: skip
            publish.append(time.perf_counter() - start)
            start = time.perf_counter()
            compile_workflow(workflow, step_function_arn=STEP_FUNCTION_ARN)
            compile_only.append(time.perf_counter() - start)

    steps = sum(1 for _ in workflow.iter_steps())
    print(f"workflow: {steps} steps, {states} states; {iterations} x 2 publishes")
    print(f"{'compile_workflow [baseline]':<34} {median_ms(compile_only):8.2f} ms median")
    base = statistics.median(compile_only)
    for label, samples in (
        ("publish_automation (moto SFN)", publish),
        ("publish_automation (no SFN call)", ours),
    ):
        print(
            f"{label:<34} {median_ms(samples):8.2f} ms median   x{statistics.median(samples) / base:6.1f}"
        )


if __name__ == "__main__":
    main()
