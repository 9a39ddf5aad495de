// The lap chart: every driver's position at the end of each lap (the grid at lap 0),
// pit stops as rings on the in-lap, retirements as crosses, up to the replay's clock.
// A click on a point replays from that lap's end.

import type { Chart } from "./chart";
import {
  type AnalysisContext,
  type AnalysisView,
  ByLapView,
  type DrawnSeries,
  PAST_END,
  lapTicks,
} from "./context";
import { lapEndsPerLap, positionsPerLap } from "./data";

interface Marked {
  lap: number;
  time: number; // when it becomes known
}

export class LapChart extends ByLapView implements AnalysisView {
  readonly id = "lapchart";
  readonly label = "Lap chart";
  private positions: Float64Array[];
  private ends: Float64Array[]; // [driver][lap] lap end (NaN: not completed)
  private pits: Marked[][];
  private retired: (Marked | null)[];

  constructor(ctx: AnalysisContext) {
    super(ctx);
    this.positions = positionsPerLap(ctx.byDriver);
    const n = this.positions[0]?.length ?? 1;
    this.ends = lapEndsPerLap(ctx.byDriver, n);
    const index = new Map(ctx.drivers.map((d, i) => [d.code, i]));
    this.pits = ctx.drivers.map(() => []);
    this.retired = ctx.drivers.map(() => null);
    for (const e of ctx.events) {
      const d = e.driver === null ? undefined : index.get(e.driver);
      if (d === undefined) continue;
      const lap = Number(e.data.lap);
      if (e.kind === "pit_stop" && lap > 0) this.pits[d].push({ lap, time: e.time });
      if (e.kind === "retirement") this.retired[d] = { lap, time: e.time };
    }
    // Without pit_stop events (practice-like data), the in-laps of the table.
    ctx.byDriver.forEach((laps, d) => {
      if (!this.pits[d].length)
        for (const l of laps)
          if (l.pitIn && Number.isFinite(l.end) && l.lap < ctx.totalLaps)
            this.pits[d].push({ lap: l.lap, time: l.end });
    });
  }

  height(): number {
    return Math.min(340, Math.max(160, this.ctx.drivers.length * 13 + 30));
  }

  name(t: number): string {
    const lap = Math.floor(this.ctx.clock.lapAt(t));
    return `Lap chart: position of ${this.ctx.drivers.length} drivers at each lap end, to lap ${lap}`;
  }

  /** Driver `d`'s [lap, position] points known at `t` (lap 0: the grid). */
  private points(d: number, t: number): [number, number][] {
    const pts: [number, number][] = [];
    const grid = this.ctx.grid.get(this.ctx.drivers[d].code);
    if (grid && grid > 0 && t >= this.ctx.clock.ends[0]) pts.push([0, grid]);
    const pos = this.positions[d];
    const ends = this.ends[d];
    for (let lap = 1; lap < pos.length; lap++)
      if (ends[lap] <= t && Number.isFinite(pos[lap])) pts.push([lap, pos[lap]]);
    return pts;
  }

  series(t: number): DrawnSeries[] {
    return this.ctx.drivers.map((drv, d) => ({
      driver: drv.code,
      colour: this.ctx.styles[d].colour,
      points: this.points(d, t),
      marks: [
        ...this.pits[d].filter((p) => p.time <= t).map((p) => `pit@${p.lap}`),
        ...(this.retired[d] && this.retired[d]!.time <= t
          ? [`retired@${this.retired[d]!.lap}`]
          : []),
      ],
    }));
  }

  draw(chart: Chart, t: number, focused: number): void {
    const { drivers, styles } = this.ctx;
    const n = drivers.length;
    const laps = Math.max(1, this.ctx.totalLaps);
    chart.begin({ min: 0, max: laps }, { min: 0.5, max: n + 0.5 }, { invertY: true, left: 28 });
    const ys =
      n <= 12 ? drivers.map((_, i) => i + 1) : [1, 5, 10, 15, 20, 25, 30].filter((v) => v <= n);
    chart.axes(lapTicks(laps), ys, String, (v) => `P${v}`);
    const c = chart.ctx;
    const order = drivers.map((_, d) => d).filter((d) => d !== focused);
    if (focused >= 0) order.push(focused);
    for (const d of order) {
      const pts = this.points(d, t);
      if (!pts.length) continue;
      const style = styles[d];
      const width = d === focused ? 3 : 1.5;
      chart.line(
        pts.map((p) => p[0]),
        pts.map((p) => p[1]),
        style.colour,
        style.dash,
        width,
      );
      c.fillStyle = style.colour;
      for (const [lap, pos] of pts) {
        const x = chart.px(lap);
        const y = chart.py(pos);
        c.fillRect(x - 1.5, y - 1.5, 3, 3);
        const time = lap === 0 ? this.ctx.clock.ends[0] : this.ends[d][lap] + PAST_END;
        chart.pick({
          x,
          y,
          w: 2,
          h: 2,
          time,
          label: `${drivers[d].code} ${lap === 0 ? "grid" : `lap ${lap}`}: P${pos}`,
        });
      }
      // Pit stops: a ring on the in-lap's point.
      const at = new Map(pts);
      c.strokeStyle = "#f0f0ec";
      c.lineWidth = 1.5;
      for (const p of this.pits[d]) {
        const pos = at.get(p.lap);
        if (p.time > t || pos === undefined) continue;
        c.beginPath();
        c.arc(chart.px(p.lap), chart.py(pos), 4.5, 0, 2 * Math.PI);
        c.stroke();
      }
      // Retired: a cross after the last lap completed.
      const r = this.retired[d];
      if (r && r.time <= t) {
        const [lap, pos] = pts[pts.length - 1];
        const x = chart.px(lap) + 6;
        const y = chart.py(pos);
        c.strokeStyle = "#ff5252";
        c.lineWidth = 2;
        c.beginPath();
        c.moveTo(x - 3.5, y - 3.5);
        c.lineTo(x + 3.5, y + 3.5);
        c.moveTo(x + 3.5, y - 3.5);
        c.lineTo(x - 3.5, y + 3.5);
        c.stroke();
      }
      // The code at the line's end.
      const [lap, pos] = pts[pts.length - 1];
      c.fillStyle = style.colour;
      c.textAlign = "left";
      c.textBaseline = "middle";
      c.fillText(drivers[d].code, chart.px(lap) + (r && r.time <= t ? 12 : 4), chart.py(pos));
    }
    chart.end();
  }
}
