// Qualifying and practice: each driver's best flying lap in each part (Q1, Q2, Q3, or
// the whole session), fastest first, as completed by the clock. The part running now is
// highlighted (the view's "now" marker); bars show the gap to the part's fastest lap.
// A click on a row replays that lap from its start.

import { formatLapTime } from "../laps";
import { segmentAt } from "../segments";
import type { Chart } from "./chart";
import { type AnalysisContext, type AnalysisView, type DrawnSeries } from "./context";
import { bestInPart, type PartBest } from "./data";
import { countAtOrBefore } from "../search";

const ROW_PX = 13;
const HEAD_PX = 18;
/** A gap this large fills a bar. */
const FULL_GAP = 3;

export class BestLaps implements AnalysisView {
  readonly id = "bestlaps";
  readonly label = "Best laps";
  private index: Map<string, number>;

  constructor(private ctx: AnalysisContext) {
    this.index = new Map(ctx.drivers.map((d, i) => [d.code, i]));
  }

  height(): number {
    return HEAD_PX + this.ctx.drivers.length * ROW_PX + 8;
  }

  private part(t: number): number {
    return segmentAt(this.ctx.segments, t);
  }

  key(t: number): string {
    return `${countAtOrBefore(this.ctx.allEnds, t)}:${this.part(t)}`;
  }

  cursor(): number {
    return NaN; // the part running now is highlighted instead
  }

  name(t: number): string {
    const parts = this.ctx.segments.map((s) => s.name).join(", ");
    return `Best laps per part (${parts}), fastest first; now in ${this.ctx.segments[this.part(t)].name}`;
  }

  /** Each part's bests known at `t` (parts not begun: none). */
  bests(t: number): PartBest[][] {
    return this.ctx.segments.map((s, k) =>
      s.start <= t ? bestInPart(this.ctx.byDriver, this.ctx.segments, k, t) : [],
    );
  }

  series(t: number): DrawnSeries[] {
    const bests = this.bests(t);
    return this.ctx.drivers.map((drv, d) => ({
      driver: drv.code,
      colour: this.ctx.styles[d].colour,
      // [part index, best lap time] for each part the driver set a time in.
      points: bests.flatMap((b, k) =>
        b.filter((x) => x.driver === drv.code).map((x): [number, number] => [k, x.time]),
      ),
      extra: bests.flatMap((b, k) =>
        b
          .filter((x) => x.driver === drv.code)
          .map((x) => ({ part: this.ctx.segments[k].name, ...x })),
      ),
    }));
  }

  draw(chart: Chart, t: number, focused: number): void {
    const { segments, drivers, styles } = this.ctx;
    const parts = segments.length;
    chart.begin({ min: 0, max: 1 }, { min: 0, max: 1 }, { left: 0, bottom: 0 });
    const c = chart.ctx;
    const now = this.part(t);
    const colW = chart.width / parts;
    const bests = this.bests(t);
    for (let k = 0; k < parts; k++) {
      const x0 = k * colW;
      if (k === now) {
        c.fillStyle = "rgba(108, 182, 255, 0.10)";
        c.fillRect(x0, 0, colW, chart.height);
        c.fillStyle = "#6cb6ff";
        c.fillRect(x0, 0, colW, 2);
      }
      c.fillStyle = k === now ? "#e6e8ec" : "#9aa1ad";
      c.font = "bold 11px system-ui, sans-serif";
      c.textAlign = "left";
      c.textBaseline = "middle";
      const state = segments[k].start > t ? " (to come)" : k === now ? " (now)" : "";
      c.fillText(`${segments[k].name}${state}`, x0 + 4, HEAD_PX / 2 + 1);
      c.font = "11px system-ui, sans-serif";
      const rows = bests[k];
      const fastest = rows[0]?.time ?? NaN;
      rows.forEach((b, i) => {
        const d = this.index.get(b.driver)!;
        const y = HEAD_PX + i * ROW_PX + ROW_PX / 2;
        const gap = b.time - fastest;
        const textW = 92;
        const barMax = colW - textW - 8;
        const w = barMax > 8 ? Math.max(2, Math.min(1, gap / FULL_GAP) * barMax) : 0;
        c.fillStyle = styles[d].colour;
        c.font = d === focused ? "bold 11px system-ui, sans-serif" : "11px system-ui, sans-serif";
        c.textAlign = "left";
        c.fillText(drivers[d].code, x0 + 4, y);
        c.fillText(i === 0 ? formatLapTime(b.time) : `+${gap.toFixed(3)}`, x0 + 36, y);
        if (w > 0) {
          c.globalAlpha = 0.75;
          c.fillRect(x0 + textW, y - 4, w, 8);
          c.globalAlpha = 1;
        }
        chart.pick({
          x: x0 + colW / 2,
          y,
          w: colW / 2 - 2,
          h: ROW_PX / 2 - 1,
          time: b.start,
          label: `${segments[k].name} P${i + 1} ${drivers[d].code}: ${formatLapTime(b.time)} (lap ${b.lap})`,
        });
      });
      if (!rows.length) {
        c.fillStyle = "#9aa1ad";
        c.fillText(segments[k].start > t ? "" : "no lap yet", x0 + 4, HEAD_PX + ROW_PX / 2);
      }
    }
    chart.end();
  }
}
