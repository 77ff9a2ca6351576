import { describe, expect, it } from "vitest";
import { formatDate, formatDateTime, formatMoney, formatPercent } from "./index";

const brazil = { locale: "pt-BR", currency: "BRL", timezone: "America/Sao_Paulo" };
const us = { locale: "en-US", currency: "USD", timezone: "America/New_York" };

describe("tenant formatting", () => {
  it("formats money by the tenant's locale and the amount's currency", () => {
    expect(formatMoney("1500.50", "BRL", brazil).replace(/\s/g, " ")).toBe("R$ 1.500,50");
    expect(formatMoney("1500.50", "USD", us)).toBe("$1,500.50");
    expect(formatMoney(null, "USD", us)).toBe("—");
  });

  it("shows instants in the tenant's timezone", () => {
    // 02:30 UTC is still the previous evening in São Paulo (UTC-3).
    expect(formatDateTime("2026-12-06T02:30:00Z", brazil)).toBe("05/12/2026, 23:30");
    expect(formatDateTime("2026-12-06T02:30:00Z", us)).toBe("12/5/26, 9:30 PM");
  });

  it("keeps calendar dates on their day", () => {
    expect(formatDate("2026-12-06", us)).toBe("Dec 6, 2026");
  });

  it("formats ratios as percentages", () => {
    expect(formatPercent(0.5, brazil)).toBe("50%");
    expect(formatPercent(null, brazil)).toBe("—");
  });
});
