import { describe, expect, it } from "vitest";
import { openDeals, runsPerDay, toCsv, type AutomationsReport, type PipelineReport } from "./reports";

describe("report helpers", () => {
  it("adds runs of every automation per day, in date order", () => {
    const day = (date: string, runs: number, failed: number) => ({ date, runs, succeeded: runs - failed, failed, running: 0 });
    const report: AutomationsReport = {
      from: "2026-12-01",
      to: "2026-12-06",
      totals: { runs: 5, succeeded: 4, failed: 1, running: 0 },
      automations: [
        { automation_id: "a", name: "A", runs: 3, succeeded: 2, failed: 1, running: 0, per_day: [day("2026-12-05", 2, 1), day("2026-12-02", 1, 0)] },
        { automation_id: "b", name: "B", runs: 2, succeeded: 2, failed: 0, running: 0, per_day: [day("2026-12-05", 2, 0)] },
      ],
    };
    expect(runsPerDay(report)).toEqual([day("2026-12-02", 1, 0), { date: "2026-12-05", runs: 4, succeeded: 3, failed: 1, running: 0 }]);
  });

  it("counts open deals and never adds currencies together", () => {
    const report = {
      stages: [
        { stage_id: "1", name: "A", kind: "open", deals: 2, values: [{ currency: "BRL", deals: 2, value: "10.50" }] },
        { stage_id: "2", name: "B", kind: "open", deals: 1, values: [{ currency: "USD", deals: 1, value: "3.00" }] },
        { stage_id: "3", name: "Won", kind: "won", deals: 5, values: [{ currency: "BRL", deals: 5, value: "99.00" }] },
      ],
    } as PipelineReport;
    const open = openDeals(report);
    expect(open.deals).toBe(3);
    expect([...open.values]).toEqual([["BRL", 10.5], ["USD", 3]]);
  });

  it("quotes CSV cells and defuses formulas", () => {
    expect(toCsv(["a", "b"], [["x,y", "=SUM(1)"], [null, 'say "hi"']])).toBe(
      'a,b\r\n"x,y",\'=SUM(1)\r\n,"say ""hi"""\r\n',
    );
  });
});
