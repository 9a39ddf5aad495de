// What the lap table says at a given session time: each driver's last and best
// lap, last sectors coloured against personal and overall bests, pit stops.
// Built once per session; each query is a binary search per driver.

import { countAtOrBefore } from "./search";
import type { LapRow, SessionEvent } from "./types";

export const enum SectorMark {
  None = 0,
  Normal = 1,
  PersonalBest = 2,
  OverallBest = 3,
}

interface DriverLaps {
  end: Float64Array; // session time the lap ended, ascending
  lapTime: Float64Array; // NaN when none was set
  numbers: Int32Array;
  bestSoFar: Float64Array; // best lap time up to and including this lap
  sectors: Float64Array[]; // [3][n]
  sectorBestBefore: Float64Array[]; // personal best of each sector strictly before this lap
  stopTimes: Float64Array; // session times of pit stops (at pit exit); drive-throughs excluded
  pitOut: Float64Array; // session times the driver left the pit lane
  flying: Uint8Array; // 1 for a lap neither out of nor into the pits (a timed lap in qualifying)
}

export interface LapState {
  lastLap: number; // NaN when none
  bestLap: number;
  sectors: [number, number, number];
  marks: [SectorMark, SectorMark, SectorMark];
  pits: number;
  outLap: boolean; // on the lap after a pit exit
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : NaN);

export class LapIndex {
  private byDriver = new Map<string, DriverLaps>();
  // Every lap of every driver by end time, with the overall best of each sector so far.
  private allEnd: Float64Array;
  private overallBestSector: Float64Array[];
  private overallBestLap: Float64Array;

  constructor(laps: LapRow[], events: SessionEvent[]) {
    const groups = new Map<string, LapRow[]>();
    for (const lap of laps) {
      if (num(lap.end) !== num(lap.end)) continue;
      const g = groups.get(lap.driver) ?? [];
      g.push(lap);
      groups.set(lap.driver, g);
    }
    const stops = new Map<string, number[]>();
    const pitOut = new Map<string, number[]>();
    for (const e of events) {
      if (!e.driver) continue;
      const target = e.kind === "pit_stop" ? stops : e.kind === "pit_out" ? pitOut : null;
      if (target) target.set(e.driver, [...(target.get(e.driver) ?? []), e.time]);
    }
    for (const [code, rows] of groups) {
      rows.sort((a, b) => num(a.end) - num(b.end));
      const n = rows.length;
      const end = Float64Array.from(rows, (r) => num(r.end));
      const lapTime = Float64Array.from(rows, (r) => num(r.lap_time));
      const bestSoFar = new Float64Array(n);
      let best = NaN;
      for (let i = 0; i < n; i++) {
        if (!(lapTime[i] >= best)) best = Number.isNaN(lapTime[i]) ? best : lapTime[i];
        bestSoFar[i] = best;
      }
      const sectors = [0, 1, 2].map((s) => Float64Array.from(rows, (r) => num(r.sectors?.[s])));
      const sectorBestBefore = sectors.map((col) => {
        const out = new Float64Array(n);
        let b = Infinity;
        for (let i = 0; i < n; i++) {
          out[i] = b;
          if (col[i] < b) b = col[i];
        }
        return out;
      });
      // Stops come from pit_stop events only: a pit-lane visit behind the Safety Car is no stop.
      // Pit exits fall back on the lap table when the events have none.
      const stopTimes = stops.get(code) ?? [];
      const outs =
        pitOut.get(code) ?? rows.map((r) => num(r.pit_out)).filter((t) => !Number.isNaN(t));
      this.byDriver.set(code, {
        end,
        lapTime,
        bestSoFar,
        numbers: Int32Array.from(rows, (r) => r.lap),
        sectors,
        sectorBestBefore,
        flying: Uint8Array.from(rows, (r) =>
          Number.isNaN(num(r.pit_in)) && Number.isNaN(num(r.pit_out)) ? 1 : 0,
        ),
        stopTimes: Float64Array.from(stopTimes).sort(),
        pitOut: Float64Array.from(outs).sort(),
      });
    }
    const all = laps
      .filter((l) => !Number.isNaN(num(l.end)))
      .sort((a, b) => num(a.end) - num(b.end));
    this.allEnd = Float64Array.from(all, (r) => num(r.end));
    this.overallBestSector = [0, 1, 2].map((s) => {
      const out = new Float64Array(all.length);
      let b = Infinity;
      all.forEach((r, i) => {
        const v = num(r.sectors?.[s]);
        if (v < b) b = v;
        out[i] = b;
      });
      return out;
    });
    this.overallBestLap = new Float64Array(all.length);
    let b = Infinity;
    all.forEach((r, i) => {
      const v = num(r.lap_time);
      if (v < b) b = v;
      this.overallBestLap[i] = b;
    });
  }

  /** Overall best lap time completed by `t` (NaN before any). */
  overallBest(t: number): number {
    const k = countAtOrBefore(this.allEnd, t);
    return k === 0 || !Number.isFinite(this.overallBestLap[k - 1])
      ? NaN
      : this.overallBestLap[k - 1];
  }

  /** Number of the driver's best lap completed by `t`, or null. */
  bestLapNumber(code: string, t: number): number | null {
    const d = this.byDriver.get(code);
    if (!d) return null;
    const k = countAtOrBefore(d.end, t);
    if (k === 0 || Number.isNaN(d.bestSoFar[k - 1])) return null;
    const i = d.lapTime.subarray(0, k).indexOf(d.bestSoFar[k - 1]);
    return i >= 0 ? d.numbers[i] : null;
  }

  /** Best time of the flying laps (no out- or in-lap) completed in (since, t], NaN without one: a qualifying segment's best. */
  bestSince(code: string, since: number, t: number): number {
    const d = this.byDriver.get(code);
    if (!d) return NaN;
    let best = NaN;
    for (let i = countAtOrBefore(d.end, since), k = countAtOrBefore(d.end, t); i < k; i++) {
      if (d.flying[i] && !(d.lapTime[i] >= best))
        best = Number.isNaN(d.lapTime[i]) ? best : d.lapTime[i];
    }
    return best;
  }

  state(code: string, t: number): LapState {
    const d = this.byDriver.get(code);
    const empty: LapState = {
      lastLap: NaN,
      bestLap: NaN,
      sectors: [NaN, NaN, NaN],
      marks: [SectorMark.None, SectorMark.None, SectorMark.None],
      pits: 0,
      outLap: false,
    };
    if (!d) return empty;
    const k = countAtOrBefore(d.end, t);
    const pits = countAtOrBefore(d.stopTimes, t);
    const lastOut = countAtOrBefore(d.pitOut, t);
    const lastLapEnd = k > 0 ? d.end[k - 1] : -Infinity;
    const outLap = lastOut > 0 && d.pitOut[lastOut - 1] > lastLapEnd;
    if (k === 0) return { ...empty, pits, outLap };
    const i = k - 1;
    const kAll = countAtOrBefore(this.allEnd, t);
    const sectors = [0, 1, 2].map((s) => d.sectors[s][i]) as [number, number, number];
    const marks = sectors.map((v, s) => {
      if (Number.isNaN(v)) return SectorMark.None;
      if (kAll > 0 && v <= this.overallBestSector[s][kAll - 1]) return SectorMark.OverallBest;
      if (v <= d.sectorBestBefore[s][i]) return SectorMark.PersonalBest;
      return SectorMark.Normal;
    }) as [SectorMark, SectorMark, SectorMark];
    return {
      lastLap: d.lapTime[i],
      bestLap: d.bestSoFar[i],
      sectors,
      marks,
      pits,
      outLap,
    };
  }
}

export function formatLapTime(s: number): string {
  if (!Number.isFinite(s)) return "";
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return m > 0 ? `${m}:${rest.toFixed(3).padStart(6, "0")}` : rest.toFixed(3);
}

/** Elapsed time as h:mm:ss; a time before the reference (negative) as −h:mm:ss. */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--:--";
  // Before the reference the count rounds up, so it reads 0:00:00 exactly at the reference.
  const s = seconds < 0 ? Math.ceil(-seconds - 1e-6) : Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${seconds < 0 && s > 0 ? "−" : ""}${h}:${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** A countdown: m:ss (h:mm:ss from an hour), rounded up. */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds - 1e-6));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
