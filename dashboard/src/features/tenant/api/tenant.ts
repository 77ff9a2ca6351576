import { useQuery } from "@tanstack/react-query";
import { api } from "@/lib/api/client";
import { unwrap } from "@/lib/api/problem";
import { useSession } from "@/lib/auth/useSession";
import { DEFAULT_FORMAT, type TenantFormat } from "@/lib/format";

export interface TenantSettings {
  id: string;
  name: string;
  slug: string;
  plan: string;
  timezone: string;
  currency: string;
  locale: string;
  require_mfa: boolean;
  week_starts_on: string;
  fiscal_year_start_month: number;
  version: number;
}

export function useTenantSettings() {
  const { tenantId } = useSession();
  return useQuery({
    queryKey: ["tenant", tenantId, "settings"],
    queryFn: () =>
      unwrap<TenantSettings>(
        api.GET("/tenants/{tenant_id}/settings", { params: { path: { tenant_id: tenantId } } }),
      ),
    staleTime: 300_000,
  });
}

/** The tenant's locale, currency and timezone for formatting (defaults while loading). */
export function useTenantFormat(): TenantFormat {
  const { data } = useTenantSettings();
  return data ? { locale: data.locale, currency: data.currency, timezone: data.timezone } : DEFAULT_FORMAT;
}
