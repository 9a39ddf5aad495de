// The race analysis panel beside the map: tabs for its views, one chart at a time, all
// following the replay's clock (nothing after "now" is drawn) and seeking the replay
// where a point is clicked or chosen with the keyboard.
//
//   races and sprints:          lap chart, race trace, tyre strategy, lap times
//   qualifying and practice:    best laps per part, long-run pace
//
//   analysis/data.ts      the numbers, pure functions of the lap table and events
//   analysis/chart.ts     the canvas, scales, "now" cursor, click / keyboard picking
//   analysis/context.ts   what the views share, and the view's interface
//   analysis/*.ts         one module per view
//
// The loop refreshes it with the other panels (a few times a second): the cursor moves
// then, and a view redraws only when its picture changes (a lap completed, a stop, a
// status change), the focused driver changes, or its size does; never while the panel
// is scrolled out of sight.

import { BestLaps } from "./analysis/bestlaps";
import { Chart } from "./analysis/chart";
import { type AnalysisContext, type AnalysisView, type DrawnSeries } from "./analysis/context";
import { allLapEnds, LapClock, lapsByDriver, statusPeriods } from "./analysis/data";
import { LapChart } from "./analysis/lapchart";
import { LapTimes } from "./analysis/laptimes";
import { LongRuns } from "./analysis/longruns";
import { RaceTrace } from "./analysis/racetrace";
import { TyreChart } from "./analysis/tyres";
import type { DriverStyle } from "./driverstyle";
import type { OpenedSession } from "./picker";
import { roving, setTabStop } from "./roving";
import type { Segment } from "./segments";

const MARKED = new Set(["pit_stop", "retirement", "track_status"]);

/** What `window.__rr.analysis()` reports: the view shown and what it drew, for the tests. */
export interface AnalysisReport {
  view: string;
  views: string[];
  time: number; // the session time it was drawn at
  series: DrawnSeries[];
  points: { x: number; y: number; time: number; label: string }[];
}

export class AnalysisPanel {
  readonly views: AnalysisView[];
  private chart: Chart;
  private tabs: HTMLButtonElement[];
  private panel: HTMLElement;
  private current = 0;
  private drawnKey = "";
  private time = NaN;
  private focused = -1;
  private onScreen = true;

  constructor(
    root: HTMLElement,
    { meta, laps, events, results }: OpenedSession,
    styles: DriverStyle[],
    segments: Segment[],
    raceStart: number,
    seekTime: (sessionTime: number) => void,
  ) {
    const byDriver = lapsByDriver(
      laps,
      meta.drivers.map((d) => d.code),
    );
    const clock = new LapClock(byDriver, raceStart);
    const grid = new Map<string, number>();
    for (const r of results)
      if (typeof r.grid === "number" && typeof r.driver === "string") grid.set(r.driver, r.grid);
    const ctx: AnalysisContext = {
      drivers: meta.drivers,
      styles,
      byDriver,
      clock,
      allEnds: allLapEnds(byDriver),
      periods: statusPeriods(events),
      events,
      segments,
      totalLaps: Math.max(meta.info.total_laps ?? 0, clock.laps),
      grid,
      markTimes: Float64Array.from(
        events.filter((e) => MARKED.has(e.kind)),
        (e) => e.time,
      ).sort(),
    };
    const race = meta.info.kind === "race" || meta.info.kind === "sprint";
    this.views = race
      ? [new LapChart(ctx), new RaceTrace(ctx), new TyreChart(ctx), new LapTimes(ctx)]
      : [new BestLaps(ctx), new LongRuns(ctx)];

    const list = root.querySelector<HTMLElement>(".an-tabs")!;
    this.panel = root.querySelector<HTMLElement>(".an-panel")!;
    this.tabs = this.views.map((v, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.id = `an-tab-${v.id}`;
      b.dataset.view = v.id;
      b.setAttribute("role", "tab");
      b.setAttribute("aria-controls", "an-panel");
      b.textContent = v.label;
      b.addEventListener("click", () => this.show(i));
      return b;
    });
    list.replaceChildren(...this.tabs);
    roving(list, () => this.tabs, "horizontal");
    this.chart = new Chart(this.panel, seekTime);
    this.chart.onResize = () => this.redraw();
    // Out of sight (scrolled away), nothing is drawn; back in sight, it catches up.
    new IntersectionObserver((entries) => {
      this.onScreen = entries[entries.length - 1].isIntersecting;
      if (this.onScreen) this.update(this.time, this.focused);
    }).observe(root);
    this.show(0);
  }

  /** Show view `i` (its tab selected). */
  show(i: number): void {
    this.current = i;
    this.tabs.forEach((b, k) => {
      b.setAttribute("aria-selected", String(k === i));
      b.classList.toggle("active", k === i);
    });
    setTabStop(this.tabs, this.tabs[i]);
    this.panel.setAttribute("aria-labelledby", this.tabs[i].id);
    this.panel.dataset.view = this.views[i].id;
    this.redraw();
  }

  /** The clock is at `sessionTime` (a few times a second); `focused`: the followed driver. */
  update(sessionTime: number, focused: number): void {
    this.time = sessionTime;
    this.focused = focused;
    if (!this.onScreen || !Number.isFinite(sessionTime)) return;
    const view = this.views[this.current];
    const key = `${view.id}:${view.key(sessionTime)}:${focused}`;
    if (key !== this.drawnKey || !this.chart.sized) this.draw(key);
    this.chart.cursor(view.cursor(sessionTime));
  }

  /** What the view shown drew (`window.__rr.analysis()`). */
  report(): AnalysisReport {
    const view = this.views[this.current];
    return {
      view: view.id,
      views: this.views.map((v) => v.id),
      time: this.time,
      series: Number.isFinite(this.time) ? view.series(this.time) : [],
      points: this.chart.points().map(({ x, y, time, label }) => ({ x, y, time, label })),
    };
  }

  private redraw(): void {
    this.drawnKey = "";
    this.update(this.time, this.focused);
  }

  private draw(key: string): void {
    const view = this.views[this.current];
    this.chart.resize(view.height());
    if (!this.chart.sized) return;
    view.draw(this.chart, this.time, this.focused);
    this.chart.describe(view.name(this.time));
    this.drawnKey = key;
  }
}
