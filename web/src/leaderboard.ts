// The leaderboard. One DOM row per driver, created once and moved with a CSS
// transform when the order changes, and each cell is written only when its text
// changes: rows slide rather than being rebuilt, so nothing ever flickers.
// Races show the gap (or interval) in seconds, or in whole laps ("+1 L") for a
// lapped car; qualifying draws the elimination zone and greys the knocked-out.
// The rows are a listbox: Tab reaches it, the arrow keys move along the running order,
// Enter follows (focuses) a driver, as a click does.

import type { DriverStyle } from "./driverstyle";
import { formatLapTime, type LapIndex, SectorMark } from "./laps";
import { roving, setTabStop } from "./roving";
import { COMPOUNDS, COMPOUND_COLOURS, DriverStatus, type Driver, type Snapshot } from "./types";

const ROW_PX = 26;
const CELLS = [
  "pos",
  "delta",
  "drv",
  "gap",
  "last",
  "best",
  "s1",
  "s2",
  "s3",
  "tyre",
  "pits",
  "status",
] as const;
type Cell = (typeof CELLS)[number];

interface Row {
  el: HTMLElement;
  cells: Record<Cell, HTMLElement>;
  text: Record<Cell, string>;
  cls: Record<Cell, string>;
  y: number;
  pos: number; // the place shown (0: none)
}

/**
 * The race gap cell: "Leader" / "Interval" for the leader, "+N L" when the car is
 * N whole laps behind (the leader in Gap mode, the car ahead in Interval mode),
 * else seconds. Empty when the value is unknown.
 */
export function raceGapText(
  pos: number,
  showInterval: boolean,
  seconds: number,
  lapsBehind: number,
): string {
  if (pos === 1) return showInterval ? "Interval" : "Leader";
  if (lapsBehind >= 1) return `+${Math.floor(lapsBehind)} L`;
  return Number.isFinite(seconds) ? `+${seconds.toFixed(3)}` : "";
}

/**
 * A row between the cars: the pit-exit ghost (pitexit.ts) under the car it would come
 * out behind (`after`, a driver index; -1: at the top), in the driver's colour.
 */
export interface GhostRow {
  after: number;
  text: string;
  colour: string;
  driver: string; // code of the driver it belongs to
}

/** Qualifying: who goes through in the current part, and who is already out. */
export interface Cut {
  safe: number | null; // places that go through; rows below are in the elimination zone
  out: ArrayLike<number>; // 1 for a driver knocked out in an earlier part
}

export class Leaderboard {
  private rows: Row[];
  private cutLine: HTMLElement;
  private ghostRow: HTMLElement;
  /** The pit-exit ghost's row (null: none). */
  ghost: GhostRow | null = null;
  /** Qualifying parts: the zone and the knocked-out (null outside qualifying). */
  cut: Cut | null = null;
  showInterval = false;
  focused = -1;
  /** Qualifying and practice: best lap and gap to the fastest since this session time. */
  bestSince: number | null = null;
  private placed = false;
  private body: HTMLElement;
  private owned = ""; // the rows' ids in the running order, as the listbox's aria-owns has them
  onPick: (driver: number) => void = () => {};

  constructor(
    private root: HTMLElement,
    private drivers: Driver[],
    styles: DriverStyle[],
    private laps: LapIndex,
    private grid: Map<string, number>,
  ) {
    root.classList.add("leaderboard");
    const head = document.createElement("div");
    head.className = "lb-head";
    head.innerHTML =
      `<span class="pos">P</span><span class="delta"></span><span class="drv">Driver</span>` +
      `<span class="gap"><button class="gap-toggle" title="Gap to leader / interval (G)">Gap</button></span>` +
      `<span class="last">Last</span><span class="best">Best</span><span class="s1">S1</span><span class="s2">S2</span>` +
      `<span class="s3">S3</span><span class="tyre">Tyre</span><span class="pits">Pit</span><span class="status"></span>`;
    head.querySelector("button")!.addEventListener("click", () => this.toggleGap());
    const body = (this.body = document.createElement("div"));
    body.className = "lb-body";
    body.setAttribute("role", "listbox");
    body.setAttribute("aria-label", "Leaderboard: Enter follows a driver");
    body.style.height = `${drivers.length * ROW_PX}px`;
    this.cutLine = document.createElement("div");
    this.cutLine.className = "lb-cut";
    this.cutLine.hidden = true;
    this.cutLine.title = "Elimination zone below this line";
    this.cutLine.setAttribute("aria-hidden", "true");
    body.appendChild(this.cutLine);
    this.ghostRow = document.createElement("div");
    this.ghostRow.className = "lb-ghost";
    this.ghostRow.setAttribute("role", "option");
    this.ghostRow.setAttribute("aria-disabled", "true");
    this.ghostRow.hidden = true;
    body.appendChild(this.ghostRow);
    root.replaceChildren(head, body);
    this.rows = drivers.map((drv, d) => {
      const el = document.createElement("div");
      el.className = "lb-row";
      el.dataset.driver = drv.code;
      el.id = `lb-row-${d}`;
      el.setAttribute("role", "option");
      el.setAttribute("aria-selected", "false");
      el.setAttribute("aria-setsize", String(drivers.length));
      el.style.setProperty("--team", styles[d].colour);
      el.classList.toggle("second", styles[d].second);
      const cells = {} as Record<Cell, HTMLElement>;
      const text = {} as Record<Cell, string>;
      const cls = {} as Record<Cell, string>;
      for (const c of CELLS) {
        const span = document.createElement("span");
        span.className = c;
        el.appendChild(span);
        cells[c] = span;
        text[c] = "";
        cls[c] = c;
      }
      el.addEventListener("click", () => this.onPick(d));
      el.addEventListener("keydown", (e) => {
        if (e.key !== "Enter") return; // Space stays the replay's play / pause
        e.preventDefault();
        this.onPick(d);
      });
      body.appendChild(el);
      return { el, cells, text, cls, y: -1, pos: 0 };
    });
    const shown = () => [...this.rows].sort((a, b) => a.y - b.y).map((r) => r.el);
    roving(body, shown, "vertical");
    setTabStop(shown());
  }

  /** The place driver `d` has on the board now (0: none) and the gap cell's text. */
  standing(d: number): { position: number; gap: string } {
    const row = this.rows[d];
    return { position: row.pos, gap: row.text.gap };
  }

  /** The pit-exit ghost's row at display slot `slot` (-1: hidden); the body grows by a row. */
  private showGhost(ghost: GhostRow | null, slot: number): void {
    const el = this.ghostRow;
    const rows = this.drivers.length + (ghost ? 1 : 0);
    const height = `${rows * ROW_PX}px`;
    if (this.body.style.height !== height) this.body.style.height = height;
    if (!ghost) {
      if (!el.hidden) el.hidden = true;
      return;
    }
    el.hidden = false;
    const text = `${ghost.driver} ${ghost.text}`;
    if (el.textContent !== text) el.textContent = text;
    el.dataset.driver = ghost.driver;
    el.style.setProperty("--team", ghost.colour);
    el.style.transform = `translateY(${slot * ROW_PX}px)`;
  }

  /** The pit-exit ghost row's words, "" when none is shown (for tests). */
  ghostText(): string {
    return this.ghostRow.hidden ? "" : (this.ghostRow.textContent ?? "");
  }

  toggleGap(): void {
    this.showInterval = !this.showInterval;
    this.root.querySelector(".gap-toggle")!.textContent = this.showInterval ? "Int" : "Gap";
  }

  private set(row: Row, cell: Cell, text: string, extra = ""): void {
    if (row.text[cell] !== text) {
      row.cells[cell].textContent = text;
      row.text[cell] = text;
    }
    const cls = extra ? `${cell} ${extra}` : cell;
    if (row.cls[cell] !== cls) {
      row.cells[cell].className = cls;
      row.cls[cell] = cls;
    }
  }

  /** The running order shown, as driver codes (for tests). */
  order(): string[] {
    return this.rows
      .map((r, d) => ({ y: r.y, code: this.drivers[d].code }))
      .sort((a, b) => a.y - b.y)
      .map((r) => r.code);
  }

  update(snap: Snapshot, sessionTime: number): void {
    const v = snap.values;
    const n = this.drivers.length;
    const timed = this.bestSince !== null;
    const since = this.bestSince ?? -Infinity;
    const segmentBest = timed
      ? this.drivers.map((drv) => this.laps.bestSince(drv.code, since, sessionTime))
      : [];
    const fastest = Math.min(
      ...segmentBest.filter((t, d) => Number.isFinite(t) && !((this.cut?.out[d] ?? 0) > 0)),
    );
    // Unclassified drivers (position 0) go to the bottom, in a stable order.
    const byPosition = (a: number, b: number) =>
      (v.position[a] || 1000 + a) - (v.position[b] || 1000 + b);
    // Timed sessions rank by the best lap shown, so the board agrees with itself between
    // samples of the position channel; drivers without a time keep the timeline's order.
    // In qualifying the knocked-out sit below the drivers still running, in the timeline's order.
    const cut = timed ? this.cut : null;
    const isOut = (d: number) => (cut?.out[d] ?? 0) > 0;
    const byBest = (a: number, b: number) =>
      Number(isOut(a)) - Number(isOut(b)) ||
      (isOut(a)
        ? 0
        : (Number.isFinite(segmentBest[a]) ? segmentBest[a] : Infinity) -
          (Number.isFinite(segmentBest[b]) ? segmentBest[b] : Infinity)) ||
      byPosition(a, b);
    const order = Array.from({ length: n }, (_, i) => i).sort(timed ? byBest : byPosition);
    // A screen reader reads the rows in the running order, not in the DOM's (which never changes).
    const owned = order.map((d) => this.rows[d].el.id).join(" ");
    if (owned !== this.owned) this.body.setAttribute("aria-owns", (this.owned = owned));
    const ghost = this.ghost;
    const slot = ghost ? (ghost.after >= 0 ? order.indexOf(ghost.after) + 1 : 0) : -1;
    this.showGhost(ghost, slot);
    // Rows slide into place from the second update on; the first one places them at once.
    if (!this.placed) requestAnimationFrame(() => this.root.classList.add("animated"));
    this.placed = true;
    order.forEach((d, rank) => {
      const row = this.rows[d];
      const drv = this.drivers[d];
      const pos = timed && v.position[d] > 0 ? rank + 1 : v.position[d];
      const status = v.status[d];
      const lap = this.laps.state(drv.code, sessionTime);
      const place = slot >= 0 && rank >= slot ? rank + 1 : rank; // below the ghost's row
      if (row.y !== place) {
        row.el.style.transform = `translateY(${place * ROW_PX}px)`;
        row.el.setAttribute("aria-posinset", String(rank + 1));
        row.y = place;
      }
      row.pos = pos > 0 ? pos : 0;
      const focused = d === this.focused;
      if (row.el.classList.contains("focused") !== focused) {
        row.el.classList.toggle("focused", focused);
        row.el.setAttribute("aria-selected", String(focused));
      }
      row.el.classList.toggle(
        "retired",
        status === DriverStatus.Retired || status === DriverStatus.DidNotStart,
      );
      row.el.classList.toggle("out", isOut(d));
      row.el.classList.toggle(
        "danger",
        !!cut && cut.safe !== null && !isOut(d) && rank >= cut.safe,
      );
      this.set(row, "pos", pos > 0 ? String(pos) : "–");
      const grid = this.grid.get(drv.code);
      const gained = grid !== undefined && pos > 0 ? grid - pos : 0;
      this.set(
        row,
        "delta",
        gained > 0 ? `▲${gained}` : gained < 0 ? `▼${-gained}` : "",
        gained > 0 ? "up" : gained < 0 ? "down" : "",
      );
      this.set(row, "drv", drv.code);
      if (timed) {
        const gapValue = segmentBest[d] - fastest;
        this.set(
          row,
          "gap",
          !Number.isFinite(gapValue) ? "" : gapValue === 0 ? "Fastest" : `+${gapValue.toFixed(3)}`,
        );
      } else {
        const seconds = this.showInterval ? v.interval[d] : v.gap[d];
        const lapsBehind = this.showInterval ? v.interval_laps[d] : v.gap_laps[d];
        this.set(row, "gap", raceGapText(pos, this.showInterval, seconds, lapsBehind));
      }
      this.set(row, "last", formatLapTime(lap.lastLap));
      const overall = this.laps.overallBest(sessionTime);
      const best = timed ? segmentBest[d] : lap.bestLap;
      this.set(
        row,
        "best",
        formatLapTime(best),
        Number.isFinite(best) && best <= (timed ? fastest : overall) ? "ob" : "",
      );
      (["s1", "s2", "s3"] as const).forEach((c, s) => {
        const mark = lap.marks[s];
        this.set(
          row,
          c,
          Number.isFinite(lap.sectors[s]) ? lap.sectors[s].toFixed(1) : "",
          mark === SectorMark.OverallBest
            ? "ob"
            : mark === SectorMark.PersonalBest
              ? "pb"
              : mark === SectorMark.Normal
                ? "nb"
                : "",
        );
      });
      const compound = v.compound[d] | 0;
      // Age 0 is unknown (timing counts a new set's first lap as 1): show the compound alone.
      const age = v.tyre_age[d] > 0 ? ` ${v.tyre_age[d]}` : "";
      this.set(row, "tyre", compound ? `${COMPOUNDS[compound]}${age}` : "", `c${compound}`);
      row.cells.tyre.style.setProperty("--tyre", COMPOUND_COLOURS[compound] ?? "#888");
      this.set(row, "pits", lap.pits > 0 ? String(lap.pits) : "");
      const label =
        status === DriverStatus.PitLane
          ? "PIT"
          : status === DriverStatus.Retired
            ? "RET"
            : status === DriverStatus.DidNotStart
              ? "DNS"
              : status === DriverStatus.Finished
                ? "FIN"
                : lap.outLap
                  ? "OUT"
                  : "";
      this.set(row, "status", label, label.toLowerCase());
    });
    const safe = cut?.safe ?? null;
    const show = safe !== null && safe < n;
    if (this.cutLine.hidden === show) this.cutLine.hidden = !show;
    if (show && this.cutLine.dataset.safe !== String(safe)) {
      this.cutLine.dataset.safe = String(safe);
      this.cutLine.style.transform = `translateY(${safe * ROW_PX - 1}px)`;
    }
  }
}
