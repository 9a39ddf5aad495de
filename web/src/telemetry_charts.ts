// How the telemetry panel's charts look (telemetry.ts): one uPlot chart per channel and
// one for the delta, stacked on one distance axis with the same y-axis width so their
// plot areas line up, each y axis on a fixed scale. The lines read a `ChartState` the
// panel mutates, so moving the cut or changing laps needs a redraw, never a rebuild:
// the current lap stops at grid index `cut`, the reference at `refCut`, and a line is
// drawn at lap distance `cursor` (now).

import uPlot from "uplot";
import type { Channel } from "./telemetry_math";

export const GHOST_COLOUR = "#b36bff";
export const FADE = "99"; // the reference's alpha, appended to its #RRGGBB
const Y_AXIS_PX = 52;
export const X_AXIS_PX = 30;

export type ChartName = Channel | "delta";
export type LineStyle = { code: string; colour: string; dash: number[] };

/** What the charts draw, read at every redraw. */
export interface ChartState {
  line: LineStyle; // the current lap
  reference: LineStyle;
  cut: number; // the current lap's last grid index drawn (-1: none)
  refCut: number;
  cursor: number; // lap distance of now (NaN: no line)
  brake: "on/off" | "%";
}

export interface ChartSpec {
  name: ChartName;
  height: number;
  range: [number, number];
  splits: number[];
  stepped: boolean;
  label: (kind: string) => string;
  tick?: (v: number, kind: string) => string;
}

export const SPECS: ChartSpec[] = [
  {
    name: "speed",
    height: 84,
    range: [0, 360],
    splits: [0, 100, 200, 300],
    stepped: false,
    label: () => "speed (km/h)",
  },
  {
    name: "throttle",
    height: 50,
    range: [-8, 108],
    splits: [0, 50, 100],
    stepped: false,
    label: () => "throttle (%)",
  },
  {
    name: "brake",
    height: 38,
    range: [-12, 112],
    splits: [0, 100],
    stepped: true,
    label: (kind) => `brake (${kind})`,
    tick: (v, kind) => (kind === "%" ? String(v) : v >= 50 ? "on" : "off"),
  },
  {
    name: "gear",
    height: 56,
    range: [-0.5, 8.5],
    splits: [2, 4, 6, 8],
    stepped: true,
    label: () => "gear",
    tick: (v) => (v === 0 ? "N" : String(v)),
  },
  {
    name: "drs",
    height: 52,
    range: [-0.3, 2.3],
    splits: [0, 1, 2],
    stepped: true,
    label: () => "DRS",
    tick: (v) => ["closed", "available", "open"][v] ?? "",
  },
  {
    name: "delta",
    height: 64 + X_AXIS_PX,
    range: [-1, 1],
    splits: [],
    stepped: false,
    label: () => "delta (s)",
  },
];

/** The chart of `spec` in `row`: `data` is [distance grid, current lap, reference] (delta: [grid, delta]). */
export function buildChart(
  spec: ChartSpec,
  data: (number | null)[][],
  row: HTMLElement,
  width: number,
  state: ChartState,
  labels: { lap: number; reference: string; sync: string },
  drawn: (name: ChartName) => void,
): uPlot {
  const delta = spec.name === "delta";
  const base = spec.stepped ? uPlot.paths.stepped!({ align: 1 }) : uPlot.paths.linear!();
  const axis = { stroke: "#9aa1ad", font: "10px sans-serif", labelFont: "11px sans-serif" };
  const grid = { stroke: "#2a2e36", width: 1 };
  const series: uPlot.Series[] = [
    { label: "m" },
    {
      label: delta ? "delta" : `Lap ${labels.lap}`,
      stroke: delta ? "#e8c547" : () => state.line.colour,
      dash: delta ? [] : state.line.dash,
      width: 1.5,
      points: { show: false },
      paths: cutPaths(base, () => state.cut),
    },
  ];
  if (!delta)
    series.push({
      label: labels.reference,
      stroke: () => state.reference.colour + FADE,
      dash: state.reference.dash,
      width: 1,
      points: { show: false },
      paths: cutPaths(base, () => state.refCut),
    });
  const opts: uPlot.Options = {
    width,
    height: spec.height,
    legend: { show: false },
    padding: [6, 10, delta ? 0 : 2, 0],
    cursor: { sync: { key: labels.sync }, drag: { x: false, y: false } },
    scales: {
      x: { time: false },
      y: delta ? { auto: false, range: [-1, 1] } : { auto: false, range: spec.range },
    },
    axes: [
      delta
        ? { ...axis, grid, size: X_AXIS_PX, label: "distance (m)", labelSize: 12, labelGap: 0 }
        : {
            ...axis,
            grid,
            size: 0,
            ticks: { show: false },
            values: (_u, splits) => splits.map(() => ""),
          },
      {
        ...axis,
        grid,
        size: Y_AXIS_PX,
        splits: delta ? (_u, _i, min, max) => [min, 0, max] : () => spec.splits,
        values: (_u, splits) =>
          splits.map((v) =>
            spec.tick ? spec.tick(v, state.brake) : delta && v > 0 ? `+${v}` : String(v),
          ),
      },
    ],
    series,
    hooks: {
      draw: [
        (u) => {
          drawNow(u, state.cursor);
          drawn(spec.name);
        },
      ],
    },
  };
  return new uPlot(opts, data as uPlot.AlignedData, row);
}

/** `base`'s path, stopped at grid index `last()` (none before the lap's first point). */
function cutPaths(base: uPlot.Series.PathBuilder, last: () => number): uPlot.Series.PathBuilder {
  return (u, si, i0, i1) => {
    const end = Math.min(i1, last());
    return end > i0 ? base(u, si, i0, end) : null;
  };
}

/** A white line at lap distance `d`, over the plot. */
function drawNow(u: uPlot, d: number): void {
  if (!Number.isFinite(d)) return;
  const x = Math.round(u.valToPos(d, "x", true));
  const ctx = u.ctx;
  ctx.save();
  ctx.setLineDash([]);
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = Math.max(1, devicePixelRatio);
  ctx.beginPath();
  ctx.moveTo(x, u.bbox.top);
  ctx.lineTo(x, u.bbox.top + u.bbox.height);
  ctx.stroke();
  ctx.restore();
}
