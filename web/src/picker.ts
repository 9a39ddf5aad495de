// The session picker (the catalogue, FastF1's seasons, a name typed in) and the
// opening of a session: the server's real build progress and queue position, then
// everything the replay needs from REST. The URL's `?session=NAME` opens that
// session at once; without one (or when it cannot be opened) the picker shows.
//
//   picker_list.ts    the catalogue, grouped by season and event
//   seasons.ts        FastF1's season schedules
//   picker_errors.ts  what went wrong, readably, with a Retry

import { api, type SessionStatus } from "./api";
import { $ } from "./dom";
import { BuildFailed, clearProblem, describeProblem, showProblem } from "./picker_errors";
import { showCatalogue } from "./picker_list";
import { showSeasons } from "./seasons";
import type { LapRow, SessionEvent, SessionMeta } from "./types";

export interface OpenedSession {
  id: string;
  meta: SessionMeta;
  laps: LapRow[];
  events: SessionEvent[]; // by time
  results: Record<string, unknown>[];
}

type Start = (name: string, opened: OpenedSession) => void;

const POLL_MS = 300;
const CHOOSE = "Choose a session to replay.";

/**
 * Open the session the URL names and hand it to `start`; without one, or when opening
 * or starting fails, show the picker (with what went wrong, and a Retry).
 */
export async function pickSession(params: URLSearchParams, start: Start): Promise<void> {
  const name = params.get("session");
  if (!name) return showPicker();
  await openThenStart(name, start);
}

async function openThenStart(name: string, start: Start): Promise<void> {
  const picker = $("#picker");
  const error = $(".error", picker);
  clearProblem(error);
  const opening = new Opening(picker, name);
  try {
    start(name, await openSession(name, opening));
  } catch (err) {
    opening.clear();
    void showPicker();
    if (opening.cancelled) {
      history.replaceState(null, "", location.pathname); // a reload shows the picker
      $(".hint", picker).textContent =
        `Stopped waiting for ${name}: the server may still finish building it, ` +
        "and then it opens fast.";
      return;
    }
    showProblem(error, describeProblem(err, name), () => void openThenStart(name, start));
  }
}

let listing: Promise<void> | null = null;

/** Show the picker; its list is fetched once. */
function showPicker(): Promise<void> {
  const picker = $("#picker");
  picker.hidden = false;
  $("#replay").hidden = true;
  if (listing === null) {
    $("form.custom", picker).addEventListener("submit", (e) => {
      e.preventDefault();
      const value = ($("input", picker) as HTMLInputElement).value.trim();
      if (value) go(value);
    });
    listing = listSessions(picker);
  }
  return listing;
}

function go(name: string): void {
  location.search = new URLSearchParams({ session: name }).toString();
}

async function listSessions(picker: HTMLElement): Promise<void> {
  try {
    const { sessions, fastf1_seasons } = await api.catalogue();
    showCatalogue($(".sessions", picker), sessions, go);
    showSeasons($(".fastf1", picker), fastf1_seasons, go);
  } catch (err) {
    showProblem($(".error", picker), describeProblem(err, "The session list"), () => {
      listing = listSessions(picker);
    });
  }
}

/** Open (build if needed) the session, showing the server's real progress. */
async function openSession(name: string, opening: Opening): Promise<OpenedSession> {
  let status = await api.open(name);
  while (status.state !== "ready") {
    if (status.state === "failed") throw new BuildFailed(status.error ?? status.message);
    opening.show(status);
    // The server answers when the build ends, or after POLL_MS with its progress.
    status = await api.status(status.id, POLL_MS / 1000);
    opening.check();
  }
  const [meta, laps, events, results] = await Promise.all([
    api.metadata(status.id),
    api.laps(status.id),
    api.events(status.id),
    api.results(status.id),
  ]);
  opening.check();
  opening.clear();
  $("#picker").hidden = true;
  return {
    id: status.id,
    meta,
    laps: laps.laps,
    events: events.events.sort((a, b) => a.time - b.time),
    results: results.results,
  };
}

class Cancelled extends Error {}

/** "Opening NAME…", the progress bar and line, and a Cancel button, while a session
 * opens; `clear` takes them all away again. */
class Opening {
  cancelled = false;
  private readonly loading: HTMLElement;
  private readonly bar: HTMLElement;
  private readonly cancel = document.createElement("button");

  constructor(
    private readonly picker: HTMLElement,
    name: string,
  ) {
    picker.hidden = false;
    $(".hint", picker).textContent = `Opening ${name}…`;
    this.loading = $(".loading", picker);
    this.loading.hidden = false;
    this.bar = $(".bar", this.loading);
    this.bar.setAttribute("role", "progressbar");
    this.bar.setAttribute("aria-label", `Opening ${name}`);
    this.setFraction(0);
    this.cancel.type = "button";
    this.cancel.className = "cancel";
    this.cancel.textContent = "Cancel";
    this.cancel.addEventListener("click", () => {
      this.cancelled = true; // seen when the status in flight (at most POLL_MS) comes back
    });
    this.loading.append(this.cancel);
  }

  show(status: SessionStatus): void {
    this.setFraction(status.fraction);
    $(".loading-text", this.picker).textContent =
      status.state === "queued"
        ? `Queued (position ${status.queue_position ?? "?"})`
        : `${status.message} ${Math.round(status.fraction * 100)}%`;
  }

  /** Throws once the user cancelled. */
  check(): void {
    if (this.cancelled) throw new Cancelled("cancelled");
  }

  clear(): void {
    $(".hint", this.picker).textContent = CHOOSE;
    this.loading.hidden = true;
    this.setFraction(0);
    $(".loading-text", this.picker).textContent = "";
    this.cancel.remove();
  }

  private setFraction(fraction: number): void {
    const percent = Math.round(fraction * 100);
    $(".fill", this.loading).style.width = `${percent}%`;
    this.bar.setAttribute("aria-valuenow", String(percent));
  }
}
