import { useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api/client";
import { unwrap } from "@/lib/api/problem";

export interface LeadsReport {
  total: number;
  by_status: Record<string, number>;
  average_days_to_convert: number | null;
}

export interface MoneyCount {
  currency: string;
  deals: number;
  value: string;
}

export interface PipelineReport {
  pipeline_id: string;
  name: string;
  deals: number;
  stages: { stage_id: string; name: string; kind: string; deals: number; values: MoneyCount[] }[];
  won: { deals: number; values: MoneyCount[] };
  lost: { deals: number; values: MoneyCount[] };
  conversion_rate: number | null;
  average_days_to_close: number | null;
  created_per_month: { month: string; deals: number }[];
}

export interface PipelinesReport {
  from: string;
  to: string;
  pipelines: PipelineReport[];
}

export interface RunCounts {
  runs: number;
  succeeded: number;
  failed: number;
  running: number;
}

export interface AutomationsReport {
  from: string;
  to: string;
  totals: RunCounts;
  automations: (RunCounts & {
    automation_id: string;
    name: string;
    per_day: (RunCounts & { date: string })[];
  })[];
}

export interface Period {
  from?: string;
  to?: string;
}

export function useLeadsReport() {
  return useQuery({
    queryKey: ["reports", "leads"],
    queryFn: () => unwrap<LeadsReport>(api.GET("/reports/leads")),
  });
}

export function usePipelinesReport(period: Period) {
  return useQuery({
    queryKey: ["reports", "pipelines", period],
    queryFn: () =>
      unwrap<PipelinesReport>(api.GET("/reports/pipelines", { params: { query: period } })),
  });
}

export function useAutomationsReport(period: Period) {
  return useQuery({
    queryKey: ["reports", "automations", period],
    queryFn: () =>
      unwrap<AutomationsReport>(api.GET("/reports/automations", { params: { query: period } })),
  });
}

/** Runs per UTC day over all automations, in date order. */
export function runsPerDay(report: AutomationsReport): (RunCounts & { date: string })[] {
  const days = new Map<string, RunCounts & { date: string }>();
  for (const automation of report.automations) {
    for (const day of automation.per_day) {
      const sum = days.get(day.date) ?? { date: day.date, runs: 0, succeeded: 0, failed: 0, running: 0 };
      sum.runs += day.runs;
      sum.succeeded += day.succeeded;
      sum.failed += day.failed;
      sum.running += day.running;
      days.set(day.date, sum);
    }
  }
  return [...days.values()].sort((a, b) => a.date.localeCompare(b.date));
}

/** Open deals of a pipeline report: count and value per currency over its open stages. */
export function openDeals(report: PipelineReport): { deals: number; values: Map<string, number> } {
  const values = new Map<string, number>();
  let deals = 0;
  for (const stage of report.stages.filter((s) => s.kind === "open")) {
    deals += stage.deals;
    for (const value of stage.values) {
      values.set(value.currency, (values.get(value.currency) ?? 0) + Number(value.value));
    }
  }
  return { deals, values };
}

/** A table as CSV (RFC 4180 quoting; cells that a spreadsheet would run as formulas quoted). */
export function toCsv(header: string[], rows: (string | number | null)[][]): string {
  const cell = (value: string | number | null) => {
    let text = value === null ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

export function downloadCsv(name: string, csv: string): void {
  const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  URL.revokeObjectURL(url);
}
