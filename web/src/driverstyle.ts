// How each driver is drawn, in one place: the team colour, and for the second driver
// of a team (second in the metadata's driver order among that team) another shade
// of it and a dash pattern, so team-mates can be told apart on the map, on the
// leaderboard and in every chart. Nothing else reads a driver's colour for drawing.

import type uPlot from "uplot";
import type { Driver } from "./types";

export interface DriverStyle {
  /** The colour to draw this driver in: the team colour, or its second shade. */
  colour: string;
  /** The team's own colour (the first driver's). */
  team: string;
  /** True for the team's second driver. */
  second: boolean;
  /** Line dash for charts and outlines: [] (solid) for the first driver. */
  dash: number[];
}

export const SECOND_DASH = [6, 3];
const FALLBACK = "#9aa1ad";

/** One style per driver, index for index with `drivers`. */
export function driverStyles(drivers: Driver[]): DriverStyle[] {
  const seen = new Map<string, number>();
  return drivers.map((d) => {
    const team = normalise(d.colour);
    const key = d.team || `#${d.code}`; // a driver without a team is a team of one
    const rank = seen.get(key) ?? 0;
    seen.set(key, rank + 1);
    const second = rank >= 1;
    return {
      colour: second ? secondShade(team) : team,
      team,
      second,
      dash: second ? SECOND_DASH : [],
    };
  });
}

/** `#RRGGBB` from what the server sends (with or without `#`, 3 or 6 digits). */
export function normalise(colour: string | null | undefined): string {
  const hex = (colour ?? "").trim().replace(/^#/, "");
  if (/^[0-9a-f]{6}$/i.test(hex)) return `#${hex.toUpperCase()}`;
  if (/^[0-9a-f]{3}$/i.test(hex)) return `#${hex.replace(/./g, (c) => c + c).toUpperCase()}`;
  return FALLBACK;
}

/**
 * The second driver's shade: the team colour mixed 45 % towards white; a colour
 * already too light for that to show (silver, white) is darkened instead.
 */
export function secondShade(hex: string): string {
  const [r, g, b] = rgb(hex);
  const luminance = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  const target = luminance > 0.72 ? 0 : 255;
  const mix = luminance > 0.72 ? 0.4 : 0.45;
  const to = (c: number) =>
    Math.round(c + (target - c) * mix)
      .toString(16)
      .padStart(2, "0");
  return `#${to(r)}${to(g)}${to(b)}`.toUpperCase();
}

function rgb(hex: string): [number, number, number] {
  const v = parseInt(normalise(hex).slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** A uPlot chart's data series (not the x series) as drawn: label, stroke colour, dash. */
export function seriesOf(plot: uPlot): { label: string; stroke: string; dash: number[] }[] {
  return plot.series.slice(1).map((s, i) => ({
    label: String(s.label ?? ""),
    stroke: String(typeof s.stroke === "function" ? s.stroke(plot, i + 1) : s.stroke),
    dash: s.dash ?? [],
  }));
}
