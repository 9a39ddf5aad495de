// Qualifying and practice: long-run pace. Every run of at least LONG_RUN_LAPS consecutive
// laps without a pit in or out, as far as the clock has run it, fastest average first:
// the driver, the compound, the laps, the average (cool-down laps left out) and each
// lap's time as a small trace. A run still going at the clock is marked "now".
// A click on a row replays the run from its first lap.

import { formatLapTime } from "../laps";
import { countAtOrBefore } from "../search";
import { COMPOUND_COLOURS, COMPOUNDS } from "../types";
import type { Chart } from "./chart";
import { type AnalysisContext, type AnalysisView, type DrawnSeries } from "./context";
import { completedBy, compoundIndex, type LongRun, longRunsOf, LONG_RUN_LAPS } from "./data";

const ROW_PX = 15;
const MAX_ROWS = 30;

export class LongRuns implements AnalysisView {
  readonly id = "longruns";
  readonly label = "Long runs";
  private index: Map<string, number>;

  constructor(private ctx: AnalysisContext) {
    this.index = new Map(ctx.drivers.map((d, i) => [d.code, i]));
  }

  /** Every driver's long runs as run by `t`, fastest average first. */
  runs(t: number): LongRun[] {
    return this.ctx.byDriver
      .flatMap((laps) => longRunsOf(completedBy(laps, t)))
      .sort((a, b) => a.average - b.average || a.start - b.start);
  }

  height(): number {
    // Sized for the whole session's runs, so the panel does not grow while it plays.
    const n = Math.min(MAX_ROWS, Math.max(1, this.runs(Infinity).length));
    return n * ROW_PX + 12;
  }

  key(t: number): string {
    return `${countAtOrBefore(this.ctx.allEnds, t)}`;
  }

  cursor(): number {
    return NaN; // runs still going are marked "now" instead
  }

  name(t: number): string {
    return `Long-run pace: ${this.runs(t).length} runs of ${LONG_RUN_LAPS} or more laps without a pit stop, fastest average first`;
  }

  series(t: number): DrawnSeries[] {
    const runs = this.runs(t);
    return this.ctx.drivers.map((drv, d) => {
      const own = runs.filter((r) => r.driver === drv.code);
      return {
        driver: drv.code,
        colour: this.ctx.styles[d].colour,
        points: own.map((r) => [r.firstLap, r.average]),
        extra: own.map((r) => ({ ...r })),
      };
    });
  }

  draw(chart: Chart, t: number, focused: number): void {
    const { drivers, styles } = this.ctx;
    chart.begin({ min: 0, max: 1 }, { min: 0, max: 1 }, { left: 0, bottom: 0 });
    const c = chart.ctx;
    const runs = this.runs(t).slice(0, MAX_ROWS);
    c.textBaseline = "middle";
    if (!runs.length) {
      c.fillStyle = "#9aa1ad";
      c.textAlign = "left";
      c.fillText(`No run of ${LONG_RUN_LAPS} laps or more yet`, 4, ROW_PX / 2 + 2);
    }
    const best = runs[0]?.average ?? NaN;
    const traceX = 250;
    const traceW = chart.width - traceX - 8;
    runs.forEach((r, i) => {
      const d = this.index.get(r.driver)!;
      const y = 4 + i * ROW_PX + ROW_PX / 2;
      // Still going: its last lap is the driver's latest and no pit entry followed yet.
      const laps = this.ctx.byDriver[d];
      const next = laps.find((l) => l.lap === r.lastLap + 1);
      const going = !next || !(next.end <= t);
      c.fillStyle = styles[d].colour;
      c.font = d === focused ? "bold 11px system-ui, sans-serif" : "11px system-ui, sans-serif";
      c.textAlign = "left";
      c.fillText(drivers[d].code, 4, y);
      const ci = compoundIndex(r.compound);
      c.fillStyle = COMPOUND_COLOURS[ci];
      c.beginPath();
      c.arc(42, y, 5, 0, 2 * Math.PI);
      c.fill();
      c.fillStyle = ci === 1 || ci === 5 ? "#fff" : "#111";
      c.textAlign = "center";
      c.font = "bold 8px system-ui, sans-serif";
      c.fillText(COMPOUNDS[ci], 42, y + 0.5);
      c.font = "11px system-ui, sans-serif";
      c.fillStyle = "#e6e8ec";
      c.textAlign = "left";
      c.fillText(`${r.laps} laps`, 54, y);
      c.fillText(formatLapTime(r.average), 104, y);
      c.fillStyle = "#9aa1ad";
      c.fillText(i === 0 ? "" : `+${(r.average - best).toFixed(3)}`, 164, y);
      if (going) {
        c.fillStyle = "#6cb6ff";
        c.fillText("now", 220, y);
      }
      // Each lap's time: higher is slower, over the run's own range.
      if (traceW > 30) {
        const lo = Math.min(...r.times);
        const hi = Math.max(...r.times);
        const xs = r.times.map((_, j) => traceX + (j / Math.max(1, r.times.length - 1)) * traceW);
        c.strokeStyle = styles[d].colour;
        c.setLineDash(styles[d].dash);
        c.lineWidth = 1.2;
        c.beginPath();
        r.times.forEach((v, j) => {
          const yy = y + 5 - ((v - lo) / (hi - lo || 1)) * 10;
          if (j) c.lineTo(xs[j], yy);
          else c.moveTo(xs[j], yy);
        });
        c.stroke();
        c.setLineDash([]);
      }
      chart.pick({
        x: chart.width / 2,
        y,
        w: chart.width / 2 - 2,
        h: ROW_PX / 2 - 1,
        time: r.start,
        label:
          `${drivers[d].code} laps ${r.firstLap}–${r.lastLap} on ${r.compound || "unknown"}: ` +
          `average ${formatLapTime(r.average)} over ${r.counted} laps`,
      });
    });
    chart.end();
  }
}
