/**
 * Dates, numbers and money in the tenant's locale, currency and timezone (its settings), not the
 * browser's: a team in São Paulo reads the same figures whatever machine they use. The UI
 * language (pt-BR / en) only picks the words.
 */
export interface TenantFormat {
  locale: string;
  currency: string;
  timezone: string;
}

export const DEFAULT_FORMAT: TenantFormat = {
  locale: "pt-BR",
  currency: "BRL",
  timezone: "America/Sao_Paulo",
};

export function formatMoney(
  value: string | number | null | undefined,
  currency: string,
  format: TenantFormat,
): string {
  if (value === null || value === undefined || value === "") return "—";
  return new Intl.NumberFormat(format.locale, { style: "currency", currency }).format(
    Number(value),
  );
}

export function formatNumber(value: number | null | undefined, format: TenantFormat, digits = 0): string {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(format.locale, {
    maximumFractionDigits: digits,
    minimumFractionDigits: 0,
  }).format(value);
}

export function formatPercent(value: number | null | undefined, format: TenantFormat): string {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(format.locale, { style: "percent", maximumFractionDigits: 1 }).format(
    value,
  );
}

export function formatDateTime(value: string | null | undefined, format: TenantFormat): string {
  if (!value) return "—";
  return new Intl.DateTimeFormat(format.locale, {
    dateStyle: "short",
    timeStyle: "short",
    timeZone: format.timezone,
  }).format(new Date(value));
}

export function formatDate(value: string | null | undefined, format: TenantFormat): string {
  if (!value) return "—";
  // A plain date (2026-12-06) is a calendar day, not an instant: no timezone shift.
  const plain = /^\d{4}-\d{2}-\d{2}$/.test(value);
  return new Intl.DateTimeFormat(format.locale, {
    dateStyle: "medium",
    timeZone: plain ? "UTC" : format.timezone,
  }).format(new Date(plain ? `${value}T00:00:00Z` : value));
}
