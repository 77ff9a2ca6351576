import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { currentAccessToken } from "@/lib/auth/session";

/** What a message of the WebSocket API says changed (README "Real-time updates"). */
export interface RealtimeMessage {
  type: string;
  subject?: string;
  id?: string;
  data?: Record<string, unknown>;
}

/**
 * The queries an event makes stale. Messages carry identifiers only, so the pages refetch
 * through the REST API, which applies the caller's role.
 */
export function staleQueryKeys(message: RealtimeMessage): string[][] {
  const [, entity] = message.type.split(".");
  const recordId = message.subject?.split("/")[1];
  switch (entity) {
    case "lead":
      return [["leads"], ["overview"], ["reports"], ...(recordId ? [["lead", recordId]] : [])];
    case "contact":
      return [["contacts"], ...(recordId ? [["contact", recordId]] : [])];
    case "deal":
      return [["board"], ["overview"], ["reports"]];
    case "pipeline":
      return [["pipelines"], ["board"]];
    case "automation":
      return [["automations"], ["overview"]];
    default:
      return [];
  }
}

export function applyMessage(client: QueryClient, message: RealtimeMessage): void {
  for (const queryKey of staleQueryKeys(message)) void client.invalidateQueries({ queryKey });
}

function socketUrl(token: string): string {
  const configured = import.meta.env.VITE_WS_URL as string | undefined;
  const base =
    configured ?? `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/ws`;
  return `${base}?token=${encodeURIComponent(token)}`;
}

/** Keeps one WebSocket open while signed in; reconnects with backoff (and a fresh token). */
export function useRealtime(): void {
  const client = useQueryClient();
  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let attempt = 0;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let pingTimer: ReturnType<typeof setInterval> | undefined;

    const connect = async () => {
      const token = await currentAccessToken();
      if (stopped || !token) return;
      socket = new WebSocket(socketUrl(token));
      socket.onopen = () => {
        attempt = 0;
        document.documentElement.dataset.realtime = "open";
        pingTimer = setInterval(() => socket?.send(JSON.stringify({ action: "ping" })), 240_000);
      };
      socket.onmessage = (event) => {
        try {
          applyMessage(client, JSON.parse(String(event.data)) as RealtimeMessage);
        } catch {
          // not JSON: nothing to refresh
        }
      };
      socket.onclose = () => {
        document.documentElement.dataset.realtime = "closed";
        clearInterval(pingTimer);
        if (stopped) return;
        attempt += 1;
        retryTimer = setTimeout(() => void connect(), Math.min(30_000, 500 * 2 ** attempt));
      };
    };
    void connect();
    return () => {
      stopped = true;
      clearTimeout(retryTimer);
      clearInterval(pingTimer);
      socket?.close();
    };
  }, [client]);
}
