// Laps and the ghost comparison. The focused driver's laps are listed (time, sectors,
// tyre); picking two laps (two drivers, or two laps of one) fetches both from the
// lap-telemetry endpoint and replays them as ghosts on the map from a common start,
// with speed, throttle and brake overlaid by distance and the time delta along the lap.
// Each lap is drawn in its driver's style (driverstyle.ts); two laps of one driver
// draw the second in white, dotted.

import uPlot from "uplot";
import { api } from "./api";
import { type DriverStyle, seriesOf } from "./driverstyle";
import { formatLapTime } from "./laps";
import { lastAtOrBefore } from "./search";
import { interpAt } from "./telemetry_math";
import type { Driver, LapRow } from "./types";

export interface GhostLap {
  code: string;
  lap: number;
  colour: string;
  dash: number[];
  lapTime: Float64Array; // s since the lap's first frame
  distance: Float64Array; // m since the lap's first frame
  x: Float64Array;
  y: Float64Array;
  speed: (number | null)[];
  throttle: (number | null)[];
  brake: (number | null)[];
}

const GRID_M = 10;

const SAME_DRIVER_B = { colour: "#ffffff", dash: [2, 2] };

function toGhost(
  code: string,
  lap: number,
  style: { colour: string; dash: number[] },
  t: Record<string, (number | null)[]>,
): GhostLap {
  const d0 = t.distance.find((v) => v !== null) ?? 0;
  const f = (a: (number | null)[], off = 0) =>
    Float64Array.from(a, (v) => (v === null ? NaN : v - off));
  return {
    code,
    lap,
    colour: style.colour,
    dash: style.dash,
    lapTime: f(t.lap_time),
    distance: f(t.distance, d0),
    x: f(t.x),
    y: f(t.y),
    speed: t.speed,
    throttle: t.throttle,
    brake: t.brake.map((v) => (v === null ? null : Number(v) * (Number(v) <= 1 ? 100 : 1))),
  };
}

/** `ys` at `v` on the ascending `xs`, linearly; NaN outside, and no gap in the samples refused. */
const interp = (xs: Float64Array, ys: Float64Array, v: number): number =>
  interpAt(xs, ys, v, Infinity);

/** Where the ghost is `t` seconds into its lap (NaN once the lap is over). */
export function ghostPosition(g: GhostLap, t: number): { x: number; y: number; distance: number } {
  return {
    x: interp(g.lapTime, g.x, t),
    y: interp(g.lapTime, g.y, t),
    distance: interp(g.lapTime, g.distance, t),
  };
}

/** Values of a channel on the distance grid (nearest sample at or before each point). */
function onGrid(g: GhostLap, grid: number[], values: (number | null)[]): (number | null)[] {
  return grid.map((m) => {
    const i = lastAtOrBefore(g.distance, m);
    return i >= 0 && m - g.distance[i] < 3 * GRID_M ? values[i] : null;
  });
}

/** Time B is behind A at each grid distance (s; negative: B ahead). */
export function timeDelta(a: GhostLap, b: GhostLap, grid: number[]): (number | null)[] {
  return grid.map((m) => {
    const v = interp(b.distance, b.lapTime, m) - interp(a.distance, a.lapTime, m);
    return Number.isFinite(v) ? v : null;
  });
}

export class GhostPanel {
  private picks: { code: string; lap: number }[] = [];
  private plots: uPlot[] = [];
  private listKey = "";
  private listed: [number, number] = [-1, 0]; // the list's focused driver and session time
  ghosts: GhostLap[] = [];
  private elapsed = 0; // seconds into the lap, advanced at the replay's speed (a speed change never jumps)
  private lastAdvance = 0;
  onChange: () => void = () => {};

  constructor(
    private el: HTMLElement,
    private sessionId: string,
    private drivers: Driver[],
    private styles: DriverStyle[],
    private laps: LapRow[],
  ) {
    el.querySelector(".g-close")!.addEventListener("click", () => this.clear());
    el.querySelector(".g-restart")!.addEventListener("click", () => (this.elapsed = 0));
    // The charts follow the panel's width (a phone turned, a window resized).
    const box = el.querySelector<HTMLElement>(".g-compare")!;
    new ResizeObserver(() => {
      const width = Math.max(240, box.clientWidth - 14);
      for (const p of this.plots) if (p.width !== width) p.setSize({ width, height: p.height });
    }).observe(box);
  }

  /** The focused driver's completed laps (rebuilt only when the driver or the count changes). */
  updateList(focused: number, sessionTime: number): void {
    this.listed = [focused, sessionTime];
    const box = this.el.querySelector<HTMLElement>(".g-laps")!;
    if (focused < 0) {
      if (this.listKey !== "") box.replaceChildren();
      this.listKey = "";
      return;
    }
    const code = this.drivers[focused].code;
    const rows = this.laps.filter(
      (l) => l.driver === code && l.end !== null && l.end <= sessionTime,
    );
    const key = `${code}:${rows.length}:${this.picks.map((p) => `${p.code}${p.lap}`).join()}`;
    if (key === this.listKey) return;
    this.listKey = key;
    const flying = (r: LapRow) => r.pit_in == null && r.pit_out == null;
    const best = Math.min(...rows.filter(flying).map((r) => r.lap_time ?? Infinity));
    box.replaceChildren(
      ...rows.map((r) => {
        const tr = document.createElement("tr");
        const picked = this.picks.findIndex((p) => p.code === code && p.lap === r.lap);
        tr.className =
          (flying(r) && r.lap_time === best ? "pb " : "") + (picked >= 0 ? `pick${picked}` : "");
        tr.dataset.lap = String(r.lap);
        const sectors = [0, 1, 2].map((s) => r.sectors?.[s]);
        const kind = r.pit_out != null ? " out" : r.pit_in != null ? " in" : "";
        const cells = [
          `${r.lap}${kind}`,
          formatLapTime(r.lap_time ?? NaN) || "–",
          ...sectors.map((s) => (typeof s === "number" ? s.toFixed(3) : "–")),
          r.compound ?? "",
        ];
        for (const c of cells)
          tr.append(Object.assign(document.createElement("td"), { textContent: c }));
        const btn = Object.assign(document.createElement("button"), {
          textContent: picked === 0 ? "A" : picked === 1 ? "B" : "+",
          title: "Compare this lap",
        });
        btn.setAttribute(
          "aria-label",
          `Compare lap ${r.lap}${picked >= 0 ? ` (picked as ${btn.textContent})` : ""}`,
        );
        btn.addEventListener("click", () => void this.pick(code, r.lap));
        const td = document.createElement("td");
        td.append(btn);
        tr.append(td);
        return tr;
      }),
    );
  }

  /** Add a lap to the comparison; the second pick starts the ghosts. */
  async pick(code: string, lap: number): Promise<void> {
    this.picks = [
      ...this.picks.filter((p) => !(p.code === code && p.lap === lap)),
      { code, lap },
    ].slice(-2);
    // Rebuilt now, in the click: at the next panel tick it would replace the buttons
    // under the pointer, and a click on the next one would be lost.
    this.listKey = "";
    this.updateList(...this.listed);
    if (this.picks.length === 2) await this.compare();
  }

  private clear(): void {
    this.picks = [];
    this.ghosts = [];
    this.listKey = "";
    this.plots.forEach((p) => p.destroy());
    this.plots = [];
    this.el.querySelector<HTMLElement>(".g-compare")!.hidden = true;
    this.onChange();
  }

  private async compare(): Promise<void> {
    const [a, b] = this.picks;
    const styleOf = (code: string) =>
      this.styles[this.drivers.findIndex((d) => d.code === code)] ?? SAME_DRIVER_B;
    const same = a.code === b.code;
    const traces = await Promise.all(
      this.picks.map((p) => api.telemetry(this.sessionId, p.code, p.lap)),
    );
    this.ghosts = traces.map((t, i) =>
      toGhost(
        this.picks[i].code,
        this.picks[i].lap,
        i === 1 && same ? SAME_DRIVER_B : styleOf(this.picks[i].code),
        t,
      ),
    );
    this.elapsed = 0;
    const [ga, gb] = this.ghosts;
    const length = Math.min(
      ga.distance[ga.distance.length - 1],
      gb.distance[gb.distance.length - 1],
    );
    const grid = Array.from(
      { length: Math.max(2, Math.floor(length / GRID_M)) },
      (_, i) => i * GRID_M,
    );
    const box = this.el.querySelector<HTMLElement>(".g-compare")!;
    box.hidden = false;
    const label = (g: GhostLap) => `${g.code} L${g.lap}`;
    const times = this.ghosts.map((g) => {
      const row = this.laps.find((l) => l.driver === g.code && l.lap === g.lap);
      return `${label(g)} ${formatLapTime(row?.lap_time ?? NaN)}`;
    });
    box.querySelector(".g-title")!.textContent = `${times[0]} vs ${times[1]}`;
    this.plots.forEach((p) => p.destroy());
    const width = Math.max(240, box.clientWidth - 14);
    const axes = (unit: string): uPlot.Axis[] => [
      { stroke: "#9aa1ad", grid: { stroke: "#2a2e36" }, size: 24 },
      { stroke: "#9aa1ad", grid: { stroke: "#2a2e36" }, size: 40, label: unit, labelSize: 12 },
    ];
    const sync = { key: "ghost" };
    const chart = (
      cls: string,
      height: number,
      unit: string,
      series: uPlot.Series[],
      data: (number | null)[][],
    ) =>
      new uPlot(
        {
          width,
          height,
          scales: { x: { time: false } },
          axes: axes(unit),
          cursor: { sync },
          legend: { show: cls === "speed" },
          series: [{ label: "m" }, ...series],
        },
        [grid, ...data] as uPlot.AlignedData,
        box.querySelector<HTMLElement>(`.g-${cls}`)!,
      );
    this.plots = [
      chart(
        "speed",
        130,
        "km/h",
        [
          { label: label(ga), stroke: ga.colour, dash: ga.dash, width: 1.5 },
          { label: label(gb), stroke: gb.colour, dash: gb.dash, width: 1.5 },
        ],
        [onGrid(ga, grid, ga.speed), onGrid(gb, grid, gb.speed)],
      ),
      chart(
        "inputs",
        90,
        "thr/brk %",
        [
          { label: `${label(ga)} throttle`, stroke: ga.colour, dash: ga.dash },
          { label: `${label(gb)} throttle`, stroke: gb.colour, dash: gb.dash },
          { label: `${label(ga)} brake`, stroke: "#ff5c5c", dash: ga.dash },
          { label: `${label(gb)} brake`, stroke: "#ff9c9c", dash: gb.dash },
        ],
        [
          onGrid(ga, grid, ga.throttle),
          onGrid(gb, grid, gb.throttle),
          onGrid(ga, grid, ga.brake),
          onGrid(gb, grid, gb.brake),
        ],
      ),
      chart(
        "delta",
        80,
        "Δ s (B − A)",
        [{ label: "delta", stroke: "#e8c547", width: 1.5, fill: "#e8c54722" }],
        [timeDelta(ga, gb, grid)],
      ),
    ];
    this.listKey = "";
    this.onChange();
  }

  /** Seconds into the lap the ghosts are at `now`: they run at the replay's speed, looping. */
  ghostTime(now: number, speed: number): number {
    const longest = Math.max(...this.ghosts.map((g) => g.lapTime[g.lapTime.length - 1]));
    if (this.lastAdvance) this.elapsed += ((now - this.lastAdvance) / 1000) * speed;
    this.lastAdvance = now;
    if (longest > 0 && this.elapsed > longest + 2) this.elapsed = 0;
    return this.elapsed;
  }

  /** Each comparison chart's series as drawn (label, stroke, dash), for tests. */
  series(): { label: string; stroke: string; dash: number[] }[][] {
    return this.plots.map(seriesOf);
  }

  /** Move the charts' cursor to ghost A (a few times a second). */
  followCursor(t: number): void {
    if (!this.ghosts.length || !this.plots.length) return;
    const d = ghostPosition(this.ghosts[0], t).distance;
    if (!Number.isFinite(d)) return;
    const left = this.plots[0].valToPos(d, "x");
    if (Number.isFinite(left)) this.plots[0].setCursor({ left, top: 10 });
  }
}
