// The header (lap, clock, track status, weather), the race control feed and the
// seek bar's markers: small DOM views updated a few times per second, only on change.
// Times read from the start (lights out / green light): before it the header counts
// down to it and earlier messages show a negative time.

import { formatClock, formatCountdown } from "./laps";
import { lastAtOrBefore } from "./search";
import { TRACK_STATUS, type SessionEvent } from "./types";

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export class Header {
  private weather: SessionEvent[];
  private weatherTimes: Float64Array;

  constructor(private el: HTMLElement, private totalLaps: number | null, private raceStart: number, events: SessionEvent[]) {
    this.weather = events.filter((e) => e.kind === "weather");
    this.weatherTimes = Float64Array.from(this.weather, (e) => e.time);
  }

  update(leaderLap: number, sessionTime: number, trackStatus: number): void {
    const lap = Number.isFinite(leaderLap) && leaderLap > 0 ? String(Math.min(leaderLap, this.totalLaps ?? Infinity)) : "–"; // – : not started
    setText(this.el.querySelector<HTMLElement>(".lap")!, this.totalLaps ? `Lap ${lap} / ${this.totalLaps}` : `Lap ${lap}`);
    const clock = this.el.querySelector<HTMLElement>(".clock")!;
    const sinceStart = sessionTime - (Number.isFinite(this.raceStart) ? this.raceStart : 0);
    const before = Number.isFinite(this.raceStart) && sinceStart < 0;
    setText(clock, before ? `Start in ${formatCountdown(-sinceStart)}` : formatClock(sinceStart));
    clock.classList.toggle("countdown", before);
    const status = TRACK_STATUS[trackStatus] ?? { label: "—", cls: "unknown" };
    const banner = this.el.querySelector<HTMLElement>(".status")!;
    setText(banner, status.label);
    const cls = `status ${status.cls}`;
    if (banner.className !== cls) banner.className = cls;
    const i = lastAtOrBefore(this.weatherTimes, sessionTime);
    const w = i >= 0 ? this.weather[i].data : null;
    const num = (k: string) => (typeof w?.[k] === "number" ? (w[k] as number) : NaN);
    const weather = w
      ? `Air ${num("air_temp").toFixed(1)}° · Track ${num("track_temp").toFixed(1)}° · ${w.rainfall ? "Rain" : "Dry"} · Wind ${num("wind_speed").toFixed(1)} m/s`
      : "";
    setText(this.el.querySelector<HTMLElement>(".weather")!, weather);
  }
}

export class MessageFeed {
  private messages: SessionEvent[];
  private times: Float64Array;
  private shown = -2;

  /** `onPick` receives the session time of a message the user clicks. */
  constructor(
    private el: HTMLElement,
    events: SessionEvent[],
    private raceStart: number,
    onPick: (sessionTime: number) => void,
  ) {
    this.messages = events.filter((e) => e.kind === "message").sort((a, b) => a.time - b.time);
    this.times = Float64Array.from(this.messages, (e) => e.time);
    el.addEventListener("click", (e) => {
      const li = (e.target as HTMLElement).closest("li");
      if (li?.dataset.time) onPick(Number(li.dataset.time));
    });
  }

  update(sessionTime: number): void {
    const last = lastAtOrBefore(this.times, sessionTime);
    if (last === this.shown) return;
    this.shown = last;
    const items = this.messages.slice(Math.max(0, last - 49), last + 1).reverse().map((m) => {
      const li = document.createElement("li");
      const t = document.createElement("time");
      t.textContent = formatClock(m.time - (Number.isFinite(this.raceStart) ? this.raceStart : 0));
      const flag = String(m.data.flag ?? m.data.category ?? "").toLowerCase();
      li.className = flag.replace(/[^a-z]/g, "");
      li.dataset.time = String(m.time);
      li.title = "Replay from here";
      li.append(t, document.createTextNode(String(m.data.message ?? "")));
      return li;
    });
    this.el.replaceChildren(...items);
  }
}

export interface Marker {
  time: number;
  end?: number;
  kind: "sc" | "vsc" | "red" | "pit" | "retirement" | "fastest";
  label: string;
}

/** Seconds shown before an incident a jump lands on, so the user sees it happen. */
export const INCIDENT_LEAD = 5;

/**
 * The marker a jump to the next (`direction` 1) or previous (-1) incident lands on,
 * as seen from `sessionTime`; a one-second margin lets repeated jumps step along.
 */
export function nextIncident(marks: Marker[], sessionTime: number, direction: 1 | -1): Marker | undefined {
  const sorted = [...marks].sort((a, b) => a.time - b.time);
  const start = (m: Marker) => m.time - INCIDENT_LEAD;
  return direction > 0
    ? sorted.find((m) => start(m) > sessionTime + 1)
    : sorted.reverse().find((m) => start(m) < sessionTime - 1);
}

/** Seek bar markers: track status periods, retirements, fastest lap, the focused driver's stops. */
export function markers(events: SessionEvent[], focused: string | null): Marker[] {
  const out: Marker[] = [];
  const status = events.filter((e) => e.kind === "track_status").sort((a, b) => a.time - b.time);
  status.forEach((e, i) => {
    const code = Number(e.data.status);
    const kind = code === 4 ? "sc" : code === 5 ? "red" : code === 6 || code === 7 ? "vsc" : null;
    if (kind) out.push({ time: e.time, end: status[i + 1]?.time ?? e.time, kind, label: TRACK_STATUS[code].label });
  });
  for (const e of events) {
    if (e.kind === "retirement") out.push({ time: e.time, kind: "retirement", label: `${e.driver} retires` });
    if (focused && e.driver === focused && e.kind === "pit_stop") {
      out.push({ time: e.time, kind: "pit", label: `${e.driver} pit stop` });
    }
  }
  const fastest = events.filter((e) => e.kind === "lap" && e.data.overall_best).pop();
  if (fastest) out.push({ time: fastest.time, kind: "fastest", label: `Fastest lap: ${fastest.driver}` });
  return out;
}
