// The session picker (the catalogue, FastF1's seasons, a name typed in) and the
// opening of a session: the server's real build progress and queue position, then
// everything the replay needs from REST. The URL's `?session=NAME` opens that
// session at once; without one (or when it cannot be opened) the picker shows.

import { api } from "./api";
import { $ } from "./dom";
import { showSeasons } from "./seasons";
import type { LapRow, SessionEvent, SessionMeta } from "./types";

export interface OpenedSession {
  id: string;
  meta: SessionMeta;
  laps: LapRow[];
  events: SessionEvent[]; // by time
  results: Record<string, unknown>[];
}

/**
 * Open the session the URL names and hand it to `start`; without one, or when opening
 * or starting fails, show the picker (with the reason).
 */
export async function pickSession(
  params: URLSearchParams,
  start: (name: string, opened: OpenedSession) => void,
): Promise<void> {
  const name = params.get("session");
  if (!name) return showPicker();
  try {
    start(name, await openSession(name));
  } catch (err) {
    await showPicker(String(err instanceof Error ? err.message : err));
  }
}

async function showPicker(error?: string): Promise<void> {
  const picker = $("#picker");
  picker.hidden = false;
  $("#replay").hidden = true;
  if (error) {
    $(".error", picker).hidden = false;
    $(".error", picker).textContent = error;
  }
  const go = (name: string) => {
    location.search = new URLSearchParams({ session: name }).toString();
  };
  $("form.custom", picker).addEventListener("submit", (e) => {
    e.preventDefault();
    const value = ($("input", picker) as HTMLInputElement).value.trim();
    if (value) go(value);
  });
  try {
    const { sessions, fastf1_seasons } = await api.catalogue();
    showSeasons($(".fastf1", picker), fastf1_seasons, go);
    $(".sessions", picker).replaceChildren(
      ...sessions.map((s) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.textContent = s.title || s.name;
        button.dataset.session = s.name;
        button.title = s.name + (s.cached ? " (ready)" : "");
        button.addEventListener("click", () => go(s.name));
        li.append(button);
        return li;
      }),
    );
  } catch (err) {
    $(".error", picker).hidden = false;
    $(".error", picker).textContent = `Cannot list sessions: ${err}`;
  }
}

/** Open (build if needed) the session, showing the server's real progress. */
async function openSession(name: string): Promise<OpenedSession> {
  const picker = $("#picker");
  picker.hidden = false;
  $(".hint", picker).textContent = `Opening ${name}…`;
  $(".loading", picker).hidden = false;
  let status = await api.open(name);
  while (status.state !== "ready") {
    if (status.state === "failed")
      throw new Error(`${name} failed to load: ${status.error ?? status.message}`);
    $(".fill", picker).style.width = `${Math.round(status.fraction * 100)}%`;
    $(".loading-text", picker).textContent =
      status.state === "queued"
        ? `Queued (position ${status.queue_position ?? "?"})`
        : `${status.message} ${Math.round(status.fraction * 100)}%`;
    await new Promise((r) => setTimeout(r, 300));
    status = await api.status(status.id);
  }
  const [meta, laps, events, results] = await Promise.all([
    api.metadata(status.id),
    api.laps(status.id),
    api.events(status.id),
    api.results(status.id),
  ]);
  picker.hidden = true;
  return {
    id: status.id,
    meta,
    laps: laps.laps,
    events: events.events.sort((a, b) => a.time - b.time),
    results: results.results,
  };
}
