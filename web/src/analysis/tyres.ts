// The tyre strategy chart: one row per driver, each stint a bar over its laps coloured
// by compound, with the compound's letter and the tyre age at the stint's last lap
// (and its age when fitted, for a used set). Only laps completed by the clock show.
// A click on a bar replays from the stint's first lap.

import { COMPOUND_COLOURS, COMPOUNDS } from "../types";
import type { Chart } from "./chart";
import { type AnalysisView, ByLapView, type DrawnSeries, lapTicks } from "./context";
import { compoundIndex, type Stint, stintsBy } from "./data";

const ROW_PX = 14;

export class TyreChart extends ByLapView implements AnalysisView {
  readonly id = "tyres";
  readonly label = "Tyres";

  height(): number {
    return this.ctx.drivers.length * ROW_PX + 30;
  }

  name(t: number): string {
    const lap = Math.floor(this.ctx.clock.lapAt(t));
    return `Tyre strategy: stints of ${this.ctx.drivers.length} drivers by compound, to lap ${lap}`;
  }

  private stints(t: number): Stint[][] {
    return this.ctx.byDriver.map((laps) => stintsBy(laps, t));
  }

  series(t: number): DrawnSeries[] {
    return this.stints(t).map((stints, d) => ({
      driver: this.ctx.drivers[d].code,
      colour: this.ctx.styles[d].colour,
      points: stints.map((s) => [s.firstLap, s.lastLap]),
      extra: stints.map((s) => ({ ...s })),
    }));
  }

  draw(chart: Chart, t: number, focused: number): void {
    const { drivers, styles } = this.ctx;
    const n = drivers.length;
    const laps = Math.max(1, this.ctx.totalLaps);
    chart.begin({ min: 0, max: laps }, { min: 0, max: n }, { invertY: true, left: 40 });
    chart.axes(lapTicks(laps), []);
    const c = chart.ctx;
    const all = this.stints(t);
    // Rows in the running order at each driver's last completed lap (more laps first).
    const last = all.map((s) => s[s.length - 1]?.lastLap ?? 0);
    const place = this.ctx.byDriver.map(
      (laps, d) => laps.find((l) => l.lap === last[d])?.position ?? NaN,
    );
    const rank = (d: number) => (Number.isFinite(place[d]) ? place[d] : Infinity);
    const rows = drivers
      .map((_, d) => d)
      .sort((a, b) => last[b] - last[a] || rank(a) - rank(b) || a - b);
    rows.forEach((d, row) => {
      const y0 = chart.py(row) + 2;
      const h = chart.py(row + 1) - chart.py(row) - 4;
      c.fillStyle = styles[d].colour;
      c.font = d === focused ? "bold 11px system-ui, sans-serif" : "11px system-ui, sans-serif";
      c.textAlign = "right";
      c.textBaseline = "middle";
      c.fillText(drivers[d].code, chart.left - 4, y0 + h / 2);
      for (const s of all[d]) {
        const x0 = chart.px(s.firstLap - 1);
        const x1 = chart.px(s.lastLap);
        const ci = compoundIndex(s.compound);
        c.fillStyle = COMPOUND_COLOURS[ci];
        c.fillRect(x0 + 1, y0, Math.max(2, x1 - x0 - 2), h);
        const age = Number.isFinite(s.ageEnd) ? String(s.ageEnd) : "";
        const used = s.ageStart > 1 ? ` (${s.ageStart})` : "";
        const text = `${COMPOUNDS[ci]}${age}${used}`;
        if (x1 - x0 > c.measureText(text).width + 4) {
          c.fillStyle = ci === 1 || ci === 5 ? "#fff" : "#111";
          c.textAlign = "left";
          c.fillText(text, x0 + 3, y0 + h / 2);
        }
        chart.pick({
          x: (x0 + x1) / 2,
          y: y0 + h / 2,
          w: Math.max(1, (x1 - x0) / 2),
          h: h / 2,
          time: s.start,
          label:
            `${drivers[d].code} stint ${s.number}: ${s.compound || "unknown compound"}, ` +
            `laps ${s.firstLap}–${s.lastLap}, tyre age ${Number.isFinite(s.ageStart) ? s.ageStart : "?"}–${age || "?"}`,
        });
      }
    });
    c.font = "11px system-ui, sans-serif";
    chart.end();
  }
}
