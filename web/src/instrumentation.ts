// `window.__rr`: the client's state for the end-to-end tests (tests/test_e2e_web.py,
// tests/test_e2e_fidelity.py, tests/e2e_browser.py) and the front-end benchmark
// (src/racereplay/bench/frontend.py), which read these names: keep them and their meaning.
// Values are written where they happen (the loop, the connection); the probes read
// the modules on demand.

import type { AnalysisReport } from "./analysis";
import type { BroadcastProbe } from "./broadcast";
import type { DriverStyle } from "./driverstyle";
import type { TelemetryReport } from "./telemetry";
import type { RoomMessage } from "./types";

type Series = { label: string; stroke: string; dash: number[] };

/** Written by the page as it runs. */
export interface Stats {
  // As of the last panel refresh (a few times a second, while data is at the playhead):
  frame: number;
  sessionTime: number;
  leaderLap: number;
  playing: boolean;
  speed: number;
  order: string[]; // the leaderboard's running order, driver codes
  rate: number; // fps of the last block received
  stalls: number; // animation frames spent playing with no data at the playhead
  stallMs: number;
  bytes: number; // received in blocks
  blocks: number;
  drawn: number; // map frames drawn
  shownTime: number; // the session time the map shows: that of the last frame drawn (every animation frame)
  reconnects: number;
  ghostTime: number; // seconds into the ghosts' lap (NaN without ghosts)
  // The last animation frames: [requestAnimationFrame timestamp, clock frame drawn], while playing.
  clockTrace: [number, number][];
}

export interface PitExitProbe {
  position: number; // 0: no prediction shown
  ahead: string | null;
  behind: string | null;
  loss: number;
  valuesFrame: number;
  row: string;
  marker: { x: number; y: number } | null;
}

/** Read on demand from the modules that own them. */
export interface Probes {
  ready: () => boolean; // the server was put at the viewer's moment
  segment: () => string; // the qualifying / practice part shown ("" in races)
  rateSwitches: () => string[]; // every switch of the auto rate, with its reason
  cars: () => { x: number; y: number }[];
  labels: () => { x: number; y: number; w: number; h: number }[];
  ghosts: () => { x: number; y: number }[];
  rateLog: () => string[];
  drop: () => void; // simulate a dropped link
  styles: () => (DriverStyle & { code: string })[];
  carStyles: () => { colour: string; second: boolean }[];
  telemetrySeries: () => Series[];
  /** The telemetry panel's comparison (telemetry.ts): charts, cut at now, delta, messages. */
  telemetry: () => TelemetryReport;
  ghostSeries: () => Series[][];
  announcements: () => string[]; // the last polite announcements, oldest first
  clockAt: () => { wall: number; frame: number }; // the clock's frame now, at Unix ms `wall`
  room: () => RoomMessage | null; // the watch party's last state while a member
  /** The analysis panel's view shown and what it drew (analysis.ts). */
  analysis: () => AnalysisReport;
  /** The focused driver's pit-exit ghost: prediction, the data frame it is read from, the board's row, the map marker. */
  pitExit: () => PitExitProbe;
  /** The broadcast lock (broadcast.ts): its mode, offset, the video's presented frame, messages. */
  broadcast: () => BroadcastProbe;
}

type Exposed = Stats &
  Omit<Probes, "ready" | "segment" | "rateSwitches"> & {
    readonly ready: boolean;
    readonly segment: string;
    readonly rateSwitches: string[];
    // For the front-end benchmark: main-thread work per animation frame (ms), and the gaps between frames.
    frameWork: number[];
    frameGaps: number[];
  };

declare global {
  interface Window {
    __rr: Exposed;
  }
}

const KEEP = 4000; // entries of frameWork / frameGaps before the older half goes
const TRACE = 600;

export class Instrumentation {
  readonly stats: Stats;
  private frameWork: number[] = [];
  private frameGaps: number[] = [];
  private lastFrame = 0;
  private stallStart = 0;

  constructor(t0: number) {
    this.stats = {
      frame: 0,
      sessionTime: t0,
      leaderLap: 0,
      playing: false,
      speed: 1,
      order: [],
      rate: 0,
      stalls: 0,
      stallMs: 0,
      bytes: 0,
      blocks: 0,
      drawn: 0,
      shownTime: t0,
      reconnects: 0,
      ghostTime: NaN,
      clockTrace: [],
    };
  }

  /** Publish `window.__rr`. */
  expose(probes: Probes): void {
    const { ready, segment, rateSwitches, ...rest } = probes;
    const exposed = Object.assign(this.stats, rest, {
      frameWork: this.frameWork,
      frameGaps: this.frameGaps,
    });
    Object.defineProperties(exposed, {
      ready: { get: ready, enumerable: true },
      segment: { get: segment, enumerable: true },
      rateSwitches: { get: rateSwitches, enumerable: true },
    });
    window.__rr = exposed as Exposed;
  }

  block(bytes: number, rate: number): void {
    this.stats.bytes += bytes;
    this.stats.blocks++;
    this.stats.rate = rate;
  }

  reconnected(): void {
    this.stats.reconnects++;
  }

  /** An animation frame at rAF time `now` shows clock frame `frame`. */
  frameShown(now: number, frame: number, playing: boolean): void {
    if (!playing) return;
    const trace = this.stats.clockTrace;
    trace.push([now, frame]);
    if (trace.length > TRACE) trace.splice(0, TRACE / 2);
  }

  /** Whether the playhead waits for data in this frame; how long it has waited (ms, 0: it does not). */
  stalled(now: number, stalled: boolean): number {
    if (stalled) {
      this.stats.stalls++;
      if (!this.stallStart) this.stallStart = now;
      return now - this.stallStart;
    }
    if (this.stallStart) {
      this.stats.stallMs += now - this.stallStart;
      this.stallStart = 0;
    }
    return 0;
  }

  /** The frame's callback began at `started` (performance.now) for rAF time `now`. */
  frameDone(now: number, started: number): void {
    this.frameWork.push(performance.now() - started);
    if (this.lastFrame) this.frameGaps.push(now - this.lastFrame);
    this.lastFrame = now;
    if (this.frameWork.length > KEEP) this.frameWork.splice(0, KEEP / 2);
    if (this.frameGaps.length > KEEP) this.frameGaps.splice(0, KEEP / 2);
  }
}
