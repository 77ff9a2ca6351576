import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, type components } from "@/lib/api/client";
import { ApiError, unwrap } from "@/lib/api/problem";

export interface Stage {
  id: string;
  name: string;
  probability: number;
  kind: "open" | "won" | "lost";
  position: number;
}

export interface Pipeline {
  id: string;
  name: string;
  is_default: boolean;
  archived: boolean;
  stages: Stage[];
}

export interface Deal {
  id: string;
  title: string;
  value: string | null;
  currency: string;
  owner_id: string | null;
  pipeline_id: string;
  stage_id: string;
  status: string;
  lost_reason: string | null;
  expected_close_date: string | null;
  version: number;
}

export interface BoardColumn extends Stage {
  deal_count: number;
  value_by_currency: Record<string, string>;
  deals: { items: Deal[]; next_cursor: string | null };
}

export interface Board {
  pipeline: Pipeline;
  stages: BoardColumn[];
}

export function usePipelines() {
  return useQuery({
    queryKey: ["pipelines"],
    queryFn: () => unwrap<{ items: Pipeline[] }>(api.GET("/pipelines")),
  });
}

export function useBoard(pipelineId: string | undefined) {
  return useQuery({
    queryKey: ["board", pipelineId],
    enabled: Boolean(pipelineId),
    queryFn: () =>
      unwrap<Board>(
        api.GET("/pipelines/{pipeline_id}/board", {
          params: { path: { pipeline_id: pipelineId ?? "" }, query: { limit: 100 } },
        }),
      ),
  });
}

export interface Move {
  deal: Deal;
  toStage: string;
  lostReason?: string;
}

/** The board with one deal moved to another column (counts and totals follow on refetch). */
export function moveOnBoard(board: Board, move: Move): Board {
  return {
    ...board,
    stages: board.stages.map((column) => {
      const without = column.deals.items.filter((deal) => deal.id !== move.deal.id);
      const removed = without.length !== column.deals.items.length;
      if (column.id === move.toStage) {
        return {
          ...column,
          deal_count: column.deal_count + 1,
          deals: { ...column.deals, items: [{ ...move.deal, stage_id: move.toStage }, ...without] },
        };
      }
      return removed
        ? { ...column, deal_count: column.deal_count - 1, deals: { ...column.deals, items: without } }
        : column;
    }),
  };
}

/**
 * A drop: the card moves at once (optimistic); the PATCH carries If-Match with the version the
 * card was drawn from. A 412 (someone moved or changed the deal meanwhile) puts the board back
 * and refetches it, so the other person's move shows.
 */
export function useMoveDeal(pipelineId: string | undefined) {
  const client = useQueryClient();
  const key = ["board", pipelineId];
  return useMutation({
    mutationFn: (move: Move) =>
      unwrap<Deal>(
        api.PATCH("/deals/{deal_id}", {
          params: { path: { deal_id: move.deal.id }, header: { "If-Match": `"${move.deal.version}"` } },
          body: { stage_id: move.toStage, ...(move.lostReason ? { lost_reason: move.lostReason } : {}) },
        }),
      ),
    onMutate: async (move) => {
      await client.cancelQueries({ queryKey: key });
      const before = client.getQueryData<Board>(key);
      if (before) client.setQueryData(key, moveOnBoard(before, move));
      return { before };
    },
    onError: (_error, _move, context) => {
      if (context?.before) client.setQueryData(key, context.before);
    },
    onSettled: () => client.invalidateQueries({ queryKey: key }),
  });
}

export function isConflict(error: unknown): boolean {
  return error instanceof ApiError && error.status === 412;
}

export function useCreateDeal(pipelineId: string | undefined) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: components["schemas"]["DealIn"]) =>
      unwrap<Deal>(
        api.POST("/deals", {
          body: { ...body, pipeline_id: pipelineId },
          params: { header: { "Idempotency-Key": idempotencyKey() } },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ["board", pipelineId] }),
  });
}
