import { describe, expect, it } from "vitest";
import { can } from "./permissions";

describe("can", () => {
  it("follows the API's matrix for built-in roles", () => {
    expect(can("owner", "webhooks:create")).toBe(true);
    expect(can("seller", "leads:update")).toBe(true);
    expect(can("seller", "leads:delete")).toBe(false);
    expect(can("seller", "automations:update")).toBe(false);
    expect(can("viewer", "deals:update")).toBe(false);
    expect(can("manager", "audit_logs:read")).toBe(false);
  });

  it("leaves custom roles to the API", () => {
    expect(can("custom-role", "leads:delete")).toBe(true);
  });
});
