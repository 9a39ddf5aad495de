// Pure helpers of the telemetry panel (telemetry.ts): one lap of the lap-telemetry
// endpoint made monotone in distance, its channels resampled onto a distance grid,
// and the time delta between two laps at equal lap distance. No DOM, no uPlot.

import { lastAtOrBefore } from "./search";

export const CHANNELS = ["speed", "throttle", "brake", "gear", "drs"] as const;
export type Channel = (typeof CHANNELS)[number];

/** Channels that hold their value between samples (a gear is never 3.5). */
const HELD: ReadonlySet<Channel> = new Set<Channel>(["brake", "gear", "drs"]);

/** Two samples further apart than this are a gap in the data, not a straight line. */
export const MAX_GAP_M = 60;

/** One lap of one driver, in metres and seconds from the lap's first frame. */
export interface LapTrace {
  code: string;
  lap: number;
  /** Race distance (m) of the lap's first frame: the car's lap distance is `distance - start`. */
  start: number;
  /** Lap distance (m), strictly increasing: the first time each distance is reached. */
  distance: Float64Array;
  /** Seconds since the lap's first frame, at each `distance`. */
  lapTime: Float64Array;
  /** Session time (s) at each `distance`. */
  time: Float64Array;
  /** Each channel at each `distance` (NaN: missing). */
  values: Record<Channel, Float64Array>;
  /** Channels with at least one value in this lap. */
  present: Set<Channel>;
}

type Raw = Record<string, (number | null)[] | number | string | undefined>;

const num = (v: number | null | undefined): number => (typeof v === "number" ? v : NaN);

/**
 * The endpoint's lap (`GET api/sessions/{id}/telemetry/{driver}/{lap}`) as a trace, or null
 * when it has fewer than two samples with a distance. Samples whose distance does not
 * exceed the last kept one (a car standing in its box, a repeated sample) are dropped, so
 * that time and every channel are single-valued functions of distance, as interpolation needs.
 */
export function toLapTrace(code: string, lap: number, raw: Raw): LapTrace | null {
  const column = (name: string): (number | null)[] => {
    const c = raw[name];
    return Array.isArray(c) ? c : [];
  };
  const distance = column("distance");
  const lapTime = column("lap_time");
  const time = column("time");
  const channels = CHANNELS.map(column);
  const keep: number[] = [];
  let last = -Infinity;
  for (let i = 0; i < distance.length; i++) {
    const d = num(distance[i]);
    if (d > last && Number.isFinite(num(lapTime[i]))) {
      keep.push(i);
      last = d;
    }
  }
  if (keep.length < 2) return null;
  const start = num(distance[keep[0]]);
  const pick = (c: (number | null)[], off = 0) => Float64Array.from(keep, (i) => num(c[i]) - off);
  const values = {} as Record<Channel, Float64Array>;
  const present = new Set<Channel>();
  CHANNELS.forEach((name, k) => {
    values[name] = pick(channels[k]);
    if (values[name].some(Number.isFinite)) present.add(name);
  });
  return {
    code,
    lap,
    start,
    distance: pick(distance, start),
    lapTime: pick(lapTime),
    time: pick(time),
    values,
    present,
  };
}

/** The last lap distance of `trace` (m). */
export function lapLength(trace: LapTrace): number {
  return trace.distance[trace.distance.length - 1];
}

/** `0, step, 2 step, …` up to `length` (m). */
export function distanceGrid(length: number, step: number): Float64Array {
  const n = Math.max(2, Math.floor(length / step) + 1);
  return Float64Array.from({ length: n }, (_, i) => i * step);
}

/**
 * Linear interpolation of `ys` at `x` on the strictly increasing `xs` (as numpy's interp,
 * but NaN outside `xs` and across a gap wider than `maxGap`, in `xs`'s unit).
 */
export function interpAt(
  xs: Float64Array,
  ys: Float64Array,
  x: number,
  maxGap: number = MAX_GAP_M,
): number {
  const i = lastAtOrBefore(xs, x);
  if (i < 0 || !Number.isFinite(x)) return NaN;
  if (xs[i] === x) return ys[i];
  if (i >= xs.length - 1 || xs[i + 1] - xs[i] > maxGap) return NaN;
  return ys[i] + ((ys[i + 1] - ys[i]) * (x - xs[i])) / (xs[i + 1] - xs[i]);
}

/** `trace`'s channel on `grid`: interpolated, or held for discrete channels; null where missing. */
export function resample(trace: LapTrace, channel: Channel, grid: Float64Array): (number | null)[] {
  const xs = trace.distance;
  const ys = trace.values[channel];
  const held = HELD.has(channel);
  const out: (number | null)[] = new Array(grid.length);
  let i = 0; // the last sample at or before the grid point: both ascend, one sweep
  for (let g = 0; g < grid.length; g++) {
    const x = grid[g];
    while (i + 1 < xs.length && xs[i + 1] <= x) i++;
    let v = NaN;
    if (xs[i] <= x && x <= xs[xs.length - 1]) {
      if (xs[i] === x) v = ys[i];
      else if (xs[i + 1] - xs[i] <= MAX_GAP_M)
        v = held ? ys[i] : ys[i] + ((ys[i + 1] - ys[i]) * (x - xs[i])) / (xs[i + 1] - xs[i]);
    }
    out[g] = Number.isFinite(v) ? v : null;
  }
  return out;
}

/** Seconds `current` is behind `reference` at lap distance `d` (positive: slower); NaN where either has no time. */
export function deltaAt(current: LapTrace, reference: LapTrace, d: number): number {
  return (
    interpAt(current.distance, current.lapTime, d) -
    interpAt(reference.distance, reference.lapTime, d)
  );
}

/** `deltaAt` on every grid point (null where unknown). */
export function deltaSeries(
  current: LapTrace,
  reference: LapTrace,
  grid: Float64Array,
): (number | null)[] {
  return Array.from(grid, (d) => {
    const v = deltaAt(current, reference, d);
    return Number.isFinite(v) ? v : null;
  });
}

/** How far into its lap `trace` had got at session time `t` (m; the whole lap once it is over). */
export function distanceAtTime(trace: LapTrace, t: number): number {
  const i = lastAtOrBefore(trace.time, t);
  return i < 0 ? -Infinity : trace.distance[i];
}

/** Index of the last grid point at or before `d` (-1 before the first). */
export function gridIndex(grid: Float64Array, d: number): number {
  return lastAtOrBefore(grid, d);
}

/** "on/off" when the lap's brake is only ever 0 or 100 (most sources), else "%". */
export function brakeKind(trace: LapTrace | null): "on/off" | "%" {
  if (!trace) return "on/off";
  for (const v of trace.values.brake) if (Number.isFinite(v) && v !== 0 && v !== 100) return "%";
  return "on/off";
}

/** "+0.312 s" (positive: slower), "−0.120 s" with a true minus sign. */
export function formatDelta(seconds: number): string {
  const sign = seconds > 0 ? "+" : seconds < 0 ? "−" : "±";
  return `${sign}${Math.abs(seconds).toFixed(3)} s`;
}

/** A symmetric delta scale that fits `values` up to index `upTo`: ±1, 2, 5, 10, 20, 50… s. */
export function deltaRange(values: (number | null)[], upTo: number): number {
  let m = 0;
  for (let i = 0; i <= upTo && i < values.length; i++) {
    const v = values[i];
    if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  }
  for (let r = 1; ; r *= 10) for (const k of [1, 2, 5]) if (m <= k * r) return k * r;
}
