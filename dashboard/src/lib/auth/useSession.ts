import { useSyncExternalStore } from "react";
import { getSessionState, subscribe, type Session, type SessionState } from "./session";

export function useSessionState(): SessionState {
  return useSyncExternalStore(subscribe, getSessionState, getSessionState);
}

/** The session of a signed-in page (AppLayout renders its children only when there is one). */
export function useSession(): Session {
  const state = useSessionState();
  if (state.status !== "signed-in") throw new Error("no session");
  return state.session;
}
