// Mini-sectors and speed traps of the focused driver, as timing screens show them
// (GET /api/sessions/{id}/minisectors, computed by timeline/minisectors.py): each lap
// timed line to line split into `count` parts of equal distance, each marked when it
// was completed: purple (overall best so far), green (personal best), yellow. The
// panel shows the current lap's strip (only the parts the replay's clock has reached:
// a part's `ends` ≤ now) above the previous lap's, and that lap's speed trap (the
// official speed where the source has it, else the top speed in each timing sector);
// the map colours the current lap's completed parts along the outline (trackmap.ts).
// Fetched once per session; the DOM is rewritten only when a part completes or the
// lap or the focus changes.

import { api } from "./api";
import type { Driver, MiniSectorLap, MiniSectorTable, Snapshot } from "./types";

/** Colour of each mark (index: `MiniSectorMark`), "" for unknown; the map's and the cells'. */
export const MARK_COLOURS = ["", "#e8c547", "#2fd15a", "#b36bff"];
const MARK_CLASSES = ["ms-unknown", "ms-normal", "ms-pb", "ms-ob"];

/** What the map colours: the focused driver's current lap's completed parts. */
export interface MapMiniSectors {
  driver: string;
  lap: number;
  count: number; // parts in a lap
  marks: number[]; // the completed parts' marks, from the line on
  key: string; // changes whenever the parts to draw do
}

/** The table by driver and lap. */
export class MiniSectorIndex {
  private rows = new Map<string, MiniSectorLap>();

  constructor(readonly table: MiniSectorTable) {
    for (const row of table.laps) this.rows.set(`${row.driver}:${row.lap}`, row);
  }

  lap(driver: string, lap: number): MiniSectorLap | null {
    return this.rows.get(`${driver}:${lap}`) ?? null;
  }
}

/** How many of `row`'s parts were completed by session time `t` (seconds): parts complete in order. */
export function partsDone(row: MiniSectorLap | null, t: number): number {
  if (!row) return 0;
  const now = t * 1000;
  let n = 0;
  while (n < row.ends.length && row.ends[n] !== null && (row.ends[n] as number) <= now) n++;
  return n;
}

/** The strip's text alternative: "mini-sectors lap 4: 12 of 25 done, 2 purple, 5 green, 5 yellow". */
export function stripLabel(lap: number, row: MiniSectorLap | null, done: number, count: number) {
  if (lap <= 0) return "mini-sectors: no lap yet";
  if (!row) return `mini-sectors lap ${lap}: not timed line to line`;
  const tally = [0, 0, 0, 0];
  for (let k = 0; k < done; k++) tally[row.marks[k] ?? 0]++;
  const parts = [`${done} of ${count} done`];
  if (tally[3]) parts.push(`${tally[3]} purple`);
  if (tally[2]) parts.push(`${tally[2]} green`);
  if (tally[1]) parts.push(`${tally[1]} yellow`);
  if (tally[0]) parts.push(`${tally[0]} unknown`);
  return `mini-sectors lap ${lap}: ${parts.join(", ")}`;
}

/** A completed lap's speed trap: the official speed, else the top speed in each sector. */
export function speedTrapText(row: MiniSectorLap): string {
  if (row.speed_trap !== null) return `L${row.lap} speed trap ${row.speed_trap.toFixed(1)} km/h`;
  const tops = row.sector_top_speed.map((v, i) => `S${i + 1} ${v === null ? "–" : v.toFixed(1)}`);
  return `L${row.lap} top speed ${tops.join(" · ")} km/h`;
}

class Strip {
  readonly el: HTMLElement;
  private label: HTMLElement;
  private cells: HTMLElement[];
  private state = "";

  constructor(parent: HTMLElement, cls: string, count: number) {
    const row = document.createElement("div");
    row.className = `ms-row ${cls}`;
    this.label = document.createElement("span");
    this.label.className = "ms-label";
    this.label.setAttribute("aria-hidden", "true");
    this.el = document.createElement("div");
    this.el.className = "ms-strip";
    this.el.setAttribute("role", "img");
    this.cells = Array.from({ length: count }, () => {
      const cell = document.createElement("span");
      cell.className = "ms-cell";
      return cell;
    });
    this.el.style.gridTemplateColumns = `repeat(${count}, 1fr)`;
    this.el.append(...this.cells);
    row.append(this.label, this.el);
    parent.append(row);
  }

  show(lap: number, row: MiniSectorLap | null, done: number): void {
    const state = `${lap}:${row ? "t" : "-"}:${done}`;
    if (state === this.state) return;
    this.state = state;
    const marks = row ? row.marks.slice(0, done) : [];
    this.cells.forEach((cell, k) => {
      cell.className = k < marks.length ? `ms-cell ${MARK_CLASSES[marks[k]] ?? ""}` : "ms-cell";
    });
    this.label.textContent = lap > 0 ? `L${lap}` : "";
    this.el.dataset.lap = String(lap);
    this.el.dataset.timed = row ? "1" : "0";
    this.el.dataset.done = String(done);
    this.el.dataset.marks = marks.join(",");
    this.el.setAttribute("aria-label", stripLabel(lap, row, done, this.cells.length));
    this.el.classList.toggle("untimed", !row);
  }
}

export class MiniSectorPanel {
  private index: MiniSectorIndex | null = null;
  private count = 25;
  private current: Strip;
  private previous: Strip;
  private trap: HTMLElement;
  private note: HTMLElement;
  private key = "";
  private map: MapMiniSectors | null = null;

  constructor(
    private el: HTMLElement,
    sessionId: string,
    private drivers: Driver[],
  ) {
    el.replaceChildren();
    this.current = new Strip(el, "ms-current", this.count);
    this.previous = new Strip(el, "ms-previous", this.count);
    this.trap = document.createElement("div");
    this.trap.className = "ms-trap";
    this.note = document.createElement("p");
    this.note.className = "ms-note";
    this.note.textContent = "mini-sectors: loading…";
    el.append(this.trap, this.note);
    api
      .minisectors(sessionId)
      .then((table) => this.loaded(table))
      .catch((e: unknown) => {
        this.note.textContent = `mini-sectors not available: ${e instanceof Error ? e.message : e}`;
      });
  }

  private loaded(table: MiniSectorTable): void {
    if (table.count !== this.count) {
      this.count = table.count;
      const [current, previous] = [this.current, this.previous];
      this.current = new Strip(this.el, "ms-current", this.count);
      this.previous = new Strip(this.el, "ms-previous", this.count);
      current.el.parentElement!.replaceWith(this.current.el.parentElement!);
      previous.el.parentElement!.replaceWith(this.previous.el.parentElement!);
    }
    this.index = new MiniSectorIndex(table);
    this.note.textContent = table.notes.join(" · ");
    this.note.hidden = !table.notes.length;
    this.key = "";
  }

  /**
   * The focused driver's strips at `sessionTime` (a few times a second); returns what the
   * map colours (null: nothing, no driver followed or the table not loaded yet).
   */
  update(focused: number, snap: Snapshot, sessionTime: number): MapMiniSectors | null {
    if (focused < 0 || !this.index) {
      this.key = "";
      return (this.map = null);
    }
    const code = this.drivers[focused].code;
    const lap = Math.max(0, snap.values.lap[focused] | 0);
    const current = this.index.lap(code, lap);
    const previous = lap > 1 ? this.index.lap(code, lap - 1) : null;
    const done = partsDone(current, sessionTime);
    const prevDone = partsDone(previous, sessionTime);
    const key = `${code}:${lap}:${done}:${prevDone}`;
    if (key === this.key) return this.map;
    this.key = key;
    this.current.show(lap, current, done);
    this.previous.show(lap - 1, previous, prevDone);
    const complete = previous && prevDone === this.count;
    const trap = complete ? speedTrapText(previous) : "";
    if (this.trap.textContent !== trap) this.trap.textContent = trap;
    this.map = {
      driver: code,
      lap,
      count: this.count,
      marks: current ? current.marks.slice(0, done) : [],
      key: `${code}:${lap}:${done}`,
    };
    return this.map;
  }
}
