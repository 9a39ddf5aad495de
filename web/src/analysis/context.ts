// What every analysis view reads, built once per session, and the shape of a view.

import type { DriverStyle } from "../driverstyle";
import { countAtOrBefore } from "../search";
import type { Segment } from "../segments";
import type { Driver, SessionEvent } from "../types";
import type { Chart } from "./chart";
import type { Lap, LapClock, StatusPeriod } from "./data";

export interface AnalysisContext {
  drivers: Driver[];
  styles: DriverStyle[];
  /** Each driver's laps by lap number, index for index with `drivers`. */
  byDriver: Lap[][];
  clock: LapClock;
  /** Every completed lap's end, ascending: what the lap-based views' pictures depend on. */
  allEnds: Float64Array;
  periods: StatusPeriod[];
  events: SessionEvent[];
  segments: Segment[];
  /** The race's scheduled laps (the x axis's end), or the laps run. */
  totalLaps: number;
  /** Grid slot by driver code (races). */
  grid: Map<string, number>;
  /** Times of the events the views mark (pit stops, retirements, track status), ascending. */
  markTimes: Float64Array;
}

/** What a lap-based picture depends on at `t`: the lap ends and marked events by then. */
export function changeKey(ctx: AnalysisContext, t: number): string {
  return `${countAtOrBefore(ctx.allEnds, t)}:${countAtOrBefore(ctx.markTimes, t)}`;
}

/**
 * How far past a lap end its point seeks (s): the clock lands on whole frames, and
 * landing just before the end would hide the very point clicked.
 */
export const PAST_END = 0.05;

/** One series (a driver's line, points or bars) as drawn, for the tests. */
export interface DrawnSeries {
  driver: string;
  colour: string;
  /** Lap chart, race trace, lap times: [lap, value]; tyres: [firstLap, lastLap]. */
  points: [number, number][];
  marks?: string[]; // "pit@12", "out@13", "retired@30", "sc@5", …
  extra?: Record<string, unknown>[]; // tyres: the stints; long runs: the runs
}

export interface AnalysisView {
  readonly id: string; // "lapchart"
  readonly label: string; // its tab's text
  /** CSS px tall. */
  height(): number;
  /** What the picture depends on at session time `t`: the same key, the same picture. */
  key(t: number): string;
  /** Draw as of `t` (nothing after it), the focused driver (-1: none) in front. */
  draw(chart: Chart, t: number, focused: number): void;
  /** The "now" cursor's x value at `t` (NaN: the view marks now itself). */
  cursor(t: number): number;
  /** What it drew at `t`, for the end-to-end tests. */
  series(t: number): DrawnSeries[];
  /** Its accessible name at `t`. */
  name(t: number): string;
}

/** A view whose x axis is the lap: its picture changes at lap ends and marks, and its
 * "now" cursor sits at the lap the clock has reached. */
export abstract class ByLapView {
  constructor(protected readonly ctx: AnalysisContext) {}

  key(t: number): string {
    return changeKey(this.ctx, t);
  }

  cursor(t: number): number {
    return this.ctx.clock.lapAt(t);
  }
}

/** Ticks for an axis from `min` to `max`: about `count` round values. */
export function ticks(min: number, max: number, count: number): number[] {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(+v.toFixed(6));
  return out;
}

/** Lap ticks: 1 and every few laps up to `laps`. */
export function lapTicks(laps: number): number[] {
  const step = laps <= 10 ? 1 : laps <= 30 ? 5 : 10;
  const out = [];
  for (let v = step === 1 ? 1 : step; v <= laps; v += step) out.push(v);
  if (out[0] !== 1) out.unshift(1);
  return out;
}
