import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type components } from "@/lib/api/client";
import { unwrap } from "@/lib/api/problem";
import type { Page } from "@/features/records/api/types";
import type { Workflow } from "./workflow";

export interface Automation {
  id: string;
  name: string;
  status: string;
  version: number;
  trigger: { event: string };
  workflow: Workflow;
  created_at: string;
}

export interface SimulatedStep {
  id: string;
  type: string;
  outcome: {
    result?: boolean;
    branch?: string;
    refused?: boolean;
    reason?: string;
    [key: string]: unknown;
  };
}

export interface Simulation {
  matched: boolean;
  path: SimulatedStep[];
  completed: boolean;
}

export interface Run {
  id: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  event: { id: string; type: string; subject: string | null };
}

export interface RunDetail extends Run {
  error: { error?: string; message?: string } | null;
  steps: { id: string; type: string; state: string; error?: { error?: string; message?: string } | null }[];
}

export function useAutomation(id: string | undefined) {
  return useQuery({
    queryKey: ["automations", id],
    enabled: Boolean(id),
    queryFn: () =>
      unwrap<Automation>(
        api.GET("/automations/{automation_id}", { params: { path: { automation_id: id ?? "" } } }),
      ),
  });
}

export function useCreateAutomation() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; workflow: Workflow }) =>
      unwrap<Automation>(
        // The editor's button publishes: version 1 goes live at once (a draft never fires).
        api.POST("/automations", {
          body: { ...body, publish: true } as components["schemas"]["AutomationIn"],
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ["automations"] }),
  });
}

export function useSimulate(id: string) {
  return useMutation({
    mutationFn: (body: components["schemas"]["SimulateIn"]) =>
      unwrap<Simulation>(
        api.POST("/automations/{automation_id}/simulate", {
          params: { path: { automation_id: id } },
          body,
        }),
      ),
  });
}

export function useRuns(id: string) {
  return useQuery({
    queryKey: ["automations", id, "runs"],
    queryFn: () =>
      unwrap<Page<Run>>(
        api.GET("/automations/{automation_id}/runs", {
          params: { path: { automation_id: id }, query: { limit: 20 } },
        }),
      ),
    refetchInterval: 5000,
  });
}

export function useRun(runId: string | null) {
  return useQuery({
    queryKey: ["automation-runs", runId],
    enabled: Boolean(runId),
    queryFn: () =>
      unwrap<RunDetail>(
        api.GET("/automation-runs/{run_id}", { params: { path: { run_id: runId ?? "" } } }),
      ),
  });
}
