// REST calls (docs/protocol.md §1). Errors carry the server's own explanation.

import type {
  BuildState,
  CatalogueEntry,
  LapRow,
  MiniSectorTable,
  ScheduledSession,
  SessionEvent,
  SessionMeta,
} from "./types";

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
  sessions: ScheduledSession[];
}

/** A REST call the server answered with an error: its HTTP status, its own explanation
 * (`detail`: null when the body is not the API's JSON) and its Retry-After in seconds. */
export class ApiError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
    readonly detail: string | null,
    readonly retryAfter: number | null,
  ) {
    super(`${path}: ${status} ${detail ?? ""}`.trim());
  }
}

// Paths are relative to the page, so the app also works under a proxy's sub-path (`/f1/`).
async function json<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(new URL(path, document.baseURI), init);
  if (!res.ok) {
    let detail: string | null = null;
    try {
      const body = (await res.json()) as { detail?: unknown };
      if (typeof body.detail === "string") detail = body.detail; // not a validation list
    } catch {
      // not JSON (a proxy's page): no explanation to show
    }
    const retryAfter = Number.parseInt(res.headers.get("retry-after") ?? "", 10);
    throw new ApiError(path, res.status, detail, Number.isFinite(retryAfter) ? retryAfter : null);
  }
  return (await res.json()) as T;
}

export const api = {
  catalogue: () =>
    json<{
      sessions: CatalogueEntry[];
      fastf1_seasons: number[];
    }>("api/catalogue"),
  season: (year: number) => json<{ year: number; events: SeasonEvent[] }>(`api/fastf1/${year}`),
  open: (name: string) =>
    json<SessionStatus>("api/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    }),
  /** `waitSeconds`: while it builds, the answer comes when the build ends or after that long. */
  status: (id: string, waitSeconds = 0) =>
    json<SessionStatus>(`api/sessions/${encodeURIComponent(id)}?wait=${waitSeconds}`),
  metadata: (id: string) => json<SessionMeta>(`api/sessions/${encodeURIComponent(id)}/metadata`),
  laps: (id: string) => json<{ laps: LapRow[] }>(`api/sessions/${encodeURIComponent(id)}/laps`),
  minisectors: (id: string) =>
    json<MiniSectorTable>(`api/sessions/${encodeURIComponent(id)}/minisectors`),
  events: (id: string) =>
    json<{ events: SessionEvent[] }>(`api/sessions/${encodeURIComponent(id)}/events`),
  results: (id: string) =>
    json<{ results: Record<string, unknown>[] }>(`api/sessions/${encodeURIComponent(id)}/results`),
  telemetry: (id: string, driver: string, lap: number) =>
    json<Record<string, (number | null)[]>>(
      `api/sessions/${encodeURIComponent(id)}/telemetry/${driver}/${lap}`,
    ),
};
