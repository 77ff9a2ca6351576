import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, type components } from "@/lib/api/client";
import { unwrap } from "@/lib/api/problem";
import { useSession } from "@/lib/auth/useSession";
import type { Page } from "@/features/records/api/types";
import type { TenantSettings } from "@/features/tenant/api/tenant";

export interface Usage {
  plan: string;
  usage: Record<string, { used: number; limit: number | null; period: string; resets_at: string | null }>;
}

export interface ApiKey {
  id: string;
  name: string;
  hint: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at?: string | null;
}

export interface AuditEntry {
  id: string;
  occurred_at: string;
  actor: { type: string; id: string | null };
  action: string;
  entity: { type: string; id: string | null };
  ip: string | null;
}

export interface DeadLetter {
  id: string;
  consumer: string;
  event_type: string;
  error: string | null;
  attempts: number;
  dead_lettered_at: string;
  status: string;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  event_types: string[];
  active: boolean;
}

export interface Delivery {
  id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_attempt_at: string | null;
}

export interface Role {
  key: string;
  name: string;
  builtin: boolean;
  permissions: string[];
}

export function useUpdateTenant() {
  const { tenantId } = useSession();
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ patch, version }: { patch: components["schemas"]["TenantSettingsPatchIn"]; version: number }) =>
      unwrap<TenantSettings>(
        api.PATCH("/tenants/{tenant_id}/settings", {
          params: { path: { tenant_id: tenantId }, header: { "If-Match": `"${version}"` } },
          body: patch,
        }),
      ),
    onSuccess: (settings) => client.setQueryData(["tenant", tenantId, "settings"], settings),
  });
}

export function useUsage() {
  const { tenantId } = useSession();
  return useQuery({
    queryKey: ["tenant", tenantId, "usage"],
    queryFn: () => unwrap<Usage>(api.GET("/tenants/{tenant_id}/usage", { params: { path: { tenant_id: tenantId } } })),
  });
}

export function useInvite() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: components["schemas"]["InviteIn"]) =>
      unwrap(api.POST("/users", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["users"] }),
  });
}

export function useRoles() {
  return useQuery({ queryKey: ["roles"], queryFn: () => unwrap<{ items: Role[] }>(api.GET("/roles")) });
}

export function useApiKeys() {
  return useQuery({ queryKey: ["api-keys"], queryFn: () => unwrap<Page<ApiKey>>(api.GET("/api-keys")) });
}

export function useCreateApiKey() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: components["schemas"]["ApiKeyIn"]) =>
      unwrap<ApiKey & { secret: string }>(api.POST("/api-keys", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["api-keys"] }),
  });
}

export function useRevokeApiKey() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/api-keys/{key_id}", { params: { path: { key_id: id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["api-keys"] }),
  });
}

export function useAuditLog(action: string | undefined) {
  return useQuery({
    queryKey: ["audit-logs", action],
    queryFn: () =>
      unwrap<Page<AuditEntry>>(api.GET("/audit-logs", { params: { query: { limit: 100, ...(action ? { action } : {}) } } })),
  });
}

export function useDeadLetters() {
  return useQuery({
    queryKey: ["dead-letters"],
    queryFn: () => unwrap<Page<DeadLetter>>(api.GET("/admin/dead-letters", { params: { query: { limit: 100 } } })),
  });
}

export function useRedrive() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: components["schemas"]["RedriveIn"]) => unwrap(api.POST("/admin/dead-letters/redrive", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["dead-letters"] }),
  });
}

export function useWebhooks() {
  return useQuery({ queryKey: ["webhooks"], queryFn: () => unwrap<Page<WebhookEndpoint>>(api.GET("/webhooks")) });
}

export function useDeliveries(id: string | null) {
  return useQuery({
    queryKey: ["webhooks", id, "deliveries"],
    enabled: Boolean(id),
    queryFn: () =>
      unwrap<Page<Delivery>>(
        api.GET("/webhooks/{endpoint_id}/deliveries", { params: { path: { endpoint_id: id ?? "" } } }),
      ),
  });
}
