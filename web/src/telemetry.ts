// Driver focus: live values from the playout buffer, and uPlot charts of the
// current lap against the driver's best lap and against a chosen rival, each
// driver's line in their style (driverstyle.ts: shade and dash for a second driver).

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "./api";
import { type DriverStyle, seriesOf } from "./driverstyle";
import type { LapIndex } from "./laps";
import type { Driver, Snapshot } from "./types";

type Trace = {
  start: number;
  distance: number[];
  speed: (number | null)[];
  throttle: (number | null)[];
};

function toTrace(t: Record<string, (number | null)[]>): Trace {
  const d0 = (t.distance.find((v) => v !== null) as number) ?? 0;
  return {
    start: d0,
    distance: t.distance.map((v) => (v === null ? NaN : v - d0)),
    speed: t.speed,
    throttle: t.throttle,
  };
}

/** Resample `trace.speed` onto `grid` (distance in metres) so uPlot gets one x axis. */
function onGrid(trace: Trace | null, grid: number[], key: "speed" | "throttle"): (number | null)[] {
  if (!trace) return grid.map(() => null);
  const out: (number | null)[] = [];
  let j = 0;
  for (const g of grid) {
    while (j < trace.distance.length - 1 && trace.distance[j + 1] < g) j++;
    const v = trace[key][j];
    out.push(Math.abs(trace.distance[j] - g) < 50 ? v : null);
  }
  return out;
}

export class TelemetryPanel {
  private plot: uPlot | null = null;
  private loadedKey = "";
  private rival = -1;
  private lapStart = NaN; // race distance where the charted lap starts

  constructor(
    private el: HTMLElement,
    private sessionId: string,
    private drivers: Driver[],
    private styles: DriverStyle[],
    private laps: LapIndex,
  ) {
    const select = el.querySelector<HTMLSelectElement>(".rival")!;
    select.replaceChildren(
      new Option("vs driver…", "-1"),
      ...drivers.map((d, i) => new Option(d.code, String(i))),
    );
    select.addEventListener("change", () => {
      this.rival = Number(select.value);
      this.loadedKey = "";
    });
  }

  /** Live numbers (called a few times per second). */
  update(focused: number, snap: Snapshot, sessionTime: number): void {
    this.el.hidden = focused < 0;
    if (focused < 0) return;
    const v = snap.values;
    const set = (cls: string, text: string) => {
      const node = this.el.querySelector<HTMLElement>(cls)!;
      if (node.textContent !== text) node.textContent = text;
    };
    const drv = this.drivers[focused];
    this.el.style.setProperty("--team", this.styles[focused].colour);
    set(".t-driver", `${drv.code} ${drv.name}`);
    set(".t-speed", Number.isFinite(v.speed[focused]) ? `${Math.round(v.speed[focused])}` : "–");
    set(
      ".t-gear",
      Number.isFinite(v.gear[focused])
        ? v.gear[focused] === 0
          ? "N"
          : String(v.gear[focused])
        : "–",
    );
    set(".t-rpm", Number.isFinite(v.rpm[focused]) ? `${Math.round(v.rpm[focused])}` : "–");
    set(".t-drs", v.drs[focused] === 2 ? "DRS OPEN" : v.drs[focused] === 1 ? "DRS" : "");
    this.el
      .querySelector<HTMLElement>(".t-throttle")!
      .style.setProperty("--v", `${v.throttle[focused] || 0}%`);
    this.el
      .querySelector<HTMLElement>(".t-brake")!
      .style.setProperty("--v", `${v.brake[focused] || 0}%`);
    // The chart's cursor follows the car through the lap (a cheap overlay move, no redraw).
    if (this.plot && Number.isFinite(this.lapStart) && Number.isFinite(v.distance[focused])) {
      const left = this.plot.valToPos(v.distance[focused] - this.lapStart, "x");
      if (Number.isFinite(left)) this.plot.setCursor({ left, top: 10 });
    }
    const lap = v.lap[focused] | 0;
    const key = `${focused}:${lap}:${this.rival}`;
    if (lap > 0 && key !== this.loadedKey) {
      this.loadedKey = key;
      void this.loadCharts(focused, lap, sessionTime, key);
    }
  }

  /** The chart's series as drawn (label, stroke, dash), for tests; [] before one is drawn. */
  series(): { label: string; stroke: string; dash: number[] }[] {
    return this.plot ? seriesOf(this.plot) : [];
  }

  private async loadCharts(
    focused: number,
    lap: number,
    sessionTime: number,
    key: string,
  ): Promise<void> {
    const code = this.drivers[focused].code;
    const best = this.laps.bestLapNumber(code, sessionTime);
    const fetchTrace = (drv: string, n: number | null) =>
      n && n > 0
        ? api
            .telemetry(this.sessionId, drv, n)
            .then(toTrace)
            .catch(() => null)
        : Promise.resolve(null);
    const [current, bestTrace, rival] = await Promise.all([
      fetchTrace(code, lap),
      fetchTrace(code, best),
      this.rival >= 0 ? fetchTrace(this.drivers[this.rival].code, lap) : Promise.resolve(null),
    ]);
    if (key !== this.loadedKey) return; // the focus moved on while loading
    this.lapStart = current?.start ?? NaN;
    const length = Math.max(
      ...[current, bestTrace, rival].map((t) =>
        t ? (t.distance.filter(Number.isFinite).pop() ?? 0) : 0,
      ),
    );
    const grid = Array.from({ length: Math.ceil(length / 10) + 1 }, (_, i) => i * 10);
    const data: uPlot.AlignedData = [
      grid,
      onGrid(current, grid, "speed"),
      onGrid(bestTrace, grid, "speed"),
      onGrid(rival, grid, "speed"),
    ];
    const box = this.el.querySelector<HTMLElement>(".t-chart")!;
    const width = Math.max(240, box.clientWidth);
    if (this.plot) this.plot.destroy();
    this.plot = new uPlot(
      {
        width,
        height: 160,
        scales: { x: { time: false } },
        axes: [
          { stroke: "#9aa1ad", grid: { stroke: "#2a2e36" } },
          { stroke: "#9aa1ad", grid: { stroke: "#2a2e36" } },
        ],
        series: [
          { label: "m" },
          {
            label: `Lap ${lap}`,
            stroke: this.styles[focused].colour,
            dash: this.styles[focused].dash,
            width: 2,
          },
          { label: best ? `Best (L${best})` : "Best", stroke: "#b36bff", width: 1 },
          this.rival >= 0
            ? {
                label: this.drivers[this.rival].code,
                stroke: this.styles[this.rival].colour,
                dash: this.styles[this.rival].dash,
                width: 1.5,
              }
            : { label: "–", stroke: "#e0e0e0", width: 1, dash: [4, 3] },
        ],
      },
      data,
      box,
    );
  }
}
