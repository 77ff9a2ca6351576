import { describe, expect, it } from "vitest";
import { stepOfError, workflowToGraph, type Workflow } from "./workflow";

const workflow: Workflow = {
  trigger: { event: "crm.lead.created" },
  steps: [
    {
      id: "is_web",
      type: "condition",
      when: { all: [{ field: "lead.source", op: "eq", value: "web" }] },
      then: [{ id: "tag", type: "action", action: { kind: "add_tag", tag: "vip" } }],
      else: [{ id: "wait", type: "delay", seconds: 60 }],
    },
    { id: "notify", type: "action", action: { kind: "webhook", url: "https://example.com" } },
  ],
};

describe("workflowToGraph", () => {
  it("draws the trigger, every step, and both branches joining the next step", () => {
    const { nodes, edges } = workflowToGraph(workflow);
    expect(nodes.map((n) => n.id)).toEqual(["trigger", "is_web", "tag", "wait", "notify"]);
    expect(edges.map((e) => [e.source, e.target, e.label])).toEqual([
      ["trigger", "is_web", undefined],
      ["is_web", "tag", "then"],
      ["is_web", "wait", "else"],
      ["tag", "notify", undefined],
      ["wait", "notify", undefined],
    ]);
    const x = (id: string) => nodes.find((n) => n.id === id)?.position.x ?? NaN;
    expect(x("tag")).toBeLessThan(x("is_web"));
    expect(x("wait")).toBeGreaterThan(x("is_web"));
  });
});

describe("stepOfError", () => {
  it("finds the step a 422 names, however deep", () => {
    expect(stepOfError(["body", "workflow", "steps", 0, "else", 0, "seconds"], workflow.steps)).toBe("wait");
    expect(stepOfError(["body", "workflow", "steps", 1, "action", "url"], workflow.steps)).toBe("notify");
    expect(stepOfError(["body", "name"], workflow.steps)).toBeNull();
  });
});

describe("editing the draft", () => {
  it("adds into a branch, replaces and removes steps anywhere", async () => {
    const { addStep, removeStep, replaceStep, findStep, newStep } = await import("./workflow");
    const delay = newStep("delay", workflow.steps);
    expect(delay.id).toBe("delay_1");
    let draft = addStep(workflow, { condition: "is_web", branch: "then" }, delay);
    expect(findStep(draft.steps, "delay_1")).toEqual(delay);
    draft = replaceStep(draft, { ...delay, type: "delay", seconds: 5 });
    expect(findStep(draft.steps, "delay_1")).toMatchObject({ seconds: 5 });
    draft = removeStep(draft, "wait");
    expect(findStep(draft.steps, "wait")).toBeUndefined();
    expect(findStep(workflow.steps, "wait")).toBeDefined();
  });
});
