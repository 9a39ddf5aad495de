// REST calls (docs/protocol.md §1). Errors carry the server's own explanation.

import type { BuildState, LapRow, SessionEvent, SessionMeta } from "./types";

export interface SessionStatus {
  id: string;
  name: string;
  state: BuildState;
  fraction: number;
  message: string;
  queue_position: number | null;
  error: string | null;
}

export interface SeasonEvent {
  round: number;
  name: string;
  country: string;
  location: string;
  date: string;
  sessions: { name: string; code: string; start_utc: string | null; session: string }[];
}

// Paths are relative to the page, so the app also works under a proxy's sub-path (`/f1/`).
async function json<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(new URL(path, document.baseURI), init);
  if (!res.ok) {
    let detail = res.statusText;
    try {
      detail = ((await res.json()) as { detail?: string }).detail ?? detail;
    } catch {
      // not JSON: keep the status text
    }
    throw new Error(`${path}: ${res.status} ${detail}`);
  }
  return (await res.json()) as T;
}

export const api = {
  catalogue: () =>
    json<{
      sessions: { name: string; title: string; source: string; cached: boolean }[];
      fastf1_seasons: number[];
    }>("api/catalogue"),
  season: (year: number) => json<{ year: number; events: SeasonEvent[] }>(`api/fastf1/${year}`),
  open: (name: string) =>
    json<SessionStatus>("api/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    }),
  status: (id: string) => json<SessionStatus>(`api/sessions/${encodeURIComponent(id)}`),
  metadata: (id: string) => json<SessionMeta>(`api/sessions/${encodeURIComponent(id)}/metadata`),
  laps: (id: string) => json<{ laps: LapRow[] }>(`api/sessions/${encodeURIComponent(id)}/laps`),
  events: (id: string) =>
    json<{ events: SessionEvent[] }>(`api/sessions/${encodeURIComponent(id)}/events`),
  results: (id: string) =>
    json<{ results: Record<string, unknown>[] }>(`api/sessions/${encodeURIComponent(id)}/results`),
  telemetry: (id: string, driver: string, lap: number) =>
    json<Record<string, (number | null)[]>>(
      `api/sessions/${encodeURIComponent(id)}/telemetry/${driver}/${lap}`,
    ),
};
