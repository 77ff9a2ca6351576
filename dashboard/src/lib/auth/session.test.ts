import { afterEach, describe, expect, it, vi } from "vitest";
import { endSession, getSessionState, refreshSession, startSession, storedRefreshToken } from "./session";

function jwt(claims: Record<string, unknown>): string {
  const part = (value: object) => btoa(JSON.stringify(value)).replace(/=+$/, "");
  return `${part({ alg: "EdDSA" })}.${part(claims)}.signature`;
}

const token = jwt({ sub: "user-1", tenant_id: "tenant-1", role: "seller" });

afterEach(() => {
  vi.unstubAllGlobals();
  endSession();
});

describe("session", () => {
  it("keeps the access token in memory and the refresh token in sessionStorage", () => {
    startSession({ access_token: token, expires_in: 900, refresh_token: "crm_rt_1" });
    const state = getSessionState();
    expect(state.status === "signed-in" && state.session).toMatchObject({
      tenantId: "tenant-1",
      userId: "user-1",
      role: "seller",
    });
    expect(storedRefreshToken()).toBe("crm_rt_1");
    expect(JSON.stringify({ ...sessionStorage })).not.toContain(token);
  });

  it("rotates: concurrent refreshes share one request and keep the new token", async () => {
    startSession({ access_token: token, expires_in: 900, refresh_token: "crm_rt_1" });
    const fetch = vi.fn(async () =>
      new Response(JSON.stringify({ access_token: token, expires_in: 900, refresh_token: "crm_rt_2" }), {
        status: 200,
      }),
    );
    vi.stubGlobal("fetch", fetch);
    const results = await Promise.all([refreshSession(), refreshSession()]);
    expect(results).toEqual([true, true]);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(storedRefreshToken()).toBe("crm_rt_2");
  });

  it("a refused refresh ends the session as expired", async () => {
    startSession({ access_token: token, expires_in: 900, refresh_token: "crm_rt_1" });
    vi.stubGlobal("fetch", vi.fn(async () => new Response("{}", { status: 401 })));
    expect(await refreshSession()).toBe(false);
    expect(getSessionState()).toEqual({ status: "anonymous", expired: true });
    expect(storedRefreshToken()).toBeNull();
  });
});
