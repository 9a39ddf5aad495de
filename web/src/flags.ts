// Flags on the map at the replay's moment, from the metadata's `flags` (timeline/flags.py):
// marshal sectors under yellow, the Safety Car (an estimate ahead of the leader: no
// source records where it is), the VSC, the medical car. Every answer is looked up from
// the periods at the given session time, never carried from frame to frame, so a seek
// (backwards too) shows exactly what was out at that moment.

import { countAtOrBefore } from "./search";
import type { Geometry, Snapshot, TrackFlags } from "./types";

/** A marshal sector's stretch of the lap under a flag (metres along the lap; `end` may pass the line). */
export interface FlagBand {
  sector: number;
  flag: string; // "YELLOW" or "DOUBLE YELLOW"
  start: number;
  end: number;
}

/** What the map draws for flags at one moment. */
export interface MapFlags {
  bands: FlagBand[];
  estimated: boolean; // the marshal sectors are equal stretches (no positions in the data)
  sc: { x: number; y: number; label: string } | null; // circuit metres
  scActive: boolean; // the track status is Safety Car (the marker needs the leader's distance)
  vsc: string; // "", "VSC" or "VSC ending"
  medical: string; // "" or the note
  key: string; // changes whenever the bands do (the track layer is redrawn then)
}

interface Period {
  start: number;
  end: number;
}

/** The periods of `list` (ascending starts, in `starts`) that hold session time `t`. */
function activeAt<P extends Period>(list: P[], starts: Float64Array, t: number): P[] {
  const n = countAtOrBefore(starts, t);
  const out: P[] = [];
  for (let i = 0; i < n; i++) if (list[i].end > t) out.push(list[i]);
  return out;
}

const startsOf = (list: Period[]) => Float64Array.from(list, (p) => p.start);

/** `distance` metres along the lap, on the outline (sampled evenly over a lap of `length`). */
export function pointOnOutline(
  outline: [number, number][],
  length: number,
  distance: number,
): [number, number] {
  const n = outline.length;
  const pos = ((((distance % length) + length) % length) / length) * n;
  const i = Math.floor(pos) % n;
  const f = pos - Math.floor(pos);
  const [ax, ay] = outline[i];
  const [bx, by] = outline[(i + 1) % n];
  return [ax + (bx - ax) * f, ay + (by - ay) * f];
}

export class FlagView {
  private spans = new Map<number, { start: number; end: number }>();
  private yellowStarts: Float64Array;
  private scStarts: Float64Array;
  private vscStarts: Float64Array;
  private medicalStarts: Float64Array;

  constructor(
    private flags: TrackFlags | null,
    private geometry: Geometry | null,
    private t0: number,
    private fps: number,
  ) {
    for (const s of flags?.marshal_sectors ?? []) this.spans.set(s.number, s);
    this.yellowStarts = startsOf(flags?.yellow ?? []);
    this.scStarts = startsOf(flags?.safety_car ?? []);
    this.vscStarts = startsOf(flags?.vsc ?? []);
    this.medicalStarts = startsOf(flags?.medical_car ?? []);
  }

  /** The flags at the moment `snap` shows (its fractional frame). */
  forSnap(snap: Snapshot): MapFlags {
    return this.at(this.t0 + snap.frame / this.fps, snap);
  }

  /** The flags at session time `t`; the Safety Car placed from the leader in `snap`. */
  at(t: number, snap: Snapshot | null): MapFlags {
    const f = this.flags;
    const none: MapFlags = {
      bands: [],
      estimated: false,
      sc: null,
      scActive: false,
      vsc: "",
      medical: "",
      key: "",
    };
    if (!f) return none;
    const bands: FlagBand[] = [];
    for (const p of activeAt(f.yellow, this.yellowStarts, t)) {
      const span = this.spans.get(p.sector);
      if (span) bands.push({ sector: p.sector, flag: p.flag, start: span.start, end: span.end });
    }
    bands.sort((a, b) => a.sector - b.sector);
    const sc = activeAt(f.safety_car, this.scStarts, t)[0];
    const vsc = activeAt(f.vsc, this.vscStarts, t)[0];
    const medical = activeAt(f.medical_car, this.medicalStarts, t)[0];
    return {
      bands,
      estimated: f.marshal_estimated,
      sc: sc ? this.safetyCar(sc, t, snap) : null,
      scActive: !!sc,
      vsc: vsc ? (vsc.ending !== null && t >= vsc.ending ? "VSC ending" : "VSC") : "",
      medical: medical ? `Medical car: ${medical.message} (position not in the data)` : "",
      key: bands.map((b) => `${b.sector}${b.flag}`).join(","),
    };
  }

  /** The estimated Safety Car: `sc_ahead` metres ahead of the leader along the track. */
  private safetyCar(
    period: TrackFlags["safety_car"][number],
    t: number,
    snap: Snapshot | null,
  ): MapFlags["sc"] {
    const g = this.geometry;
    if (!g || g.outline.length < 2 || !snap || !(g.length > 0)) return null;
    const pos = snap.values.position;
    let leader = -1;
    for (let d = 0; d < pos.length; d++) if (pos[d] === 1) leader = d;
    const distance = leader >= 0 ? snap.values.distance[leader] : NaN;
    if (!Number.isFinite(distance)) return null;
    const [x, y] = pointOnOutline(g.outline, g.length, distance + this.flags!.sc_ahead);
    const inLap = period.in_this_lap !== null && t >= period.in_this_lap;
    const label =
      (this.flags!.sc_estimated ? "SC (estimated)" : "SC") + (inLap ? " · in this lap" : "");
    return { x, y, label };
  }
}
