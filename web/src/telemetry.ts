// Driver focus: live values from the playout buffer, and a stack of distance-aligned
// uPlot charts (speed, throttle, brake, gear, DRS, time delta; one cursor sync group)
// of the focused driver's current lap against a reference lap: the chosen rival's same
// lap, else the driver's best lap so far (the ghost). The current lap is drawn only as
// far as the car has got, with a line at now; the reference whole, faded (a rival's lap
// still under way only as far as the rival has got). The charts are built once and
// redrawn from their data as the car moves: no rebuild per refresh. Pure maths in
// telemetry_math.ts.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api, ApiError } from "./api";
import { type DriverStyle, seriesOf } from "./driverstyle";
import type { LapIndex } from "./laps";
import {
  buildChart,
  type ChartName,
  type ChartState,
  FADE,
  GHOST_COLOUR,
  SPECS,
  X_AXIS_PX,
} from "./telemetry_charts";
import {
  brakeKind,
  deltaAt,
  deltaRange,
  deltaSeries,
  distanceAtTime,
  distanceGrid,
  formatDelta,
  gridIndex,
  type LapTrace,
  lapLength,
  resample,
  toLapTrace,
} from "./telemetry_math";
import type { Driver, Snapshot } from "./types";

const GRID_M = 10;
const COST_LOG = 200; // entries of updateMs / drawMs kept

/** What the panel shows, for tests (`window.__rr.telemetry()`). */
export interface TelemetryReport {
  state: "hidden" | "loading" | "message" | "charts";
  message: string;
  driver: string | null;
  lap: number;
  reference: { code: string; lap: number; kind: "rival" | "ghost" } | null;
  /** Every chart: its y label and fixed scale; the missing-data message shown instead ("" when drawn). */
  charts: { name: string; yLabel: string; min: number; max: number; missing: string }[];
  xLabel: string;
  /** Race distance where the charted lap starts; the car's lap distance and data frame at the last update. */
  lapStart: number;
  carDistance: number;
  valuesFrame: number;
  /** Lap distance of the current lap's last drawn point (NaN: none drawn). */
  drawnTo: number;
  /** The reference's last drawn point (its whole lap, or as far as a rival has got). */
  referenceTo: number;
  /** The delta at the cursor (s, positive: slower; NaN unknown) and its label. */
  delta: number;
  deltaText: string;
  /** The panel's cost, the last few: chart redraws (ms, from the redraw call to the last
   * chart drawn, in uPlot's microtasks after the frame's callback) and `update` itself. */
  drawMs: number[];
  updateMs: number[];
}

interface Loaded {
  key: string;
  current: LapTrace | null;
  reference: LapTrace | null;
  referenceKind: "rival" | "ghost";
  note: string; // why the chosen rival is not the reference
  message: string; // shown instead of the charts ("" with charts)
}

export class TelemetryPanel {
  private plots = new Map<ChartName, uPlot>();
  private loadedKey = "";
  private rival = -1;
  private shown: Loaded | null = null;
  private grid: Float64Array = new Float64Array(0);
  private deltaValues: (number | null)[] = [];
  private deltaSpan = 1;
  private carDistance = NaN; // the car's lap distance at the last update
  private valuesFrame = NaN;
  private focused = -1;
  private drawStarted = 0;
  private drawMs: number[] = [];
  private updateMs: number[] = [];
  private charts: HTMLElement;
  private messageEl: HTMLElement;
  private deltaEl: HTMLElement;
  private missing = new Map<ChartName, HTMLElement>();
  private captions = new Map<ChartName, HTMLElement>();
  private keyEl: HTMLElement;
  // What the charts draw (telemetry_charts.ts reads it at every redraw).
  private look: ChartState = {
    line: { code: "", colour: GHOST_COLOUR, dash: [] },
    reference: { code: "ghost", colour: GHOST_COLOUR, dash: [4, 3] },
    cut: -1,
    refCut: -1,
    cursor: NaN,
    brake: "on/off",
  };

  constructor(
    private el: HTMLElement,
    private sessionId: string,
    private drivers: Driver[],
    private styles: DriverStyle[],
    private laps: LapIndex,
  ) {
    const select = el.querySelector<HTMLSelectElement>(".rival")!;
    select.replaceChildren(
      new Option("vs best lap (ghost)", "-1"),
      ...drivers.map((d, i) => new Option(`vs ${d.code}`, String(i))),
    );
    select.addEventListener("change", () => {
      this.rival = Number(select.value);
    });
    this.charts = el.querySelector<HTMLElement>(".t-charts")!;
    this.messageEl = el.querySelector<HTMLElement>(".t-msg")!;
    this.deltaEl = el.querySelector<HTMLElement>(".t-delta")!;
    this.keyEl = el.querySelector<HTMLElement>(".t-key")!;
    for (const spec of SPECS) {
      const row = document.createElement("div");
      row.className = "t-row";
      row.dataset.chart = spec.name;
      // The y axis' label: its quantity and unit, over the axis (telemetry.ts `label`).
      const caption = document.createElement("div");
      caption.className = "t-ylabel";
      row.append(caption);
      this.captions.set(spec.name, caption);
      const note = document.createElement("p");
      note.className = "t-missing";
      note.hidden = true;
      note.style.bottom = spec.name === "delta" ? `${X_AXIS_PX}px` : "0";
      row.append(note);
      this.missing.set(spec.name, note);
      this.charts.append(row);
    }
    // The charts follow the panel's width (a phone turned, a window resized).
    new ResizeObserver(() => {
      const width = this.width();
      for (const p of this.plots.values())
        if (p.width !== width) p.setSize({ width, height: p.height });
    }).observe(el);
  }

  /** Live numbers and the charts' cut at now (called a few times per second). */
  update(focused: number, snap: Snapshot, sessionTime: number): void {
    const started = performance.now();
    this.refresh(focused, snap, sessionTime);
    this.log(this.updateMs, performance.now() - started);
  }

  private log(into: number[], ms: number): void {
    into.push(ms);
    if (into.length > COST_LOG) into.splice(0, COST_LOG / 2);
  }

  private refresh(focused: number, snap: Snapshot, sessionTime: number): void {
    this.el.hidden = focused < 0;
    this.focused = focused;
    if (focused < 0) return;
    const v = snap.values;
    this.live(focused, snap);
    const lap = v.lap[focused] | 0;
    const code = this.drivers[focused].code;
    const rival = this.rival >= 0 && this.rival !== focused ? this.drivers[this.rival].code : "";
    const best = lap > 0 ? this.laps.bestLapNumber(code, sessionTime) : null;
    const key = `${code}:${lap}:${rival}:${best ?? ""}`;
    if (key !== this.loadedKey) {
      this.loadedKey = key;
      if (lap <= 0) this.show({ ...nothing(key), message: `${code}: no lap under way yet` });
      else void this.load(key, code, lap, rival, best);
    }
    if (this.shown?.key === key && this.shown.current)
      this.follow(v.distance[focused], snap, sessionTime);
  }

  /** The speed chart's series as drawn (label, stroke, dash), for tests; [] before one is drawn. */
  series(): { label: string; stroke: string; dash: number[] }[] {
    const plot = this.plots.get("speed");
    return plot && this.shown?.current ? seriesOf(plot) : [];
  }

  /** What the panel shows (for tests). */
  report(): TelemetryReport {
    const s = this.shown;
    const state =
      this.focused < 0
        ? "hidden"
        : !s || s.key !== this.loadedKey
          ? "loading"
          : s.message
            ? "message"
            : "charts";
    const ref = s?.reference;
    return {
      state,
      message: s?.message ?? "",
      driver: s?.current?.code ?? null,
      lap: s?.current?.lap ?? 0,
      reference: ref ? { code: ref.code, lap: ref.lap, kind: s.referenceKind } : null,
      charts: SPECS.map((spec) => {
        const [min, max] = spec.name === "delta" ? [-this.deltaSpan, this.deltaSpan] : spec.range;
        const missing = this.missing.get(spec.name)!;
        return {
          name: spec.name,
          yLabel: this.captions.get(spec.name)!.textContent ?? "",
          min,
          max,
          missing: missing.hidden ? "" : (missing.textContent ?? ""),
        };
      }),
      xLabel: "distance (m)",
      lapStart: s?.current?.start ?? NaN,
      carDistance: this.carDistance,
      valuesFrame: this.valuesFrame,
      drawnTo: this.look.cut >= 0 ? this.grid[this.look.cut] : NaN,
      referenceTo: this.look.refCut >= 0 ? this.grid[this.look.refCut] : NaN,
      delta: this.cursorDelta(),
      deltaText: this.deltaEl.textContent ?? "",
      drawMs: this.drawMs.slice(),
      updateMs: this.updateMs.slice(),
    };
  }

  private live(focused: number, snap: Snapshot): void {
    const v = snap.values;
    const set = (cls: string, text: string) => {
      const node = this.el.querySelector<HTMLElement>(cls)!;
      if (node.textContent !== text) node.textContent = text;
    };
    const drv = this.drivers[focused];
    this.el.style.setProperty("--team", this.styles[focused].colour);
    set(".t-driver", `${drv.code} ${drv.name}`);
    set(".t-speed", Number.isFinite(v.speed[focused]) ? `${Math.round(v.speed[focused])}` : "–");
    const gear = v.gear[focused];
    set(".t-gear", Number.isFinite(gear) ? (gear === 0 ? "N" : String(gear)) : "–");
    set(".t-rpm", Number.isFinite(v.rpm[focused]) ? `${Math.round(v.rpm[focused])}` : "–");
    set(".t-drs", v.drs[focused] === 2 ? "DRS OPEN" : v.drs[focused] === 1 ? "DRS" : "");
    this.el
      .querySelector<HTMLElement>(".t-throttle")!
      .style.setProperty("--v", `${v.throttle[focused] || 0}%`);
    this.el
      .querySelector<HTMLElement>(".t-brake")!
      .style.setProperty("--v", `${v.brake[focused] || 0}%`);
  }

  /** Fetch the current lap and its reference, then show them (unless the focus moved on). */
  private async load(
    key: string,
    code: string,
    lap: number,
    rival: string,
    best: number | null,
  ): Promise<void> {
    const fetchLap = async (drv: string, n: number): Promise<LapTrace | string> => {
      try {
        const trace = toLapTrace(drv, n, await api.telemetry(this.sessionId, drv, n));
        return trace ?? `no telemetry for ${drv} lap ${n}`;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return `no telemetry for ${drv} lap ${n}`;
        return `${drv} lap ${n} could not be loaded: ${e instanceof Error ? e.message : e}`;
      }
    };
    const none = Promise.resolve(null);
    const [current, ghost, rivalLap] = await Promise.all([
      fetchLap(code, lap),
      best !== null && best !== lap ? fetchLap(code, best) : none,
      rival ? fetchLap(rival, lap) : none,
    ]);
    if (key !== this.loadedKey) return; // the focus moved on while loading
    const loaded = nothing(key);
    if (typeof current === "string") loaded.message = current;
    else loaded.current = current;
    if (rivalLap && typeof rivalLap !== "string") {
      loaded.reference = rivalLap;
      loaded.referenceKind = "rival";
    } else {
      if (typeof rivalLap === "string") loaded.note = rivalLap;
      loaded.reference = ghost && typeof ghost !== "string" ? ghost : null;
      if (!loaded.reference && typeof ghost !== "string")
        loaded.note = [loaded.note, `${code} has no completed lap yet`].filter(Boolean).join("; ");
      if (typeof ghost === "string") loaded.note = [loaded.note, ghost].filter(Boolean).join("; ");
    }
    this.show(loaded);
  }

  /** New laps in the charts: data set once per lap (the cut moves with `follow`). */
  private show(loaded: Loaded): void {
    this.shown = loaded;
    this.messageEl.hidden = !loaded.message;
    this.messageEl.textContent = loaded.message;
    this.charts.hidden = !!loaded.message;
    this.look.cut = this.look.refCut = -1;
    this.carDistance = NaN;
    this.look.cursor = NaN;
    const { current, reference } = loaded;
    if (!current) {
      this.deltaEl.textContent = "";
      return;
    }
    const length = Math.max(lapLength(current), reference ? lapLength(reference) : 0);
    const grid = (this.grid = distanceGrid(length, GRID_M));
    this.look.brake = brakeKind(current);
    this.deltaValues = reference
      ? deltaSeries(current, reference, grid)
      : Array(grid.length).fill(null);
    this.deltaSpan = 1;
    const style = this.styles[this.drivers.findIndex((d) => d.code === current.code)];
    this.look.line = { code: current.code, colour: style.colour, dash: style.dash };
    const rival =
      loaded.referenceKind === "rival" && reference
        ? this.styles[this.drivers.findIndex((d) => d.code === reference.code)]
        : null;
    this.look.reference = rival
      ? { code: reference!.code, colour: rival.colour, dash: rival.dash }
      : { code: "ghost", colour: GHOST_COLOUR, dash: [4, 3] };
    const refLabel = reference
      ? loaded.referenceKind === "rival"
        ? `${reference.code} L${reference.lap}`
        : `best L${reference.lap} (ghost)`
      : "no reference";
    const xs = Array.from(grid);
    for (const spec of SPECS) {
      const name = spec.name;
      const data: (number | null)[][] =
        name === "delta"
          ? [xs, this.deltaValues]
          : [
              xs,
              resample(current, name, grid),
              reference ? resample(reference, name, grid) : xs.map(() => null),
            ];
      const missing =
        name === "delta"
          ? reference
            ? ""
            : `no reference lap: ${loaded.note || "choose a rival"}`
          : current.present.has(name)
            ? ""
            : `no ${spec.label("").replace(/ \(.*/, "")} data in ${current.code} lap ${current.lap}`;
      this.captions.get(name)!.textContent = spec.label(this.look.brake);
      const note = this.missing.get(name)!;
      note.hidden = !missing;
      note.textContent = missing;
      const plot = this.plots.get(name);
      if (plot) {
        if (name !== "delta") {
          Object.assign(plot.series[1], { label: `Lap ${current.lap}`, dash: this.look.line.dash });
          Object.assign(plot.series[2], { label: refLabel, dash: this.look.reference.dash });
        }
        plot.setData(data as uPlot.AlignedData);
        if (name === "delta") plot.setScale("y", { min: -1, max: 1 });
      } else {
        const row = this.charts.querySelector<HTMLElement>(`.t-row[data-chart=${name}]`)!;
        const labels = {
          lap: current.lap,
          reference: refLabel,
          sync: `telemetry-${this.sessionId}`,
        };
        const plot = buildChart(spec, data, row, this.width(), this.look, labels, (n) =>
          this.drawn(n),
        );
        this.plots.set(name, plot);
      }
    }
    this.key(current.lap, refLabel);
  }

  /** The lines' key over the charts: the current lap, and the reference, faded. */
  private key(lap: number, refLabel: string): void {
    const item = (label: string, colour: string, dash: number[], cls: string) => {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = label;
      span.style.setProperty("--line-colour", colour);
      span.style.setProperty("--line-style", dash.length ? "dashed" : "solid");
      return span;
    };
    this.keyEl.replaceChildren(
      item(
        `${this.look.line.code} lap ${lap}`,
        this.look.line.colour,
        this.look.line.dash,
        "t-key-current",
      ),
      item(
        refLabel,
        this.look.reference.colour + FADE,
        this.look.reference.dash,
        "t-key-reference",
      ),
    );
  }

  private width(): number {
    return Math.max(240, this.el.clientWidth - 14);
  }

  /** The line at now is drawn; the last chart drawn closes the redraw's timing. */
  private drawn(name: ChartName): void {
    if (name === "delta" && this.drawStarted) {
      this.log(this.drawMs, performance.now() - this.drawStarted);
      this.drawStarted = 0;
    }
  }

  /** Cut the current lap at the car, the reference at the rival's now; redraw what moved. */
  private follow(raceDistance: number, snap: Snapshot, sessionTime: number): void {
    const { current, reference, referenceKind } = this.shown!;
    if (!current) return;
    const d = raceDistance - current.start;
    this.carDistance = d;
    this.valuesFrame = snap.valuesFrame;
    const cut = Number.isFinite(d) ? gridIndex(this.grid, d) : -1;
    const refCut = !reference
      ? -1
      : referenceKind === "rival"
        ? gridIndex(this.grid, distanceAtTime(reference, sessionTime))
        : this.grid.length - 1;
    const cursor = this.nowDistance();
    this.deltaEl.textContent = this.deltaText(cursor);
    const plot = this.plots.get("speed");
    const moved =
      !plot ||
      !Number.isFinite(this.look.cursor) ||
      Math.abs(plot.valToPos(cursor, "x") - plot.valToPos(this.look.cursor, "x")) >= 1;
    if (cut === this.look.cut && refCut === this.look.refCut && !moved) return;
    this.look.cut = cut;
    this.look.refCut = refCut;
    this.look.cursor = cursor;
    const span = deltaRange(this.deltaValues, cut);
    this.drawStarted = performance.now();
    for (const [name, p] of this.plots) {
      if (name === "delta" && span !== this.deltaSpan) p.setScale("y", { min: -span, max: span });
      else p.redraw(true, false);
    }
    this.deltaSpan = span;
  }

  /** The car's lap distance, within the charts (NaN: unknown). */
  private nowDistance(): number {
    const d = this.carDistance;
    return Number.isFinite(d) ? Math.min(Math.max(d, 0), this.grid[this.grid.length - 1]) : NaN;
  }

  private cursorDelta(): number {
    const s = this.shown;
    if (!s?.current || !s.reference) return NaN;
    return deltaAt(s.current, s.reference, this.nowDistance());
  }

  /** "+0.312 s vs VER L12" at lap distance `d` (with why the chosen rival is not used). */
  private deltaText(d: number): string {
    const s = this.shown!;
    const ref = s.reference;
    const note = s.note ? `${s.note} · ` : "";
    if (!ref || !s.current) return note;
    const name =
      s.referenceKind === "rival" ? `${ref.code} L${ref.lap}` : `best L${ref.lap} (ghost)`;
    const delta = Number.isFinite(d) ? deltaAt(s.current, ref, d) : NaN;
    if (Number.isFinite(delta)) return `${note}${formatDelta(delta)} vs ${name}`;
    return `${note}${ref.code} not yet at this point of L${ref.lap}`;
  }
}

function nothing(key: string): Loaded {
  return { key, current: null, reference: null, referenceKind: "ghost", note: "", message: "" };
}
