import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, idempotencyKey, type components } from "@/lib/api/client";
import { unwrap } from "@/lib/api/problem";
import type {
  CrmRecord,
  CustomFieldDefinition,
  ListParams,
  Page,
  RecordKind,
  Tag,
  TimelineItem,
  User,
} from "./types";

const PAGE_SIZE = 100;

type LeadIn = components["schemas"]["LeadIn"];
type ContactIn = components["schemas"]["ContactIn"];
type LeadPatch = components["schemas"]["LeadPatch"];
type ContactPatch = components["schemas"]["ContactPatch"];

function clean<T extends object>(params: T): T {
  return Object.fromEntries(
    Object.entries(params).filter(([, value]) => value !== undefined && value !== ""),
  ) as T;
}

/** One kind's list, page after page (cursor pagination), for the virtualised table. */
export function useRecordList(kind: RecordKind, params: ListParams) {
  return useInfiniteQuery({
    queryKey: [kind, "list", params],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => {
      const query = clean({ ...params, limit: PAGE_SIZE, cursor: pageParam ?? undefined });
      if (kind === "leads") {
        return unwrap<Page<CrmRecord>>(api.GET("/leads", { params: { query } }));
      }
      const { status: _status, ...contactQuery } = query;
      const sort = contactQuery.sort === "score" ? "created_at" : contactQuery.sort;
      return unwrap<Page<CrmRecord>>(
        api.GET("/contacts", { params: { query: { ...contactQuery, sort } } }),
      );
    },
    getNextPageParam: (last) => last.next_cursor,
  });
}

function singular(kind: RecordKind): "lead" | "contact" {
  return kind === "leads" ? "lead" : "contact";
}

export function useRecord(kind: RecordKind, id: string) {
  return useQuery({
    queryKey: [singular(kind), id],
    queryFn: () =>
      kind === "leads"
        ? unwrap<CrmRecord>(api.GET("/leads/{lead_id}", { params: { path: { lead_id: id } } }))
        : unwrap<CrmRecord>(
            api.GET("/contacts/{contact_id}", { params: { path: { contact_id: id } } }),
          ),
  });
}

export function useCreateRecord(kind: RecordKind) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: LeadIn | ContactIn) => {
      const params = { header: { "Idempotency-Key": idempotencyKey() } };
      return kind === "leads"
        ? unwrap<CrmRecord>(api.POST("/leads", { body: body as LeadIn, params }))
        : unwrap<CrmRecord>(api.POST("/contacts", { body: body as ContactIn, params }));
    },
    onSuccess: () => client.invalidateQueries({ queryKey: [kind] }),
  });
}

/** PATCH with If-Match: a record changed by someone else since it was read answers 412. */
export function useUpdateRecord(kind: RecordKind, id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ patch, version }: { patch: LeadPatch | ContactPatch; version: number }) => {
      const header = { "If-Match": `"${version}"` };
      return kind === "leads"
        ? unwrap<CrmRecord>(
            api.PATCH("/leads/{lead_id}", {
              params: { path: { lead_id: id }, header },
              body: patch as LeadPatch,
            }),
          )
        : unwrap<CrmRecord>(
            api.PATCH("/contacts/{contact_id}", {
              params: { path: { contact_id: id }, header },
              body: patch as ContactPatch,
            }),
          );
    },
    onSuccess: (record) => {
      client.setQueryData([singular(kind), id], record);
      void client.invalidateQueries({ queryKey: [kind] });
      void client.invalidateQueries({ queryKey: [singular(kind), id, "timeline"] });
    },
  });
}

export function useTimeline(kind: RecordKind, id: string) {
  return useQuery({
    queryKey: [singular(kind), id, "timeline"],
    queryFn: () =>
      kind === "leads"
        ? unwrap<Page<TimelineItem>>(
            api.GET("/leads/{lead_id}/timeline", { params: { path: { lead_id: id } } }),
          )
        : unwrap<Page<TimelineItem>>(
            api.GET("/contacts/{contact_id}/timeline", { params: { path: { contact_id: id } } }),
          ),
  });
}

export function useAddNote(kind: RecordKind, id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: string) => {
      const header = { "Idempotency-Key": idempotencyKey() };
      return kind === "leads"
        ? unwrap(
            api.POST("/leads/{lead_id}/notes", {
              params: { path: { lead_id: id }, header },
              body: { body },
            }),
          )
        : unwrap(
            api.POST("/contacts/{contact_id}/notes", {
              params: { path: { contact_id: id }, header },
              body: { body },
            }),
          );
    },
    onSuccess: () => client.invalidateQueries({ queryKey: [singular(kind), id, "timeline"] }),
  });
}

export function useUsers() {
  return useQuery({
    queryKey: ["users"],
    queryFn: () => unwrap<Page<User>>(api.GET("/users", { params: { query: { limit: 200 } } })),
    staleTime: 300_000,
    retry: false,
  });
}

export function useTags() {
  return useQuery({
    queryKey: ["tags"],
    queryFn: () => unwrap<{ items: Tag[] }>(api.GET("/tags")),
    staleTime: 60_000,
  });
}

export function useCreateTag() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (name: string) =>
      unwrap<Tag>(
        api.POST("/tags", {
          body: { name },
          params: { header: { "Idempotency-Key": idempotencyKey() } },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ["tags"] }),
  });
}

export function useCustomFields(kind: RecordKind) {
  const entity = singular(kind);
  return useQuery({
    queryKey: ["custom-fields", entity],
    queryFn: () =>
      unwrap<{ items: CustomFieldDefinition[] }>(
        api.GET("/custom-fields", { params: { query: { entity } } }),
      ),
    staleTime: 300_000,
  });
}
