/**
 * The signed-in session.
 *
 * The access token (15 minutes) lives only in memory: no script outside this module can read it
 * from storage, and a reload gets a fresh one from the refresh token.
 *
 * The refresh token: the API returns it in the JSON body of /auth/login and /auth/refresh and
 * takes it back in the body (no cookie is set), so an httpOnly cookie would need a change of
 * the auth function. It is kept in sessionStorage: it survives a reload of this tab, dies with
 * the tab, is never sent automatically (no CSRF), and is not shared with other tabs. Against
 * script injection it is weaker than a cookie; the server's rotation with reuse detection
 * limits the damage (a stolen token used once ends the whole session family on the next
 * refresh). See docs/dashboard.md.
 */

export interface LoginAnswer {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  tenant_id?: string;
  user_id?: string;
  mfa_enrolment_required?: boolean;
}

export interface Session {
  accessToken: string;
  expiresAt: number;
  tenantId: string;
  userId: string;
  role: string;
}

export type SessionState =
  | { status: "anonymous"; expired: boolean }
  | { status: "restoring" }
  | { status: "signed-in"; session: Session };

const REFRESH_KEY = "crm.refresh_token";
const REFRESH_MARGIN_MS = 30_000;

let state: SessionState = { status: "anonymous", expired: false };
const listeners = new Set<() => void>();
let refreshing: Promise<boolean> | null = null;

function emit(next: SessionState): void {
  state = next;
  for (const listener of listeners) listener();
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function getSessionState(): SessionState {
  return state;
}

function claims(token: string): Record<string, unknown> {
  const payload = token.split(".")[1] ?? "";
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export function startSession(answer: LoginAnswer): Session {
  // /auth/refresh answers only the tokens: who and where come from the access token's claims.
  const claimed = claims(answer.access_token);
  const session: Session = {
    accessToken: answer.access_token,
    expiresAt: Date.now() + answer.expires_in * 1000,
    tenantId: answer.tenant_id ?? String(claimed.tenant_id ?? ""),
    userId: answer.user_id ?? String(claimed.sub ?? ""),
    role: String(claimed.role ?? ""),
  };
  sessionStorage.setItem(REFRESH_KEY, answer.refresh_token);
  emit({ status: "signed-in", session });
  return session;
}

export function endSession(expired = false): void {
  sessionStorage.removeItem(REFRESH_KEY);
  emit({ status: "anonymous", expired });
}

export function storedRefreshToken(): string | null {
  return sessionStorage.getItem(REFRESH_KEY);
}

/** The access token to send now, refreshed first when it is about to expire. */
export async function currentAccessToken(): Promise<string | null> {
  if (state.status !== "signed-in") return null;
  if (state.session.expiresAt - Date.now() < REFRESH_MARGIN_MS) {
    const ok = await refreshSession();
    return ok && state.status === "signed-in" ? state.session.accessToken : null;
  }
  return state.session.accessToken;
}

/**
 * Trades the refresh token for a new pair (the old one is used up: rotation). Concurrent
 * callers share one request, since a second use of the same token would look like a reuse
 * and end the session.
 */
export function refreshSession(): Promise<boolean> {
  if (refreshing) return refreshing;
  const token = storedRefreshToken();
  if (!token) {
    if (state.status !== "anonymous") endSession(true);
    return Promise.resolve(false);
  }
  refreshing = (async () => {
    try {
      const response = await fetch("/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: token }),
      });
      if (!response.ok) {
        endSession(state.status === "signed-in" || state.status === "restoring");
        return false;
      }
      startSession((await response.json()) as LoginAnswer);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** On load: a refresh token left by this tab restores the session. */
export async function restoreSession(): Promise<void> {
  if (state.status !== "anonymous" || !storedRefreshToken()) return;
  emit({ status: "restoring" });
  const ok = await refreshSession();
  if (!ok && getSessionState().status === "restoring") emit({ status: "anonymous", expired: false });
}
