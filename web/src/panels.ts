// The header (lap, clock, track status, weather, the link), the race control feed and
// the seek bar's markers: small DOM views updated a few times per second, only on change.
// Times read from the start (lights out / green light): before it the header counts
// down to it and earlier messages show a negative time. The feed's messages and the
// markers are buttons, reached with Tab and moved along with the arrow keys.

import { formatClock, formatCountdown } from "./laps";
import { roving, setTabStop } from "./roving";
import { lastAtOrBefore } from "./search";
import { TRACK_STATUS, type SessionEvent } from "./types";

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** "Lap 3 / 58" (`of`: " / ", or " of " spoken); "Lap –" before the start. */
export function lapText(leaderLap: number, totalLaps: number | null, of: string): string {
  const lap =
    Number.isFinite(leaderLap) && leaderLap > 0
      ? String(Math.min(leaderLap, totalLaps ?? Infinity))
      : "–"; // – : not started
  return totalLaps ? `Lap ${lap}${of}${totalLaps}` : `Lap ${lap}`;
}

/** The track status's name ("GREEN", "SAFETY CAR"), "—" for a code without one. */
export function trackStatusOf(code: number): { label: string; cls: string } {
  return TRACK_STATUS[code] ?? { label: "—", cls: "unknown" };
}

export class Header {
  private weather: SessionEvent[];
  private weatherTimes: Float64Array;

  constructor(
    private el: HTMLElement,
    private totalLaps: number | null,
    private raceStart: number,
    events: SessionEvent[],
  ) {
    this.weather = events.filter((e) => e.kind === "weather");
    this.weatherTimes = Float64Array.from(this.weather, (e) => e.time);
  }

  private beforeStart(sessionTime: number): boolean {
    return Number.isFinite(this.raceStart) && sessionTime < this.raceStart;
  }

  /** The clock at `sessionTime` as the header shows it: "1:02:03", or "Start in 0:42". */
  clockText(sessionTime: number): string {
    const sinceStart = sessionTime - (Number.isFinite(this.raceStart) ? this.raceStart : 0);
    return this.beforeStart(sessionTime)
      ? `Start in ${formatCountdown(-sinceStart)}`
      : formatClock(sinceStart);
  }

  update(leaderLap: number, sessionTime: number, trackStatus: number): void {
    setText(this.el.querySelector<HTMLElement>(".lap")!, lapText(leaderLap, this.totalLaps, " / "));
    const clock = this.el.querySelector<HTMLElement>(".clock")!;
    setText(clock, this.clockText(sessionTime));
    clock.classList.toggle("countdown", this.beforeStart(sessionTime));
    const status = trackStatusOf(trackStatus);
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
    roving(el, () => this.buttons(), "vertical");
  }

  private buttons(): HTMLButtonElement[] {
    return [...this.el.querySelectorAll("button")];
  }

  update(sessionTime: number): void {
    const last = lastAtOrBefore(this.times, sessionTime);
    if (last === this.shown) return;
    this.shown = last;
    // The list is rebuilt. With the focus in it, the focus stays on its message; else
    // Tab enters the list at the newest message.
    const active = document.activeElement;
    const hadFocus = active instanceof HTMLElement && this.el.contains(active);
    const stop = hadFocus ? active.closest("li")?.dataset.time : undefined;
    const items = this.messages
      .slice(Math.max(0, last - 49), last + 1)
      .reverse()
      .map((m) => {
        const li = document.createElement("li");
        const t = document.createElement("time");
        t.textContent = formatClock(
          m.time - (Number.isFinite(this.raceStart) ? this.raceStart : 0),
        );
        const flag = String(m.data.flag ?? m.data.category ?? "").toLowerCase();
        li.className = flag.replace(/[^a-z]/g, "");
        li.dataset.time = String(m.time);
        const button = document.createElement("button");
        button.title = "Replay from here";
        button.append(t, document.createTextNode(` ${String(m.data.message ?? "")}`));
        li.append(button);
        return li;
      });
    this.el.replaceChildren(...items);
    const buttons = this.buttons();
    const again = buttons.find((b) => b.closest("li")?.dataset.time === stop);
    setTabStop(buttons, again);
    if (hadFocus) (again ?? buttons[0])?.focus();
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
export function nextIncident(
  marks: Marker[],
  sessionTime: number,
  direction: 1 | -1,
): Marker | undefined {
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
    if (kind)
      out.push({
        time: e.time,
        end: status[i + 1]?.time ?? e.time,
        kind,
        label: TRACK_STATUS[code].label,
      });
  });
  for (const e of events) {
    if (e.kind === "retirement")
      out.push({ time: e.time, kind: "retirement", label: `${e.driver} retires` });
    if (focused && e.driver === focused && e.kind === "pit_stop") {
      out.push({ time: e.time, kind: "pit", label: `${e.driver} pit stop` });
    }
  }
  const fastest = events.filter((e) => e.kind === "lap" && e.data.overall_best).pop();
  if (fastest)
    out.push({ time: fastest.time, kind: "fastest", label: `Fastest lap: ${fastest.driver}` });
  return out;
}

/**
 * The seek bar's markers; a click, Enter or Space on one (or N / P) lands `INCIDENT_LEAD`
 * seconds before it. A toolbar: Tab reaches it, ← → move along the markers by time.
 */
export class SeekMarks {
  private marks: Marker[] = [];

  /** `onPick` receives the session time to seek to; `raceStart` is where times read from. */
  constructor(
    private el: HTMLElement,
    private events: SessionEvent[],
    private t0: number,
    private duration: number,
    private raceStart: number,
    private onPick: (sessionTime: number) => void,
  ) {
    el.setAttribute("role", "toolbar");
    el.setAttribute("aria-label", "Incidents (← → move, Enter jumps)");
    roving(el, () => this.buttons(), "horizontal");
  }

  private buttons(): HTMLButtonElement[] {
    return [...this.el.querySelectorAll("button")]; // by time, as `show` writes them
  }

  /** Draw the markers, the pit stops of the focused driver (`code`) among them. */
  show(code: string | null): void {
    const pct = (t: number) => `${(((t - this.t0) / this.duration) * 100).toFixed(3)}%`;
    this.marks = markers(this.events, code).sort((a, b) => a.time - b.time);
    this.el.replaceChildren(
      ...this.marks.map((m) => {
        const el = document.createElement("button");
        el.className = `mark ${m.kind}`;
        el.title = `${m.label} (click or N / P to jump)`;
        el.setAttribute("aria-label", `${m.label} at ${formatClock(m.time - this.raceStart)}`);
        el.dataset.time = String(m.time);
        el.addEventListener("click", () => this.onPick(m.time - INCIDENT_LEAD));
        el.style.left = pct(m.time);
        if (m.end !== undefined) el.style.width = `calc(${pct(m.end)} - ${pct(m.time)})`;
        return el;
      }),
    );
    setTabStop(this.buttons());
  }

  /** Where a jump to the next (1) or previous (-1) incident from `sessionTime` lands, or null. */
  jumpTarget(sessionTime: number, direction: 1 | -1): number | null {
    const mark = nextIncident(this.marks, sessionTime, direction);
    return mark ? mark.time - INCIDENT_LEAD : null;
  }
}

/** What the link indicator shows. */
export interface LinkReport {
  rate: number; // fps of the blocks arriving
  auto: boolean;
  linkBytesPerSecond: number; // measured throughput (NaN before a sample)
  aheadSeconds: number; // wall seconds of data buffered ahead of the playhead
  lastSwitch: string; // the last rate switch and its reason, or ""
}

const RECEIVED_WINDOW_MS = 10_000;

/** The header's link indicator: data rate, bytes received, measured link, buffer ahead. */
export class NetStatus {
  private received: { at: number; bytes: number }[] = [];

  constructor(private el: HTMLElement) {}

  up(): void {
    this.el.classList.remove("down");
  }

  /** `retryInMs` null: the connection is given up. */
  down(code: number, reason: string, retryInMs: number | null): void {
    this.el.classList.add("down");
    this.el.textContent = retryInMs === null ? `disconnected: ${reason || code}` : "reconnecting…";
  }

  receive(bytes: number, now: number): void {
    this.received.push({ at: now, bytes });
    this.forget(now);
  }

  private forget(now: number): void {
    while (this.received.length && this.received[0].at < now - RECEIVED_WINDOW_MS)
      this.received.shift();
  }

  show(now: number, r: LinkReport): void {
    this.forget(now);
    const kbps =
      (this.received.reduce((a, x) => a + x.bytes, 0) * 8) / (RECEIVED_WINDOW_MS / 1000) / 1000;
    const link = (r.linkBytesPerSecond * 8) / 1000;
    const linkText = !Number.isFinite(link)
      ? "?"
      : link >= 10_000
        ? `${(link / 1000).toFixed(0)} Mbit/s`
        : `${link.toFixed(0)} kbit/s`;
    const text = `${r.rate} fps${r.auto ? " (auto)" : ""} · ${kbps.toFixed(0)} kbit/s · link ${linkText} · ${r.aheadSeconds.toFixed(1)} s`;
    setText(this.el, text);
    const title = `data rate and buffer${r.lastSwitch ? `; last switch: ${r.lastSwitch}` : ""}`;
    if (this.el.title !== title) this.el.title = title;
  }
}
