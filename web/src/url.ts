// The shareable URL: `?session=NAME&t=SESSION_SECONDS&speed=X&play=1&focus=VER&rate=auto|25|10|5|2`.
// Read once when the page opens; rewritten (history.replaceState) about once a second
// while the replay runs, and at once after a play, pause or speed change.

import { SPEEDS } from "./clock";

/** The data rate asked for: "auto" (adaptive) or fixed frames per second. */
export type RateChoice = "auto" | number;

export function parseRate(value: string | null): RateChoice {
  return value === null || value === "auto" ? "auto" : Number(value);
}

/** The moment a URL opens the replay at. */
export interface UrlView {
  time: number | null; // session time
  speed: number | null; // one of SPEEDS
  play: boolean;
  focus: string | null; // driver code
  rate: RateChoice;
}

export function readUrlView(params: URLSearchParams): UrlView {
  const time = Number(params.get("t"));
  const speed = Number(params.get("speed"));
  return {
    time: params.has("t") && Number.isFinite(time) ? time : null,
    speed: SPEEDS.includes(speed) ? speed : null,
    play: params.get("play") === "1",
    focus: params.get("focus") || null,
    rate: parseRate(params.get("rate")),
  };
}

const EVERY_MS = 1000;

export class ShareUrl {
  private last = 0;
  /** The watch party the page is in (`?room=ID`), kept in the URL; null: none. */
  room: string | null = null;

  constructor(private session: string) {}

  /** The next `update` rewrites the URL whatever the time (a play, pause or speed change). */
  soon(): void {
    this.last = 0;
  }

  update(
    now: number,
    sessionTime: number,
    speed: number,
    playing: boolean,
    focus: string | null,
  ): void {
    if (now - this.last <= EVERY_MS) return;
    this.last = now;
    const p = new URLSearchParams({
      session: this.session,
      t: sessionTime.toFixed(1),
      speed: String(speed),
    });
    if (playing) p.set("play", "1");
    if (focus) p.set("focus", focus);
    if (this.room) p.set("room", this.room);
    history.replaceState(null, "", `?${p}`);
  }
}
