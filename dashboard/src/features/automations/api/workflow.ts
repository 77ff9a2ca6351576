import type { Edge, Node } from "@xyflow/react";

/** The workflow JSON of the automations API (layers/core/crm/automation/model.py). */
export interface Clause {
  field: string;
  op: string;
  value?: unknown;
}

export type Step =
  | { id: string; type: "condition"; when: { all?: Clause[]; any?: Clause[] }; then: Step[]; else: Step[] }
  | { id: string; type: "delay"; seconds: number }
  | { id: string; type: "action"; action: { kind: string; [key: string]: unknown } };

export interface Workflow {
  trigger: { event: string; [key: string]: unknown };
  steps: Step[];
}

export type StepState = "succeeded" | "failed" | "running" | "skipped" | "not_reached" | "refused" | "taken";

export interface StepNodeData extends Record<string, unknown> {
  step: Step | null;
  label: string;
  kind: "trigger" | Step["type"];
  state?: StepState;
  error?: string;
}

const X_GAP = 240;
const Y_GAP = 110;

/**
 * Lays a workflow out as a graph: steps run top to bottom, a condition's `then` branch goes down
 * its left, `else` its right, and both join the step after the condition.
 */
export function workflowToGraph(workflow: Workflow): { nodes: Node<StepNodeData>[]; edges: Edge[] } {
  const nodes: Node<StepNodeData>[] = [
    {
      id: "trigger",
      type: "step",
      position: { x: 0, y: 0 },
      data: { step: null, kind: "trigger", label: workflow.trigger.event },
    },
  ];
  const edges: Edge[] = [];

  // Lays out `steps` from row `row` at column `x`, linked from `from` (the ends of the previous
  // part); answers the loose ends and the next free row.
  const layout = (steps: Step[], from: { id: string; label?: string }[], x: number, row: number) => {
    let ends = from;
    let y = row;
    for (const step of steps) {
      nodes.push({
        id: step.id,
        type: "step",
        position: { x, y: y * Y_GAP },
        data: { step, kind: step.type, label: stepLabel(step) },
      });
      for (const end of ends) {
        edges.push({ id: `${end.id}->${step.id}`, source: end.id, target: step.id, label: end.label });
      }
      y += 1;
      if (step.type === "condition") {
        const width = X_GAP / 1.2;
        const thenPart = layout(step.then, [{ id: step.id, label: "then" }], x - width, y);
        const elsePart = layout(step.else, [{ id: step.id, label: "else" }], x + width, y);
        ends = [...thenPart.ends, ...elsePart.ends];
        y = Math.max(thenPart.row, elsePart.row);
      } else {
        ends = [{ id: step.id }];
      }
    }
    return { ends, row: y };
  };
  layout(workflow.steps, [{ id: "trigger" }], 0, 1);
  return { nodes, edges };
}

export function stepLabel(step: Step): string {
  switch (step.type) {
    case "condition": {
      const clauses = step.when.all ?? step.when.any ?? [];
      const joiner = step.when.all ? " AND " : " OR ";
      return clauses.map((c) => `${c.field} ${c.op} ${c.value === undefined ? "" : JSON.stringify(c.value)}`.trim()).join(joiner);
    }
    case "delay":
      return `${step.seconds}s`;
    case "action":
      return step.action.kind;
  }
}

/** Every step of a workflow, depth first, with its JSON path (for the API's 422 `loc`). */
export function stepPaths(steps: Step[], prefix: (string | number)[] = ["steps"]): Map<string, Step> {
  const out = new Map<string, Step>();
  steps.forEach((step, index) => {
    const path = [...prefix, index];
    out.set(path.join("."), step);
    if (step.type === "condition") {
      for (const [key, value] of stepPaths(step.then, [...path, "then"])) out.set(key, value);
      for (const [key, value] of stepPaths(step.else, [...path, "else"])) out.set(key, value);
    }
  });
  return out;
}

/**
 * Which step a validation error belongs to: the longest step path that prefixes its `loc`
 * (["body", "workflow", "steps", 0, "then", 1, "seconds"] -> the step at steps.0.then.1).
 */
export function stepOfError(loc: (string | number)[], steps: Step[]): string | null {
  const index = loc.indexOf("steps");
  if (index < 0) return null;
  const rest = loc.slice(index);
  const paths = stepPaths(steps);
  for (let length = rest.length; length > 1; length -= 1) {
    const step = paths.get(rest.slice(0, length).join("."));
    if (step) return step.id;
  }
  return null;
}

/** Where a new step goes: the end of the main sequence, or of a condition's branch. */
export type Target = { condition: null } | { condition: string; branch: "then" | "else" };

function mapSteps(steps: Step[], fn: (step: Step) => Step | null): Step[] {
  const out: Step[] = [];
  for (const step of steps) {
    const mapped = fn(step);
    if (!mapped) continue;
    out.push(
      mapped.type === "condition"
        ? { ...mapped, then: mapSteps(mapped.then, fn), else: mapSteps(mapped.else, fn) }
        : mapped,
    );
  }
  return out;
}

export function addStep(workflow: Workflow, target: Target, step: Step): Workflow {
  if (target.condition === null) return { ...workflow, steps: [...workflow.steps, step] };
  const { condition, branch } = target;
  return {
    ...workflow,
    steps: mapSteps(workflow.steps, (s) =>
      s.id === condition && s.type === "condition" ? { ...s, [branch]: [...s[branch], step] } : s,
    ),
  };
}

export function replaceStep(workflow: Workflow, step: Step): Workflow {
  return { ...workflow, steps: mapSteps(workflow.steps, (s) => (s.id === step.id ? step : s)) };
}

export function removeStep(workflow: Workflow, id: string): Workflow {
  return { ...workflow, steps: mapSteps(workflow.steps, (s) => (s.id === id ? null : s)) };
}

export function findStep(steps: Step[], id: string): Step | undefined {
  return [...stepPaths(steps).values()].find((step) => step.id === id);
}

export function newStep(type: Step["type"], existing: Step[]): Step {
  const ids = new Set([...stepPaths(existing).values()].map((s) => s.id));
  let n = 1;
  while (ids.has(`${type}_${n}`)) n += 1;
  const id = `${type}_${n}`;
  if (type === "condition") return { id, type, when: { all: [{ field: "lead.source", op: "eq", value: "" }] }, then: [], else: [] };
  if (type === "delay") return { id, type, seconds: 3600 };
  return { id, type, action: { kind: "add_tag", tag: "" } };
}
