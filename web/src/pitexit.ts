// The pit-exit ghost: for the focused driver, where they would rejoin if they pitted
// now. The same rule as the server's (src/racereplay/timeline/pitloss.py): the car
// comes out `loss` seconds further behind the leader (the session's measured pit loss,
// × its SC or VSC factor while the track is neutralised), so it rejoins in place
// 1 + the other racing cars whose gap is smaller, between the car with the largest
// such gap and the car with the smallest gap above it. On the map it stands where
// the field-relative gap puts it: the race distance of a car at that gap, read off
// the field's (gap, distance) pairs. After a real stop the board shows how the
// prediction made at pit entry compared with the place taken.

import { DriverStatus, type Geometry, type PitLoss, type PitRejoin, type Snapshot } from "./types";

export interface PitExitPrediction {
  driver: number;
  position: number; // 1-based place on rejoining
  ahead: number; // the car it would come out behind (driver index), -1: none
  behind: number; // the car it would come out ahead of, -1: none
  gap: number; // its gap to the leader after the stop, s
  toAhead: number; // s behind `ahead` (NaN without one)
  loss: number; // the loss used now, s
  distance: number; // race distance of the ghost, m (NaN unknown)
  x: number; // circuit metres on the track line (NaN: no map)
  y: number;
}

const SAFETY_CAR = 4;
const VSC = 6;
const VSC_ENDING = 7;
/** A real stop's outcome stays on the board this long after pit exit (s). */
export const OUTCOME_SECONDS = 30;

function racing(status: number): boolean {
  return (
    status === DriverStatus.Running ||
    status === DriverStatus.PitLane ||
    status === DriverStatus.Finished
  );
}

/** The loss (s) at a track status: × the SC or VSC factor while neutralised. */
export function lossAt(pit: PitLoss, trackStatus: number): number {
  const factor =
    trackStatus === SAFETY_CAR
      ? pit.sc_factor
      : trackStatus === VSC || trackStatus === VSC_ENDING
        ? pit.vsc_factor
        : 1;
  return pit.seconds * factor;
}

/** Where driver `d` would rejoin if it pitted at this snapshot (null: not racing, or in the pit lane). */
export function predictRejoin(
  snap: Snapshot,
  d: number,
  pit: PitLoss,
  geometry: Geometry | null,
): PitExitPrediction | null {
  const v = snap.values;
  const n = v.gap.length;
  const own = v.gap[d];
  if (d < 0 || d >= n || v.status[d] !== DriverStatus.Running || !Number.isFinite(own)) return null;
  const loss = lossAt(pit, snap.session.track_status);
  const ghost = own + loss;
  let position = 1;
  let ahead = -1;
  let behind = -1;
  for (let o = 0; o < n; o++) {
    if (o === d || !racing(v.status[o]) || !Number.isFinite(v.gap[o])) continue;
    if (v.gap[o] < ghost) {
      position++;
      if (ahead < 0 || v.gap[o] > v.gap[ahead]) ahead = o;
    } else if (behind < 0 || v.gap[o] < v.gap[behind]) behind = o;
  }
  const distance = ghostDistance(snap, ghost);
  const [x, y] = geometry ? onTrack(geometry, distance) : [NaN, NaN];
  return {
    driver: d,
    position,
    ahead,
    behind,
    gap: ghost,
    toAhead: ahead >= 0 ? ghost - v.gap[ahead] : NaN,
    loss,
    distance,
    x,
    y,
  };
}

/**
 * The race distance of a car `gap` seconds behind the leader: interpolated between the
 * racing cars on either side of that gap; past the last car, extrapolated at the field's
 * average pace between the leader and the last car.
 */
export function ghostDistance(snap: Snapshot, gap: number): number {
  const v = snap.values;
  const pts: [number, number][] = [];
  for (let o = 0; o < v.gap.length; o++) {
    const s = v.status[o];
    if ((s === DriverStatus.Running || s === DriverStatus.PitLane) && Number.isFinite(v.gap[o]))
      if (Number.isFinite(v.distance[o])) pts.push([v.gap[o], v.distance[o]]);
  }
  if (!pts.length) return NaN;
  pts.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < pts.length; i++) {
    const [g0, d0] = pts[i - 1];
    const [g1, d1] = pts[i];
    if (gap <= g1) {
      if (gap <= g0) return d0;
      return d0 + ((d1 - d0) * (gap - g0)) / (g1 - g0 || 1);
    }
  }
  const [gFirst, dFirst] = pts[0];
  const [gLast, dLast] = pts[pts.length - 1];
  const span = gLast - gFirst;
  const pace = span > 1 ? (dFirst - dLast) / span : 60; // m/s
  return dLast - Math.max(pace, 10) * (gap - gLast);
}

const cumulative = new WeakMap<Geometry, Float64Array>();

/** The point of the track line at race distance `distance` (the outline is scaled to one lap). */
export function onTrack(g: Geometry, distance: number): [number, number] {
  const pts = g.outline;
  if (!Number.isFinite(distance) || pts.length < 2 || !(g.length > 0)) return [NaN, NaN];
  let cum = cumulative.get(g);
  if (!cum) {
    cum = new Float64Array(pts.length);
    for (let i = 1; i < pts.length; i++)
      cum[i] = cum[i - 1] + Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
    cumulative.set(g, cum);
  }
  const total = cum[cum.length - 1];
  const lap = ((distance % g.length) + g.length) % g.length;
  const s = (lap / g.length) * total;
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid] < s) lo = mid + 1;
    else hi = mid;
  }
  const i = Math.max(1, lo);
  const f = (s - cum[i - 1]) / (cum[i] - cum[i - 1] || 1);
  return [
    pts[i - 1][0] + (pts[i][0] - pts[i - 1][0]) * f,
    pts[i - 1][1] + (pts[i][1] - pts[i - 1][1]) * f,
  ];
}

/** The focused driver's real stop at `sessionTime`: in the pit lane, or up to OUTCOME_SECONDS after exit. */
export function stopAt(pit: PitLoss, code: string, sessionTime: number): PitRejoin | null {
  for (const s of pit.stops)
    if (s.driver === code && sessionTime >= s.pit_in && sessionTime <= s.pit_out + OUTCOME_SECONDS)
      return s;
  return null;
}

/** The leaderboard row's words: "rejoins P7, 1.4 s behind HAM" (codes of the drivers). */
export function rejoinText(p: PitExitPrediction, codes: string[]): string {
  const where =
    p.ahead >= 0
      ? `, ${p.toAhead.toFixed(1)} s behind ${codes[p.ahead]}`
      : p.behind >= 0
        ? `, ahead of ${codes[p.behind]}`
        : "";
  return `rejoins P${p.position}${where}`;
}

/** After a real stop: "predicted P7, rejoined P8" (or "… rejoins …" while in the pit lane). */
export function outcomeText(s: PitRejoin, sessionTime: number): string {
  const predicted = s.predicted > 0 ? `predicted P${s.predicted}` : "no prediction";
  if (sessionTime < s.pit_out) return `in the pit lane: ${predicted}`;
  return s.actual > 0 ? `${predicted}, rejoined P${s.actual}` : predicted;
}
