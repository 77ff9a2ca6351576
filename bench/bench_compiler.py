"""Cost of compiling a 100-step workflow, against `json.dumps` of the same workflow.

    .venv/bin/python bench/bench_compiler.py [--iterations N] [--repeat R]

The baseline is measured in the same run, so the ratio is comparable across machines. Each
figure is the best of R rounds of N calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1]),
    str(Path(__file__).resolve().parents[1] / "layers" / "core"),
]

from crm.automation import Workflow, compile_workflow  # noqa: E402

from bench.smoke import scaled  # noqa: E402

STEP_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"
ACTIONS: list[dict[str, Any]] = [
    {"kind": "webhook", "url": "https://hooks.example.com/x", "headers": {"X-Team": "sales"}},
    {"kind": "add_tag", "tag": "hot"},
    {
        "kind": "send_email",
        "to": "{{lead.email}}",
        "subject": "Hello {{lead.name}}",
        "body": "Thanks for your interest in our product, {{lead.name}}.",
    },
    {"kind": "move_stage", "pipeline_id": "pl_sales", "stage_id": "st_qualified"},
]


def hundred_step_workflow() -> dict[str, Any]:
    """20 blocks of 5 steps: a condition with one action in each branch, a delay, an action;
    every action kind and every condition shape appear."""
    steps: list[dict[str, Any]] = []
    for block in range(20):

        def act(name: str, index: int, block: int = block) -> dict[str, Any]:
            return {"id": f"{name}_{block}", "type": "action", "action": ACTIONS[index % 4]}

        steps.append(
            {
                "id": f"check_{block}",
                "type": "condition",
                "when": {
                    "any": [
                        {"field": "lead.source", "op": "eq", "value": "web"},
                        {
                            "all": [
                                {"field": "lead.score", "op": "gte", "value": block},
                                {"field": "lead.company", "op": "contains", "value": "Acme"},
                                {"field": "lead.email", "op": "exists"},
                            ]
                        },
                    ]
                },
                "then": [act("hot", block)],
                "else": [act("cold", block + 1)],
            }
        )
        steps.append({"id": f"wait_{block}", "type": "delay", "seconds": 60 * (block + 1)})
        steps.append(act("after", block + 2))
    return {"trigger": {"event": "crm.lead.created"}, "steps": steps}


def best_microseconds(call: Any, iterations: int, repeat: int) -> float:
    return min(timeit.repeat(call, number=iterations, repeat=repeat)) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=scaled(300, smoke=3))
    parser.add_argument("--repeat", type=int, default=scaled(5, smoke=1))
    args = parser.parse_args()

    data = hundred_step_workflow()
    workflow = Workflow.model_validate(data)
    step_count = sum(1 for _ in workflow.iter_steps())
    definition = compile_workflow(workflow, step_function_arn=STEP_FUNCTION_ARN)

    baseline = best_microseconds(lambda: json.dumps(data), args.iterations, args.repeat)
    compile_us = best_microseconds(
        lambda: compile_workflow(workflow, step_function_arn=STEP_FUNCTION_ARN),
        args.iterations,
        args.repeat,
    )
    validate_us = best_microseconds(
        lambda: Workflow.model_validate(data), args.iterations, args.repeat
    )
    dump_definition_us = best_microseconds(
        lambda: json.dumps(definition, sort_keys=True), args.iterations, args.repeat
    )

    print(
        f"workflow: {step_count} steps, {len(json.dumps(data))} B json; "
        f"definition: {len(definition['States'])} states, {len(json.dumps(definition))} B"
    )
    print(f"iterations: {args.iterations} x best of {args.repeat}")
    rows = [
        ("json.dumps(workflow)  [baseline]", baseline),
        ("compile_workflow", compile_us),
        ("Workflow.model_validate", validate_us),
        ("json.dumps(definition, sort_keys)", dump_definition_us),
    ]
    for label, micros in rows:
        print(f"{label:<36} {micros:10.1f} us   x{micros / baseline:6.2f}")


if __name__ == "__main__":
    main()
