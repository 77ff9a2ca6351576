import { describe, expect, it } from "vitest";
import { staleQueryKeys } from "./useRealtime";

describe("staleQueryKeys", () => {
  it("refreshes the board and reports when a deal moves", () => {
    expect(staleQueryKeys({ type: "crm.deal.stage_changed", subject: "deals/1" })).toEqual([
      ["board"],
      ["overview"],
      ["reports"],
    ]);
  });

  it("refreshes the lead lists and that lead", () => {
    expect(staleQueryKeys({ type: "crm.lead.updated", subject: "leads/42" })).toContainEqual([
      "lead",
      "42",
    ]);
  });

  it("ignores event types no page shows", () => {
    expect(staleQueryKeys({ type: "pong" })).toEqual([]);
  });
});
