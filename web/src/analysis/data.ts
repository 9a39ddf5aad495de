// The race analysis views' numbers, as pure functions of the lap table and the events
// (no DOM): each driver's laps in order, stints, positions and gaps to the leader per
// lap, track status periods, laps run under the Safety Car, long runs and the best
// lap of each session part. The end-to-end test (tests/test_e2e_analysis.py) checks
// what the charts draw from these against the server's lap table.

import type { Segment } from "../segments";
import { countAtOrBefore } from "../search";
import type { LapRow, SessionEvent } from "../types";

export const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : NaN);

/** A lap of the table with its numbers read (NaN where missing). */
export interface Lap {
  driver: string;
  lap: number;
  start: number;
  end: number; // NaN for a lap not completed
  time: number; // lap time, NaN when none was set
  compound: string; // "SOFT", "MEDIUM", … ("" when unknown)
  tyreAge: number;
  stint: number;
  pitIn: boolean; // an in-lap
  pitOut: boolean; // an out-lap
  position: number;
  deleted: boolean;
}

export function readLap(r: LapRow): Lap {
  return {
    driver: r.driver,
    lap: r.lap,
    start: num(r.start),
    end: num(r.end),
    time: num(r.lap_time),
    compound: typeof r.compound === "string" ? r.compound.toUpperCase() : "",
    tyreAge: num(r.tyre_age),
    stint: num(r.stint),
    pitIn: Number.isFinite(num(r.pit_in)),
    pitOut: Number.isFinite(num(r.pit_out)),
    position: num(r.position),
    deleted: r.deleted === true,
  };
}

/** Each driver's laps by lap number, for the drivers in `codes` (in that order). */
export function lapsByDriver(rows: LapRow[], codes: string[]): Lap[][] {
  const at = new Map(codes.map((c, i) => [c, i]));
  const out: Lap[][] = codes.map(() => []);
  for (const r of rows) {
    const i = at.get(r.driver);
    if (i !== undefined) out[i].push(readLap(r));
  }
  for (const laps of out) laps.sort((a, b) => a.lap - b.lap);
  return out;
}

/** Laps completed by session time `t` (a lap counts from its end). */
export function completedBy(laps: Lap[], t: number): Lap[] {
  return laps.filter((l) => l.end <= t);
}

// --- the lap axis: session time ↔ the leader's laps ---------------------------------

/**
 * Session time as a fractional lap of the leader: 0 at the start, L when the first car
 * completes lap L, linear in between (the charts' x axis and their "now" cursor).
 */
export class LapClock {
  /** ends[L]: the session time the first car completed lap L; ends[0]: the start. */
  readonly ends: Float64Array;

  constructor(byDriver: Lap[][], start: number) {
    let last = 0;
    for (const laps of byDriver)
      for (const l of laps) if (Number.isFinite(l.end)) last = Math.max(last, l.lap);
    const ends = new Float64Array(last + 1).fill(Infinity);
    let first = Infinity;
    for (const laps of byDriver)
      for (const l of laps) {
        if (Number.isFinite(l.end) && l.end < ends[l.lap]) ends[l.lap] = l.end;
        if (l.lap === 1 && Number.isFinite(l.start)) first = Math.min(first, l.start);
      }
    ends[0] = Number.isFinite(start) ? start : Number.isFinite(first) ? first : 0;
    // A lap nobody completed first (a gap in the data) sits halfway; ends stay ascending.
    for (let i = 1; i < ends.length; i++) if (!(ends[i] > ends[i - 1])) ends[i] = ends[i - 1];
    this.ends = ends;
  }

  get laps(): number {
    return this.ends.length - 1;
  }

  /** The fractional lap at session time `t` (0 before the start, `laps` after the last). */
  lapAt(t: number): number {
    const e = this.ends;
    const k = countAtOrBefore(e, t); // lap ends at or before t, the start counted
    if (k === 0) return 0;
    if (k >= e.length) return this.laps;
    const span = e[k] - e[k - 1];
    return k - 1 + (span > 0 ? (t - e[k - 1]) / span : 0);
  }
}

/** Every completed lap's end, ascending. */
export function allLapEnds(byDriver: Lap[][]): Float64Array {
  const ends: number[] = [];
  for (const laps of byDriver) for (const l of laps) if (Number.isFinite(l.end)) ends.push(l.end);
  return Float64Array.from(ends).sort();
}

// --- positions and gaps -------------------------------------------------------------

/**
 * Position at the end of each lap: the lap table's official position where it has one,
 * else the order in which the cars completed that lap. Index = lap number (0: unused).
 */
/** Each driver's lap ends by lap number, for laps 0 to `n - 1` (NaN: not completed). */
export function lapEndsPerLap(byDriver: Lap[][], n: number): Float64Array[] {
  return byDriver.map((laps) => {
    const out = new Float64Array(n).fill(NaN);
    for (const l of laps) if (l.lap < n) out[l.lap] = l.end;
    return out;
  });
}

export function positionsPerLap(byDriver: Lap[][]): Float64Array[] {
  const last = Math.max(0, ...byDriver.flatMap((laps) => laps.map((l) => l.lap)));
  const order: { d: number; end: number }[][] = Array.from({ length: last + 1 }, () => []);
  byDriver.forEach((laps, d) => {
    for (const l of laps) if (Number.isFinite(l.end)) order[l.lap].push({ d, end: l.end });
  });
  const rank = order.map((o) => {
    o.sort((a, b) => a.end - b.end || a.d - b.d);
    return new Map(o.map((x, i) => [x.d, i + 1]));
  });
  return byDriver.map((laps, d) => {
    const out = new Float64Array(last + 1).fill(NaN);
    for (const l of laps) {
      if (!Number.isFinite(l.end)) continue;
      out[l.lap] = Number.isFinite(l.position) ? l.position : (rank[l.lap].get(d) ?? NaN);
    }
    return out;
  });
}

/**
 * Gap to the leader at the end of each lap: the driver's cumulative race time at that lap
 * end minus the leader's (the first car to complete it), in seconds. Index = lap number.
 */
export function gapsPerLap(byDriver: Lap[][], clock: LapClock): Float64Array[] {
  return byDriver.map((laps) => {
    const out = new Float64Array(clock.laps + 1).fill(NaN);
    for (const l of laps)
      if (Number.isFinite(l.end) && l.lap <= clock.laps) out[l.lap] = l.end - clock.ends[l.lap];
    return out;
  });
}

// --- track status -------------------------------------------------------------------

export type Neutralised = "sc" | "vsc" | "red";

export interface StatusPeriod {
  kind: Neutralised;
  start: number;
  end: number; // the next status change (Infinity while it lasts)
}

export function neutralisedKind(status: number): Neutralised | null {
  return status === 4 ? "sc" : status === 5 ? "red" : status === 6 || status === 7 ? "vsc" : null;
}

/** Safety Car, VSC and red flag periods from the `track_status` events (by time). */
export function statusPeriods(events: SessionEvent[]): StatusPeriod[] {
  const changes = events.filter((e) => e.kind === "track_status").sort((a, b) => a.time - b.time);
  const out: StatusPeriod[] = [];
  changes.forEach((e, i) => {
    const kind = neutralisedKind(Number(e.data.status));
    if (!kind) return;
    const end = changes[i + 1]?.time ?? Infinity;
    const prev = out[out.length - 1];
    // VSC then VSC ENDING is one period.
    if (prev && prev.kind === kind && prev.end === e.time) prev.end = end;
    else out.push({ kind, start: e.time, end });
  });
  return out;
}

/** Whether a lap ran (in part) under the Safety Car, the VSC or a red flag. */
export function underNeutralisation(lap: Lap, periods: StatusPeriod[]): boolean {
  return periods.some((p) => p.start < lap.end && p.end > lap.start);
}

// --- stints -------------------------------------------------------------------------

export interface Stint {
  driver: string;
  number: number; // 1, 2, …
  compound: string;
  firstLap: number;
  lastLap: number;
  start: number; // session time the stint's first lap started
  end: number; // session time its last lap ended (NaN when not completed)
  ageStart: number; // tyre age on its first lap (NaN when unknown)
  ageEnd: number;
}

/**
 * One driver's stints (laps in order): the lap table's `stint` numbers where it has
 * them; else a new stint starts at a change of compound, a tyre age that restarts, or
 * a lap out of the pits after the first.
 */
export function stintsOf(laps: Lap[]): Stint[] {
  const out: Stint[] = [];
  let prev: Lap | null = null;
  for (const l of laps) {
    let fresh = prev === null;
    if (prev !== null) {
      if (Number.isFinite(l.stint) && Number.isFinite(prev.stint)) fresh = l.stint !== prev.stint;
      else
        fresh =
          (l.compound !== "" && prev.compound !== "" && l.compound !== prev.compound) ||
          l.tyreAge < prev.tyreAge ||
          (l.pitOut && l.lap > 1);
    }
    if (fresh)
      out.push({
        driver: l.driver,
        number: out.length + 1,
        compound: l.compound,
        firstLap: l.lap,
        lastLap: l.lap,
        start: l.start,
        end: l.end,
        ageStart: l.tyreAge,
        ageEnd: l.tyreAge,
      });
    else {
      const s = out[out.length - 1];
      s.lastLap = l.lap;
      s.end = l.end;
      s.ageEnd = l.tyreAge;
      if (!s.compound) s.compound = l.compound;
    }
    prev = l;
  }
  return out;
}

/** The stints as far as session time `t` shows them: completed laps only. */
export function stintsBy(laps: Lap[], t: number): Stint[] {
  return stintsOf(completedBy(laps, t));
}

// --- long runs ----------------------------------------------------------------------

export const LONG_RUN_LAPS = 5;
/** Laps slower than this times the run's median (cool-down laps) are left out of its average. */
export const LONG_RUN_SLOW = 1.07;

export interface LongRun {
  driver: string;
  firstLap: number;
  lastLap: number;
  laps: number; // in the run
  counted: number; // in its average
  average: number; // s
  compound: string;
  start: number;
  end: number;
  times: number[]; // each lap's time, in order
}

/** A lap a long run can hold: timed, not deleted, neither out of nor into the pits. */
function runLap(l: Lap): boolean {
  return Number.isFinite(l.time) && Number.isFinite(l.end) && !l.deleted && !l.pitIn && !l.pitOut;
}

/**
 * One driver's long runs (laps in order): stretches of at least `LONG_RUN_LAPS`
 * consecutive laps without a pit in or out, each averaged over its laps within
 * `LONG_RUN_SLOW` of the run's median.
 */
export function longRunsOf(laps: Lap[], minLaps = LONG_RUN_LAPS): LongRun[] {
  const out: LongRun[] = [];
  let run: Lap[] = [];
  const close = () => {
    if (run.length >= minLaps) {
      const times = run.map((l) => l.time);
      const sorted = [...times].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
      const kept = times.filter((x) => x <= median * LONG_RUN_SLOW);
      out.push({
        driver: run[0].driver,
        firstLap: run[0].lap,
        lastLap: run[run.length - 1].lap,
        laps: run.length,
        counted: kept.length,
        average: kept.reduce((a, b) => a + b, 0) / kept.length,
        compound: run.find((l) => l.compound)?.compound ?? "",
        start: run[0].start,
        end: run[run.length - 1].end,
        times,
      });
    }
    run = [];
  };
  for (const l of laps) {
    if (!runLap(l)) {
      close();
      continue;
    }
    if (run.length && l.lap !== run[run.length - 1].lap + 1) close();
    run.push(l);
  }
  close();
  return out;
}

// --- best laps per part ---------------------------------------------------------------

export interface PartBest {
  driver: string;
  lap: number;
  time: number;
  start: number; // the lap's start (session time)
  end: number;
}

/**
 * Each driver's best flying lap (no out- or in-lap, not deleted) completed in part `k`:
 * after its green light and up to the next part's (a lap started before the flag still
 * counts), and no later than `t`. Fastest first.
 */
export function bestInPart(
  byDriver: Lap[][],
  segments: Segment[],
  k: number,
  t: number,
): PartBest[] {
  const since = segments[k].start;
  const until = Math.min(k + 1 < segments.length ? segments[k + 1].start : Infinity, t);
  const out: PartBest[] = [];
  for (const laps of byDriver) {
    let best: Lap | null = null;
    for (const l of laps) {
      if (!(l.end > since && l.end <= until) || !runLap(l)) continue;
      if (best === null || l.time < best.time) best = l;
    }
    if (best)
      out.push({
        driver: best.driver,
        lap: best.lap,
        time: best.time,
        start: best.start,
        end: best.end,
      });
  }
  return out.sort((a, b) => a.time - b.time || a.driver.localeCompare(b.driver));
}

// --- compounds ------------------------------------------------------------------------

/** The index into types.ts COMPOUNDS / COMPOUND_COLOURS of a compound's name. */
export function compoundIndex(name: string): number {
  const i = ["", "SOFT", "MEDIUM", "HARD", "INTERMEDIATE", "WET"].indexOf(name.toUpperCase());
  return i > 0 ? i : 0;
}
