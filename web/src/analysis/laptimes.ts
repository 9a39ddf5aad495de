// The lap-time scatter: every completed lap's time per driver, by lap. Out-laps are
// drawn as ▲, in-laps as ▼, laps under the Safety Car, VSC or a red flag as hollow
// squares, other laps as dots. Laps far slower than the field's typical lap sit at the
// top edge. A click on a point replays that lap from its start.

import { formatLapTime } from "../laps";
import type { Chart } from "./chart";
import {
  type AnalysisContext,
  type AnalysisView,
  ByLapView,
  type DrawnSeries,
  lapTicks,
  ticks,
} from "./context";
import { completedBy, type Lap, underNeutralisation } from "./data";

type Kind = "lap" | "out" | "in" | "sc";

export class LapTimes extends ByLapView implements AnalysisView {
  readonly id = "laptimes";
  readonly label = "Lap times";
  private kinds: Map<Lap, Kind>;

  constructor(ctx: AnalysisContext) {
    super(ctx);
    this.kinds = new Map();
    for (const laps of ctx.byDriver)
      for (const l of laps)
        this.kinds.set(
          l,
          l.pitOut ? "out" : l.pitIn ? "in" : underNeutralisation(l, ctx.periods) ? "sc" : "lap",
        );
  }

  height(): number {
    return 240;
  }

  name(t: number): string {
    const lap = Math.floor(this.ctx.clock.lapAt(t));
    return `Lap times of ${this.ctx.drivers.length} drivers to lap ${lap}: triangles up out-laps, down in-laps, squares Safety Car laps`;
  }

  private laps(d: number, t: number): Lap[] {
    return completedBy(this.ctx.byDriver[d], t).filter((l) => Number.isFinite(l.time));
  }

  series(t: number): DrawnSeries[] {
    return this.ctx.drivers.map((drv, d) => {
      const laps = this.laps(d, t);
      return {
        driver: drv.code,
        colour: this.ctx.styles[d].colour,
        points: laps.map((l) => [l.lap, l.time]),
        marks: laps
          .filter((l) => this.kinds.get(l) !== "lap")
          .map((l) => `${this.kinds.get(l)}@${l.lap}`),
      };
    });
  }

  draw(chart: Chart, t: number, focused: number): void {
    const { drivers, styles } = this.ctx;
    const laps = Math.max(1, this.ctx.totalLaps);
    const all = drivers.map((_, d) => this.laps(d, t));
    // The y range: the fastest lap to a little above the typical racing lap.
    const racing = all
      .flat()
      .filter((l) => this.kinds.get(l) === "lap")
      .map((l) => l.time)
      .sort((a, b) => a - b);
    const times = all.flat().map((l) => l.time);
    const low = Math.min(...(racing.length ? racing : times), Infinity);
    const typical = racing.length ? racing[Math.floor(racing.length * 0.9)] : Math.max(...times);
    let min = Number.isFinite(low) ? Math.floor(low - 0.5) : 60;
    let max = Number.isFinite(typical)
      ? Math.ceil(Math.min(Math.max(...times), typical * 1.08) + 0.5)
      : 120;
    if (max - min < 2) [min, max] = [min - 1, max + 1];
    chart.begin({ min: 0.5, max: laps + 0.5 }, { min, max }, { left: 52 });
    chart.axes(lapTicks(laps), ticks(min, max, 5), String, formatLapTime);
    const c = chart.ctx;
    const order = drivers.map((_, d) => d).filter((d) => d !== focused);
    if (focused >= 0) order.push(focused);
    for (const d of order) {
      const style = styles[d];
      const r = d === focused ? 4 : 2.5;
      c.fillStyle = style.colour;
      c.strokeStyle = style.colour;
      c.lineWidth = 1.5;
      for (const l of all[d]) {
        const x = chart.px(l.lap);
        const y = chart.py(Math.min(l.time, max));
        const kind = this.kinds.get(l)!;
        c.beginPath();
        if (kind === "out") {
          c.moveTo(x, y - r - 1);
          c.lineTo(x + r + 1, y + r);
          c.lineTo(x - r - 1, y + r);
          c.closePath();
          c.stroke();
        } else if (kind === "in") {
          c.moveTo(x, y + r + 1);
          c.lineTo(x + r + 1, y - r);
          c.lineTo(x - r - 1, y - r);
          c.closePath();
          c.stroke();
        } else if (kind === "sc") {
          c.strokeRect(x - r, y - r, 2 * r, 2 * r);
        } else {
          c.arc(x, y, r, 0, 2 * Math.PI);
          c.fill();
        }
        const what =
          kind === "out"
            ? " (out-lap)"
            : kind === "in"
              ? " (in-lap)"
              : kind === "sc"
                ? " (Safety Car)"
                : "";
        chart.pick({
          x,
          y,
          w: r,
          h: r,
          time: l.start,
          label: `${drivers[d].code} lap ${l.lap}: ${formatLapTime(l.time)}${what}`,
        });
      }
    }
    chart.end();
  }
}
