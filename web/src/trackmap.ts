// The canvas track map. The circuit (outline with width, pit lane, sectors,
// corners, start/finish) is drawn once per view change into an offscreen layer;
// each animation frame only blits that layer and draws the cars. A team's second
// driver is drawn in the lighter shade with a dark centre dot (driverstyle.ts).

import type { DriverStyle } from "./driverstyle";
import type { MapFlags } from "./flags";
import { type LabelBox, placeLabels } from "./labels";
import { MARK_COLOURS, type MapMiniSectors } from "./minisectors";
import { DriverStatus, type Driver, type Geometry, type Snapshot } from "./types";

const LABEL_HEIGHT = 11; // the 10 px label font, with a pixel of air

interface CarLabel {
  x: number;
  y: number;
  r: number;
  w: number;
  text: string;
  alpha: number;
  focused: boolean;
}

interface View {
  scale: number; // pixels per metre (before user zoom)
  cx: number; // rotated-frame centre of the circuit, metres
  cy: number;
}

export class TrackMap {
  private ctx: CanvasRenderingContext2D;
  private layer = document.createElement("canvas");
  private layerDirty = true;
  private geometry: Geometry | null = null;
  private cos = 1;
  private sin = 0;
  private view: View = { scale: 1, cx: 0, cy: 0 };
  private zoom = 1;
  private panX = 0; // CSS pixels
  private panY = 0;
  private dpr = 1;
  private width = 0;
  private height = 0;
  private pointers = new Map<number, { x: number; y: number }>();
  private screenX: Float32Array;
  private screenY: Float32Array;
  focused = -1;
  /** Ghost cars of a lap comparison (circuit metres), drawn as outlined diamonds. */
  ghosts: { x: number; y: number; colour: string; dash: number[]; label: string }[] = [];
  private ghostScreen: { x: number; y: number }[] = [];
  /**
   * The pit-exit ghost (pitexit.ts): where the focused car would rejoin if it pitted now
   * (circuit metres), drawn as a dashed ring in its colour, with the two cars it would
   * come out between (driver indices, -1: none) ringed too.
   */
  pitGhost: {
    x: number;
    y: number;
    colour: string;
    label: string;
    ahead: number;
    behind: number;
  } | null = null;
  private pitGhostScreen: { x: number; y: number } | null = null;
  private labelBoxes: LabelBox[] = [];
  private textWidths = new Map<string, number>(); // label text → pixels, in the map's font
  onPick: (driver: number) => void = () => {};
  trackStatus = 1;
  /** Flags at the replay's moment (flags.ts): yellow sectors, the Safety Car, VSC, medical car. */
  flags: MapFlags | null = null;
  private flagsKey = ""; // the yellow bands drawn into the track layer
  private flagsReport = ""; // the canvas's data-flags, as last written
  /** The focused driver's current lap's completed mini-sectors (minisectors.ts), coloured along the outline. */
  miniSectors: MapMiniSectors | null = null;
  private miniKey = ""; // the mini-sectors drawn into the track layer
  private miniReport = ""; // the canvas's data-minisectors, as last written

  /**
   * How each car was last drawn (for tests): its colour (the fill, or the ring of a car
   * in the pit lane) and whether it carries the second driver's mark (centre dot, or a
   * dashed ring in the pit lane).
   */
  private drawn: { colour: string; second: boolean }[];

  constructor(
    private canvas: HTMLCanvasElement,
    private drivers: Driver[],
    private styles: DriverStyle[],
  ) {
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("this browser cannot draw on a 2D canvas");
    this.ctx = ctx;
    this.screenX = new Float32Array(drivers.length).fill(NaN);
    this.screenY = new Float32Array(drivers.length).fill(NaN);
    this.drawn = drivers.map(() => ({ colour: "", second: false }));
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.bindInput();
    this.resize();
  }

  setGeometry(geometry: Geometry | null): void {
    this.geometry = geometry;
    const a = ((geometry?.rotation ?? 0) * Math.PI) / 180;
    this.cos = Math.cos(a);
    this.sin = Math.sin(a);
    this.fit();
  }

  /** Fit the whole circuit (outline and pit lane) into the canvas. */
  private fit(): void {
    const g = this.geometry;
    if (!g || g.outline.length === 0 || this.width === 0) return;
    let minX = Infinity,
      maxX = -Infinity,
      minY = Infinity,
      maxY = -Infinity;
    for (const [x, y] of g.outline.concat(g.pit_lane)) {
      const rx = x * this.cos - y * this.sin;
      const ry = x * this.sin + y * this.cos;
      minX = Math.min(minX, rx);
      maxX = Math.max(maxX, rx);
      minY = Math.min(minY, ry);
      maxY = Math.max(maxY, ry);
    }
    const margin = 36;
    const scale = Math.min(
      (this.width - 2 * margin) / (maxX - minX || 1),
      (this.height - 2 * margin) / (maxY - minY || 1),
    );
    this.view = { scale: Math.max(scale, 1e-3), cx: (minX + maxX) / 2, cy: (minY + maxY) / 2 };
    this.layerDirty = true;
  }

  resetView(): void {
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.layerDirty = true;
  }

  private resize(): void {
    const rect = this.canvas.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.width = Math.max(1, rect.width);
    this.height = Math.max(1, rect.height);
    this.canvas.width = Math.round(this.width * this.dpr);
    this.canvas.height = Math.round(this.height * this.dpr);
    this.layer.width = this.canvas.width;
    this.layer.height = this.canvas.height;
    this.fit();
  }

  /** Circuit metres to CSS pixels. */
  private toScreen(x: number, y: number): [number, number] {
    const s = this.view.scale * this.zoom;
    const rx = x * this.cos - y * this.sin - this.view.cx;
    const ry = x * this.sin + y * this.cos - this.view.cy;
    return [this.width / 2 + this.panX + rx * s, this.height / 2 + this.panY - ry * s];
  }

  private drawLayer(): void {
    const g = this.geometry;
    const ctx = this.layer.getContext("2d")!;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    this.layerDirty = false;
    if (!g || g.outline.length < 2) return;
    const pxPerM = this.view.scale * this.zoom;
    const trackPx = Math.max(4, g.width * pxPerM);
    const path = (pts: [number, number][], close: boolean) => {
      ctx.beginPath();
      pts.forEach(([x, y], i) => {
        const [sx, sy] = this.toScreen(x, y);
        if (i === 0) ctx.moveTo(sx, sy);
        else ctx.lineTo(sx, sy);
      });
      if (close) ctx.closePath();
    };
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    if (g.pit_lane.length > 1) {
      path(g.pit_lane, false);
      ctx.strokeStyle = "#3a3f4a";
      ctx.lineWidth = Math.max(2, trackPx * 0.6);
      ctx.stroke();
      ctx.setLineDash([4, 4]);
      ctx.strokeStyle = "#7d8699";
      ctx.lineWidth = 1;
      ctx.stroke();
      ctx.setLineDash([]);
    }
    path(g.outline, true);
    ctx.strokeStyle = "#a9b0bd";
    ctx.lineWidth = trackPx + 3;
    ctx.stroke();
    ctx.strokeStyle = "#2b2f38";
    ctx.lineWidth = trackPx;
    ctx.stroke();
    this.drawMiniSectors(ctx, g, trackPx);
    this.drawFlagBands(ctx, g, trackPx);
    // Sector boundaries and the start/finish line, as ticks across the track.
    const cumulative = cumulativeDistance(g.outline);
    const ticks: [number, string][] = [
      [0, "#ffffff"],
      ...g.sector_starts.map((d, i): [number, string] => [d, i === 0 ? "#e8c547" : "#d05cf0"]),
    ];
    for (const [dist, colour] of ticks) {
      const i = indexAtDistance(cumulative, dist);
      const [ax, ay] = this.toScreen(...g.outline[i]);
      const [bx, by] = this.toScreen(...g.outline[(i + 1) % g.outline.length]);
      const len = Math.hypot(bx - ax, by - ay) || 1;
      const nx = (-(by - ay) / len) * (trackPx / 2 + 5);
      const ny = ((bx - ax) / len) * (trackPx / 2 + 5);
      ctx.beginPath();
      ctx.moveTo(ax - nx, ay - ny);
      ctx.lineTo(ax + nx, ay + ny);
      ctx.strokeStyle = colour;
      ctx.lineWidth = dist === 0 ? 4 : 3;
      ctx.stroke();
    }
    ctx.fillStyle = "#8b93a3";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const c of g.corners) {
      const a = ((c.angle + (g.rotation ?? 0)) * Math.PI) / 180;
      const [sx, sy] = this.toScreen(c.x, c.y);
      const off = trackPx / 2 + 12;
      ctx.fillText(`${c.number}${c.letter ?? ""}`, sx + Math.cos(a) * off, sy - Math.sin(a) * off);
    }
  }

  /** Draw one display frame. */
  draw(snap: Snapshot): void {
    const miniKey = this.miniSectors?.key ?? "";
    if (this.layerDirty || (this.flags?.key ?? "") !== this.flagsKey || miniKey !== this.miniKey) {
      this.miniKey = miniKey; // also when there is no outline to draw on
      this.drawLayer();
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.layer, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    if (this.trackStatus === 4 || this.trackStatus === 5 || this.trackStatus >= 6) {
      ctx.strokeStyle = this.trackStatus === 5 ? "#e10600" : "#ffb000";
      ctx.lineWidth = 6;
      ctx.strokeRect(3, 3, this.width - 6, this.height - 6);
    }
    ctx.font = "bold 10px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    // Draw back to front by position so the leader sits on top, the focused car above all.
    const order = drawOrder(snap, this.focused);
    const labels: CarLabel[] = [];
    for (const d of order) {
      if (!snap.valid[d]) {
        this.screenX[d] = NaN;
        continue;
      }
      const [sx, sy] = this.toScreen(snap.x[d], snap.y[d]);
      this.screenX[d] = sx;
      this.screenY[d] = sy;
      const status = snap.values.status[d];
      const focused = d === this.focused;
      // Finished cars wait at the line (the data ends there): small and unlabelled, so
      // the pile they make does not hide the cars still racing.
      const parked = status === DriverStatus.Finished && !focused;
      const r = focused ? 8 : parked ? 4 : 6;
      ctx.globalAlpha = status === DriverStatus.Retired ? 0.35 : parked ? 0.6 : 1;
      const style = this.styles[d];
      const drawn = this.drawn[d];
      ctx.beginPath();
      ctx.arc(sx, sy, r, 0, Math.PI * 2);
      if (status === DriverStatus.PitLane) {
        ctx.fillStyle = "#15171c";
        ctx.fill();
        ctx.strokeStyle = style.colour;
        ctx.lineWidth = 3;
        if (style.second) ctx.setLineDash([3, 2]);
        ctx.stroke();
        ctx.setLineDash([]);
        drawn.colour = style.colour;
      } else {
        drawn.colour = status === DriverStatus.Retired ? "#666" : style.colour;
        ctx.fillStyle = drawn.colour;
        ctx.fill();
        ctx.strokeStyle = focused || status === DriverStatus.Finished ? "#ffffff" : "#0b0c10";
        ctx.lineWidth = focused ? 3 : 1.5;
        if (status === DriverStatus.Finished) ctx.setLineDash([2, 2]);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      // The second driver of a team: a dark dot in the middle, on top of the lighter shade.
      drawn.second = style.second;
      if (style.second && status !== DriverStatus.PitLane) {
        ctx.beginPath();
        ctx.arc(sx, sy, Math.max(1.5, r * 0.38), 0, Math.PI * 2);
        ctx.fillStyle = "#0b0c10";
        ctx.fill();
      }
      if (parked) continue;
      const text =
        this.drivers[d].code +
        (status === DriverStatus.PitLane ? " PIT" : status === DriverStatus.Retired ? " RET" : "");
      labels.push({
        x: sx,
        y: sy,
        r,
        w: this.textWidth(text),
        text,
        alpha: ctx.globalAlpha,
        focused,
      });
    }
    this.drawLabels(ctx, labels.reverse()); // the focused car and the leader first
    ctx.globalAlpha = 1;
    this.drawGhosts(ctx);
    this.drawPitGhost(ctx);
    this.drawFlags(ctx);
  }

  /** Marshal sectors under yellow, as bands along the outline (dashed: estimated sectors). */
  private drawFlagBands(ctx: CanvasRenderingContext2D, g: Geometry, trackPx: number): void {
    const f = this.flags;
    this.flagsKey = f?.key ?? "";
    if (!f || !f.bands.length || !(g.length > 0)) return;
    const n = g.outline.length;
    for (const band of f.bands) {
      const [i0, i1] = this.stretchPath(ctx, g, band.start, band.end);
      const double = band.flag === "DOUBLE YELLOW";
      ctx.setLineDash(f.estimated ? [8, 5] : []);
      ctx.lineCap = "butt";
      ctx.strokeStyle = double ? "#ff9f1a" : "#ffe14d";
      ctx.lineWidth = Math.max(3, trackPx * (double ? 1.1 : 0.8));
      ctx.stroke();
      const [mx, my] = this.toScreen(...g.outline[Math.floor((i0 + i1) / 2) % n]);
      ctx.setLineDash([]);
      ctx.font = "bold 10px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#ffe14d";
      const tag = `${double ? "YY" : "Y"} ${band.sector}${f.estimated ? " (est.)" : ""}`;
      ctx.fillText(tag, mx, my - trackPx / 2 - 9);
    }
    ctx.lineCap = "round";
    ctx.setLineDash([]);
  }

  /**
   * The path along the outline from `start` to `end` metres along the lap (`end` may pass
   * the line), the outline being sampled evenly over the lap's `length`; returns the outline
   * indices it runs between. Yellow sectors and mini-sectors are drawn along it.
   */
  private stretchPath(
    ctx: CanvasRenderingContext2D,
    g: Geometry,
    start: number,
    end: number,
  ): [number, number] {
    const n = g.outline.length;
    const i0 = Math.floor((start / g.length) * n);
    const i1 = Math.ceil((end / g.length) * n);
    ctx.beginPath();
    for (let i = i0; i <= i1; i++) {
      const [sx, sy] = this.toScreen(...g.outline[((i % n) + n) % n]);
      if (i === i0) ctx.moveTo(sx, sy);
      else ctx.lineTo(sx, sy);
    }
    return [i0, i1];
  }

  /**
   * The focused driver's current lap's completed mini-sectors, each an equal stretch of the
   * lap from the line, in its mark's colour, down the middle of the track; the canvas's
   * `data-minisectors` says what was drawn (for tests). Drawn into the track layer, so only
   * when a part completes or the focus or lap changes.
   */
  private drawMiniSectors(ctx: CanvasRenderingContext2D, g: Geometry, trackPx: number): void {
    const m = this.miniSectors;
    const drawn: number[] = [];
    if (m && m.count > 0 && g.length > 0) {
      const part = g.length / m.count;
      ctx.lineCap = "butt";
      ctx.lineWidth = Math.max(2, trackPx * 0.5);
      m.marks.forEach((mark, k) => {
        drawn.push(mark);
        const colour = MARK_COLOURS[mark];
        if (!colour) return;
        this.stretchPath(ctx, g, k * part, (k + 1) * part);
        ctx.strokeStyle = colour;
        ctx.stroke();
      });
      ctx.lineCap = "round";
    }
    const report = m ? JSON.stringify({ driver: m.driver, lap: m.lap, marks: drawn }) : "";
    if (report !== this.miniReport) {
      this.miniReport = report;
      this.canvas.dataset.minisectors = report;
    }
  }

  /** The Safety Car marker and the VSC / medical car notes; the canvas's `data-flags` for tests. */
  private drawFlags(ctx: CanvasRenderingContext2D): void {
    const f = this.flags;
    let scScreen: [number, number] | null = null;
    if (f?.sc) {
      const [sx, sy] = this.toScreen(f.sc.x, f.sc.y);
      scScreen = [Math.round(sx), Math.round(sy)];
      ctx.beginPath();
      ctx.roundRect(sx - 11, sy - 7, 22, 14, 4);
      ctx.fillStyle = "#ffb000cc";
      ctx.fill();
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([3, 2]); // dashed: an estimate, not a recorded position
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.font = "bold 9px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#0b0c10";
      ctx.fillText("SC", sx, sy);
      ctx.font = "italic 10px system-ui, sans-serif";
      ctx.textAlign = "left";
      ctx.fillStyle = "#ffd27a";
      ctx.fillText(f.sc.label, sx + 14, sy);
    }
    const notes = [f?.vsc ?? "", f?.medical ?? ""].filter((s) => s);
    ctx.font = "bold 13px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    notes.forEach((text, i) => {
      ctx.fillStyle = "#ffb000";
      ctx.fillText(text, 14, 14 + i * 18);
    });
    const report = JSON.stringify({
      yellow: (f?.bands ?? []).filter((b) => b.flag !== "DOUBLE YELLOW").map((b) => b.sector),
      double: (f?.bands ?? []).filter((b) => b.flag === "DOUBLE YELLOW").map((b) => b.sector),
      estimated: f?.estimated ?? false,
      sc: f?.sc?.label ?? "",
      scActive: f?.scActive ?? false,
      scAt: scScreen,
      vsc: f?.vsc ?? "",
      medical: f?.medical ?? "",
    });
    if (report !== this.flagsReport) {
      this.flagsReport = report;
      this.canvas.dataset.flags = report;
    }
  }

  private drawPitGhost(ctx: CanvasRenderingContext2D): void {
    const g = this.pitGhost;
    this.pitGhostScreen = null;
    if (!g || !Number.isFinite(g.x) || !Number.isFinite(g.y)) return;
    const [sx, sy] = this.toScreen(g.x, g.y);
    this.pitGhostScreen = { x: sx, y: sy };
    ctx.strokeStyle = g.colour;
    ctx.setLineDash([3, 3]);
    ctx.lineWidth = 1.5;
    for (const d of [g.ahead, g.behind]) {
      if (d < 0 || !Number.isFinite(this.screenX[d])) continue;
      ctx.beginPath();
      ctx.arc(this.screenX[d], this.screenY[d], 11, 0, Math.PI * 2);
      ctx.stroke();
    }
    ctx.beginPath();
    ctx.arc(sx, sy, 8, 0, Math.PI * 2);
    ctx.fillStyle = "#0b0c10aa";
    ctx.fill();
    ctx.lineWidth = 3;
    ctx.setLineDash([4, 3]);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.font = "bold 10px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#ffffff";
    ctx.fillText(g.label, sx + 11, sy);
  }

  /** The pit-exit ghost's screen position as last drawn, null when none (for tests). */
  pitGhostOnScreen(): { x: number; y: number } | null {
    return this.pitGhostScreen && { ...this.pitGhostScreen };
  }

  private drawLabels(ctx: CanvasRenderingContext2D, labels: CarLabel[]): void {
    const boxes = placeLabels(labels, LABEL_HEIGHT);
    this.labelBoxes = [];
    labels.forEach((label, i) => {
      const box = boxes[i];
      if (!box) return;
      this.labelBoxes.push(box);
      ctx.globalAlpha = label.alpha;
      ctx.fillStyle = label.focused ? "#ffffff" : "#d7dbe3";
      ctx.fillText(label.text, box.x, box.y);
    });
  }

  private textWidth(text: string): number {
    let w = this.textWidths.get(text);
    if (w === undefined) {
      w = this.ctx.measureText(text).width;
      this.textWidths.set(text, w);
    }
    return w;
  }

  /** The car labels drawn in the last frame (CSS pixels). */
  labelsOnScreen(): LabelBox[] {
    return this.labelBoxes.slice();
  }

  private drawGhosts(ctx: CanvasRenderingContext2D): void {
    this.ghostScreen.length = 0;
    for (const g of this.ghosts) {
      if (!Number.isFinite(g.x) || !Number.isFinite(g.y)) {
        this.ghostScreen.push({ x: NaN, y: NaN });
        continue;
      }
      const [sx, sy] = this.toScreen(g.x, g.y);
      this.ghostScreen.push({ x: sx, y: sy });
      ctx.beginPath();
      ctx.moveTo(sx, sy - 9);
      ctx.lineTo(sx + 9, sy);
      ctx.lineTo(sx, sy + 9);
      ctx.lineTo(sx - 9, sy);
      ctx.closePath();
      ctx.fillStyle = "#0b0c10cc";
      ctx.fill();
      ctx.strokeStyle = g.colour;
      ctx.lineWidth = 3;
      ctx.setLineDash(g.dash);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(g.label, sx + 12, sy);
    }
  }

  /** Screen positions of the ghosts as last drawn (for tests). */
  ghostsOnScreen(): { x: number; y: number }[] {
    return this.ghostScreen.slice();
  }

  private bindInput(): void {
    const c = this.canvas;
    c.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        this.zoomAt(e.offsetX, e.offsetY, Math.exp(-e.deltaY * 0.0015));
      },
      { passive: false },
    );
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      this.pointers.set(e.pointerId, { x: e.offsetX, y: e.offsetY });
    });
    c.addEventListener("pointermove", (e) => {
      const prev = this.pointers.get(e.pointerId);
      if (!prev) return;
      if (this.pointers.size === 2) {
        const other = [...this.pointers.entries()].find(([id]) => id !== e.pointerId)![1];
        const before = Math.hypot(prev.x - other.x, prev.y - other.y);
        const after = Math.hypot(e.offsetX - other.x, e.offsetY - other.y);
        if (before > 0)
          this.zoomAt((e.offsetX + other.x) / 2, (e.offsetY + other.y) / 2, after / before);
      } else {
        this.panX += e.offsetX - prev.x;
        this.panY += e.offsetY - prev.y;
        this.layerDirty = true;
      }
      this.pointers.set(e.pointerId, { x: e.offsetX, y: e.offsetY });
    });
    const up = (e: PointerEvent) => this.pointers.delete(e.pointerId);
    c.addEventListener("pointerup", up);
    c.addEventListener("pointercancel", up);
    c.addEventListener("dblclick", () => this.resetView());
    c.addEventListener("click", (e) => {
      const d = this.pick(e.offsetX, e.offsetY);
      if (d >= 0) this.onPick(d);
    });
  }

  private zoomAt(px: number, py: number, factor: number): void {
    const z = Math.min(Math.max(this.zoom * factor, 0.5), 20);
    const f = z / this.zoom;
    // Keep the point under the cursor fixed.
    this.panX = px - this.width / 2 - (px - this.width / 2 - this.panX) * f;
    this.panY = py - this.height / 2 - (py - this.height / 2 - this.panY) * f;
    this.zoom = z;
    this.layerDirty = true;
  }

  private pick(px: number, py: number): number {
    let best = -1;
    let bestDist = 14;
    for (let d = 0; d < this.drivers.length; d++) {
      const dist = Math.hypot(this.screenX[d] - px, this.screenY[d] - py);
      if (dist < bestDist) {
        bestDist = dist;
        best = d;
      }
    }
    return best;
  }

  /** Each car's colour and second-driver mark as last drawn (for tests). */
  carStyles(): { colour: string; second: boolean }[] {
    return this.drawn.map((s) => ({ ...s }));
  }

  /** Screen positions of the cars as last drawn (for tests and hit testing). */
  carsOnScreen(): { x: number; y: number }[] {
    return Array.from(this.screenX, (x, d) => ({ x, y: this.screenY[d] }));
  }
}

function cumulativeDistance(pts: [number, number][]): Float64Array {
  const out = new Float64Array(pts.length);
  for (let i = 1; i < pts.length; i++) {
    out[i] = out[i - 1] + Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]);
  }
  return out;
}

function indexAtDistance(cumulative: Float64Array, dist: number): number {
  let lo = 0,
    hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] < dist) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(lo, cumulative.length - 2);
}

function drawOrder(snap: Snapshot, focused: number): number[] {
  const n = snap.x.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  const pos = snap.values.position;
  idx.sort((a, b) => (pos[b] || 99) - (pos[a] || 99));
  if (focused >= 0) {
    idx.splice(idx.indexOf(focused), 1);
    idx.push(focused);
  }
  return idx;
}
