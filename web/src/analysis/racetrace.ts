// The race trace: each driver's gap to the leader at every lap end (the difference of
// cumulative race time to the first car completing that lap), leader on top, with the
// Safety Car, VSC and red flag periods as bands. A click on a point replays from it.

import { formatLapTime } from "../laps";
import type { Chart } from "./chart";
import {
  type AnalysisContext,
  type AnalysisView,
  ByLapView,
  type DrawnSeries,
  PAST_END,
  lapTicks,
  ticks,
} from "./context";
import { gapsPerLap, lapEndsPerLap } from "./data";

const BAND: Record<string, string> = {
  sc: "rgba(255, 152, 0, 0.22)",
  vsc: "rgba(255, 209, 46, 0.14)",
  red: "rgba(225, 6, 0, 0.22)",
};
/** Gaps beyond this (lapped cars) leave the chart at its bottom edge. */
const MAX_GAP = 120;

export class RaceTrace extends ByLapView implements AnalysisView {
  readonly id = "racetrace";
  readonly label = "Race trace";
  private gaps: Float64Array[];
  private ends: Float64Array[];

  constructor(ctx: AnalysisContext) {
    super(ctx);
    this.gaps = gapsPerLap(ctx.byDriver, ctx.clock);
    this.ends = lapEndsPerLap(ctx.byDriver, ctx.clock.laps + 1);
  }

  height(): number {
    return 240;
  }

  name(t: number): string {
    const lap = Math.floor(this.ctx.clock.lapAt(t));
    return `Race trace: gap to the leader of ${this.ctx.drivers.length} drivers at each lap end, to lap ${lap}, Safety Car periods shaded`;
  }

  private points(d: number, t: number): [number, number][] {
    const pts: [number, number][] = [];
    const g = this.gaps[d];
    for (let lap = 1; lap < g.length; lap++)
      if (this.ends[d][lap] <= t && Number.isFinite(g[lap])) pts.push([lap, g[lap]]);
    return pts;
  }

  /** The track status periods begun by `t`, as fractional laps (cut at `t`). */
  private bands(t: number): { kind: string; from: number; to: number }[] {
    const clock = this.ctx.clock;
    return this.ctx.periods
      .filter((p) => p.start <= t)
      .map((p) => ({
        kind: p.kind,
        from: clock.lapAt(p.start),
        to: clock.lapAt(Math.min(p.end, t)),
      }));
  }

  series(t: number): DrawnSeries[] {
    const bands = this.bands(t).map((b) => `${b.kind}@${b.from.toFixed(2)}-${b.to.toFixed(2)}`);
    return this.ctx.drivers.map((drv, d) => ({
      driver: drv.code,
      colour: this.ctx.styles[d].colour,
      points: this.points(d, t),
      marks: bands,
    }));
  }

  draw(chart: Chart, t: number, focused: number): void {
    const { drivers, styles } = this.ctx;
    const laps = Math.max(1, this.ctx.totalLaps);
    const all = drivers.map((_, d) => this.points(d, t));
    let top = 1;
    for (const pts of all) for (const [, g] of pts) if (g <= MAX_GAP) top = Math.max(top, g);
    top = Math.min(MAX_GAP, top * 1.05);
    chart.begin({ min: 0, max: laps }, { min: 0, max: top }, { invertY: true, left: 40 });
    for (const b of this.bands(t)) chart.band(b.from, b.to, BAND[b.kind]);
    chart.axes(lapTicks(laps), ticks(0, top, 5), String, (v) => `+${v}s`);
    const c = chart.ctx;
    c.save();
    c.beginPath();
    c.rect(
      chart.left - 4,
      chart.top - 4,
      chart.right - chart.left + 30,
      chart.bottom - chart.top + 8,
    );
    c.clip();
    const order = drivers.map((_, d) => d).filter((d) => d !== focused);
    if (focused >= 0) order.push(focused);
    for (const d of order) {
      const pts = all[d];
      if (!pts.length) continue;
      const style = styles[d];
      const ys = pts.map((p) => Math.min(p[1], top));
      chart.line(
        pts.map((p) => p[0]),
        ys,
        style.colour,
        style.dash,
        d === focused ? 3 : 1.5,
      );
      c.fillStyle = style.colour;
      pts.forEach(([lap, gap], i) => {
        const x = chart.px(lap);
        const y = chart.py(ys[i]);
        c.fillRect(x - 1.5, y - 1.5, 3, 3);
        chart.pick({
          x,
          y,
          w: 2,
          h: 2,
          time: this.ends[d][lap] + PAST_END,
          label: `${drivers[d].code} lap ${lap}: ${gap === 0 ? "leader" : `+${formatLapTime(gap)}`}`,
        });
      });
      const [lap] = pts[pts.length - 1];
      c.textAlign = "left";
      c.textBaseline = "middle";
      c.fillText(drivers[d].code, chart.px(lap) + 4, chart.py(ys[ys.length - 1]));
    }
    c.restore();
    chart.end();
  }
}
