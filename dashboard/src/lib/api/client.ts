import createClient, { type Middleware } from "openapi-fetch";
import { currentAccessToken, endSession, getSessionState, refreshSession } from "@/lib/auth/session";
import type { paths } from "./schema";

// A copy of every authenticated request, to send it again once after a refresh (a 401 means
// the access token was refused: expired early, or the session was revoked).
const replays = new WeakMap<Request, Request>();

const auth: Middleware = {
  async onRequest({ request }) {
    const token = await currentAccessToken();
    if (!token) return request;
    request.headers.set("Authorization", `Bearer ${token}`);
    replays.set(request, request.clone());
    return request;
  },
  async onResponse({ request, response }) {
    const replay = replays.get(request);
    if (response.status !== 401 || !replay) return response;
    if (!(await refreshSession())) return response;
    const state = getSessionState();
    if (state.status !== "signed-in") return response;
    replay.headers.set("Authorization", `Bearer ${state.session.accessToken}`);
    const retried = await fetch(replay);
    if (retried.status === 401) endSession(true);
    return retried;
  },
};

// fetch is looked up per call (not captured at start), so tests can stand in for the network.
export const api = createClient<paths>({
  baseUrl: window.location.origin,
  fetch: (request) => globalThis.fetch(request),
});
api.use(auth);

/** A fresh Idempotency-Key for one user action (a retry of the same action reuses it). */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}

export type { components, paths } from "./schema";
