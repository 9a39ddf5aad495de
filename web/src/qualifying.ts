// Qualifying as fans know it: in Q1 the slowest N − 15 cars are knocked out, in Q2
// the next five (the sporting regulations' rule for a field of N cars), Q3 decides
// the top places. From the lap table: each part's classification is the best flying
// lap completed between its green light and the next part's green light (a lap
// started before the chequered flag still counts); drivers without a time rank last.

import type { LapIndex } from "./laps";
import type { Cut } from "./leaderboard";
import type { Segment } from "./segments";
import type { Driver } from "./types";

export const QUALIFYING_KINDS = ["qualifying", "sprint_qualifying"];

/**
 * Places that go through at the end of each part (null: nobody is knocked out then,
 * as in the last part). Q1 keeps min(N, 15), Q2 five fewer (at least one goes on).
 */
export function safePlaces(nDrivers: number, nSegments: number): (number | null)[] {
  const out: (number | null)[] = [];
  let running = nDrivers;
  for (let k = 0; k < nSegments; k++) {
    const last = k === nSegments - 1;
    const knocked = last
      ? 0
      : k === 0
        ? Math.max(0, running - 15)
        : Math.min(5, Math.max(0, running - 1));
    out.push(knocked > 0 ? running - knocked : null);
    running -= knocked;
  }
  return out;
}

export class Qualifying {
  private safe: (number | null)[];
  /** For each driver, the part they were knocked out in (-1: not knocked out). */
  private outIn: Int8Array;

  constructor(
    drivers: Driver[],
    private segments: Segment[],
    laps: LapIndex,
  ) {
    this.safe = safePlaces(drivers.length, segments.length);
    this.outIn = new Int8Array(drivers.length).fill(-1);
    for (let k = 0; k + 1 < segments.length; k++) {
      const safe = this.safe[k];
      if (safe === null) continue;
      const until = segments[k + 1].start;
      const running = drivers.map((_, d) => d).filter((d) => this.outIn[d] < 0);
      const best = new Map(
        running.map((d) => [d, laps.bestSince(drivers[d].code, segments[k].start, until)]),
      );
      const time = (d: number) => (Number.isFinite(best.get(d)) ? best.get(d)! : Infinity);
      running.sort((a, b) => time(a) - time(b) || a - b);
      for (const d of running.slice(safe)) this.outIn[d] = k;
    }
  }

  /** The leaderboard's zone and greyed drivers during part `k`. */
  cutAt(k: number): Cut {
    return {
      safe: this.safe[k] ?? null,
      out: Array.from(this.outIn, (o) => (o >= 0 && o < k ? 1 : 0)),
    };
  }

  /** Whether the parts were found at all (archive-only data has one part). */
  get split(): boolean {
    return this.segments.length >= 2;
  }
}
