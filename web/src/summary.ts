// The map's text alternative: a visually hidden paragraph beside the canvas (the
// canvas's description) saying what the map and the header show: the lap, the track
// status, the leader and the followed driver's place and gap. Rewritten at most every
// few seconds, so a screen reader reading it is not interrupted by every frame.

import { lapText, trackStatusOf } from "./panels";

const EVERY_MS = 3000;

export interface SummaryState {
  leaderLap: number;
  trackStatus: number;
  leader: string | null; // driver code
  followed: { code: string; position: number; gap: string } | null;
}

export function summaryText(s: SummaryState, totalLaps: number | null): string {
  const parts = [
    `${lapText(s.leaderLap, totalLaps, " of ")}.`,
    `Track status: ${trackStatusOf(s.trackStatus).label}.`,
  ];
  if (s.leader) parts.push(`Leader: ${s.leader}.`);
  const f = s.followed;
  if (f)
    parts.push(
      `Following ${f.code}: ${f.position > 0 ? `P${f.position}` : "no place"}${f.gap ? `, ${f.gap}` : ""}.`,
    );
  else parts.push("Choose a driver in the leaderboard to follow one.");
  return parts.join(" ");
}

export class MapSummary {
  private written = -Infinity;
  private followed: string | null = null;

  constructor(
    private el: HTMLElement,
    private totalLaps: number | null,
  ) {}

  /** Rewrite the summary if it is due (`now`: performance.now()) or another driver is followed. */
  update(now: number, state: SummaryState): void {
    const followed = state.followed?.code ?? null;
    if (followed === this.followed && now - this.written < EVERY_MS) return;
    this.followed = followed;
    this.written = now;
    const text = summaryText(state, this.totalLaps);
    if (this.el.textContent !== text) this.el.textContent = text;
  }
}
