import { describe, expect, it } from "vitest";
import { moveOnBoard, type Board, type Deal } from "./board";

const deal: Deal = {
  id: "d1",
  title: "Padaria",
  value: "100.00",
  currency: "BRL",
  owner_id: null,
  pipeline_id: "p",
  stage_id: "s1",
  status: "open",
  lost_reason: null,
  expected_close_date: null,
  version: 3,
};

function column(id: string, deals: Deal[]) {
  return {
    id,
    name: id,
    probability: 10,
    kind: "open" as const,
    position: 0,
    deal_count: deals.length,
    value_by_currency: {},
    deals: { items: deals, next_cursor: null },
  };
}

describe("moveOnBoard", () => {
  it("moves the card to the top of the target column and fixes both counts", () => {
    const board: Board = {
      pipeline: { id: "p", name: "Sales", is_default: true, archived: false, stages: [] },
      stages: [column("s1", [deal]), column("s2", [])],
    };
    const moved = moveOnBoard(board, { deal, toStage: "s2" });
    expect(moved.stages[0]?.deals.items).toEqual([]);
    expect(moved.stages[0]?.deal_count).toBe(0);
    expect(moved.stages[1]?.deals.items[0]).toMatchObject({ id: "d1", stage_id: "s2" });
    expect(moved.stages[1]?.deal_count).toBe(1);
    expect(board.stages[0]?.deals.items).toEqual([deal]);
  });
});
