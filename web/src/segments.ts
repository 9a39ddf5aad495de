// Session segments (Q1, Q2, Q3) from the events: the timeline's own `segment` events
// when it has them (data: name, start, end), else the race control flags (a green light
// at each segment's start, the chequered flag at its end). A session with neither is
// one segment from the first moment to the last. The tabs (Q1, Q2, Q3) jump to a
// segment's green light; qualifying data that cannot be split says so in their place.

import type { SessionEvent } from "./types";

export interface Segment {
  name: string;
  start: number; // session time of the green light
  end: number; // session time of the chequered flag (NaN while unknown)
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : NaN);

export function findSegments(
  events: SessionEvent[],
  kind: string,
  t0: number,
  tEnd: number,
): Segment[] {
  const explicit = events.filter((e) => e.kind === "segment");
  if (explicit.length) {
    return explicit.map((e, i) => ({
      name: String(e.data.name ?? `Part ${i + 1}`),
      start: Number.isFinite(num(e.data.start)) ? num(e.data.start) : e.time,
      end: num(e.data.end),
    }));
  }
  const prefix = kind === "sprint_qualifying" ? "SQ" : kind === "qualifying" ? "Q" : null;
  const whole = [{ name: prefix ? `${prefix}1` : "Session", start: t0, end: tEnd }];
  if (!prefix) return whole;
  const text = (e: SessionEvent) =>
    e.kind === "message" ? String(e.data.message ?? "").toUpperCase() : "";
  const out: Segment[] = [];
  for (const e of events) {
    const m = text(e);
    if (m.startsWith("GREEN LIGHT"))
      out.push({ name: `${prefix}${out.length + 1}`, start: e.time, end: NaN });
    else if (m.startsWith("CHEQUERED FLAG") && out.length && Number.isNaN(out[out.length - 1].end))
      out[out.length - 1].end = e.time;
  }
  return out.length ? out : whole;
}

/** Index of the segment running at `t`: the last one started (the first before any). */
export function segmentAt(segments: Segment[], t: number): number {
  let i = 0;
  while (i + 1 < segments.length && segments[i + 1].start <= t) i++;
  return i;
}

/** The segment tabs above the leaderboard. */
export class SegmentTabs {
  private shown = -1;

  /**
   * `unsplitKind`: the session kind when a qualifying session's data has only one part
   * (the tabs then say that Q1/Q2/Q3 are not available); null otherwise.
   */
  constructor(
    private nav: HTMLElement,
    segments: Segment[],
    show: boolean,
    unsplitKind: string | null,
    onPick: (seg: Segment) => void,
  ) {
    nav.hidden = !show;
    // One part is no choice: no tab for it.
    nav.replaceChildren(
      ...(segments.length < 2 ? [] : segments).map((seg) => {
        const b = document.createElement("button");
        b.textContent = seg.name;
        b.dataset.segment = seg.name;
        b.setAttribute("aria-pressed", "false");
        b.addEventListener("click", () => onPick(seg));
        return b;
      }),
    );
    if (unsplitKind !== null) {
      const p = unsplitKind === "sprint_qualifying" ? "SQ" : "Q";
      const note = document.createElement("span");
      note.className = "seg-note";
      note.textContent = `${p}1/${p}2/${p}3 not available from this data`;
      note.title =
        "This data has no race control flags or breaks that tell the parts apart: the board ranks the whole session by best lap";
      nav.append(note);
    }
  }

  /** Mark segment `i` as the current one; true when that changed. */
  select(i: number): boolean {
    if (i === this.shown) return false;
    this.shown = i;
    this.nav.querySelectorAll("button").forEach((b, k) => {
      b.classList.toggle("active", k === i);
      b.setAttribute("aria-pressed", String(k === i));
    });
    return true;
  }
}
