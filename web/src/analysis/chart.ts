// The analysis views' one drawing surface: a plain canvas (sharp at the device's pixel
// ratio) with linear scales, axes, a "now" cursor as a cheap overlay element, and the
// points a click (or the keyboard) picks to seek the replay. The views draw into it
// only when what they show changes; the cursor moves on every panel refresh.
//
// Keyboard: the canvas is one Tab stop; ← → (and Home / End) step through its points in
// drawing order, Enter or Space replays from the selected one. The keys stop here, so
// they never reach the replay's shortcuts.

export interface Pick {
  x: number; // CSS px in the canvas
  y: number;
  w: number; // half extents of the hit box (a point: its radius)
  h: number;
  time: number; // session time a click seeks to
  label: string; // what it is, shown and spoken when selected
}

export interface Scale {
  min: number;
  max: number;
}

const AXIS = "#9aa1ad";
const GRID = "#2a2e36";
const FONT = "11px system-ui, sans-serif";
const HIT_PX = 6;

export class Chart {
  readonly canvas = document.createElement("canvas");
  readonly ctx: CanvasRenderingContext2D;
  readonly status = document.createElement("p");
  private cursorEl = document.createElement("div");
  private wrap = document.createElement("div");
  width = 0;
  height = 0;
  /** The plot area inside the axes (CSS px). */
  left = 36;
  right = 0;
  top = 8;
  bottom = 0;
  private x: Scale = { min: 0, max: 1 };
  private y: Scale = { min: 0, max: 1 };
  private invertY = false;
  private picks: Pick[] = [];
  private selected = -1;
  private cursorPx = NaN;

  constructor(
    parent: HTMLElement,
    private onSeek: (sessionTime: number) => void,
  ) {
    this.wrap.className = "an-canvas";
    this.cursorEl.className = "an-cursor";
    this.cursorEl.setAttribute("aria-hidden", "true");
    this.canvas.tabIndex = 0;
    this.canvas.className = "an-chart";
    this.canvas.setAttribute("role", "img");
    this.status.className = "an-status";
    this.status.setAttribute("aria-live", "polite");
    this.wrap.append(this.canvas, this.cursorEl);
    parent.append(this.wrap, this.status);
    this.ctx = this.canvas.getContext("2d")!;
    this.canvas.addEventListener("click", (e) => {
      const i = this.hit(e.offsetX, e.offsetY);
      if (i >= 0) this.choose(i, true);
    });
    this.canvas.addEventListener("mousemove", (e) => {
      const i = this.hit(e.offsetX, e.offsetY);
      this.canvas.style.cursor = i >= 0 ? "pointer" : "";
      if (i >= 0) this.showLabel(this.picks[i].label);
    });
    this.canvas.addEventListener("keydown", (e) => this.key(e));
    // The box's width, observed (reading it while the panels refresh would force a layout).
    new ResizeObserver((entries) => {
      this.boxWidth = entries[entries.length - 1].contentRect.width;
      this.onResize();
    }).observe(this.wrap);
  }

  /** The box's width (CSS px) as last observed; 0 before it is laid out. */
  private boxWidth = 0;
  /** Called when the box's width changes. */
  onResize: () => void = () => {};

  /** Whether the canvas has a size to draw at. */
  get sized(): boolean {
    return this.width > 0;
  }

  /** Size the canvas to its box's width (as last observed) and `height` CSS px; true when
   * the size changed. Without a width yet (not laid out, hidden) it stays as it is. */
  resize(height: number): boolean {
    if (this.boxWidth <= 0) return false;
    const width = Math.max(200, Math.round(this.boxWidth));
    if (width === this.width && height === this.height) return false;
    const dpr = window.devicePixelRatio || 1;
    this.width = width;
    this.height = height;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.height = `${height}px`;
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return true;
  }

  /** The accessible name: `name`, then how to use the keyboard. */
  describe(name: string): void {
    const label = `${name}. ← → choose a point, Enter replays from it.`;
    if (this.canvas.getAttribute("aria-label") !== label)
      this.canvas.setAttribute("aria-label", label);
  }

  /** Clear, set the scales and the plot area's margins; picks start afresh. */
  begin(
    x: Scale,
    y: Scale,
    opts: { invertY?: boolean; left?: number; bottom?: number } = {},
  ): void {
    const c = this.ctx;
    c.clearRect(0, 0, this.width, this.height);
    this.x = x;
    this.y = y;
    this.invertY = opts.invertY ?? false;
    this.left = opts.left ?? 36;
    this.right = this.width - 26;
    this.top = 8;
    this.bottom = this.height - (opts.bottom ?? 18);
    const label = this.selected >= 0 ? this.picks[this.selected]?.label : undefined;
    this.picks = [];
    this.selected = -1;
    this.cursorPx = -1; // placed again after the scales changed
    this.pendingLabel = label;
    c.font = FONT;
    c.lineJoin = "round";
  }

  private pendingLabel: string | undefined;

  /** After drawing: keep the keyboard's selection on the same point when it is still there. */
  end(): void {
    // The keyboard steps through the points left to right, top to bottom.
    this.picks.sort((a, b) => a.x - b.x || a.y - b.y);
    if (this.pendingLabel !== undefined)
      this.selected = this.picks.findIndex((p) => p.label === this.pendingLabel);
    this.pendingLabel = undefined;
    this.drawSelection();
  }

  px(v: number): number {
    const { min, max } = this.x;
    return this.left + ((v - min) / (max - min || 1)) * (this.right - this.left);
  }

  py(v: number): number {
    const { min, max } = this.y;
    const f = (v - min) / (max - min || 1);
    return this.invertY
      ? this.top + f * (this.bottom - this.top)
      : this.bottom - f * (this.bottom - this.top);
  }

  /** Grid lines and tick labels: `xs` along the bottom, `ys` up the side. */
  axes(
    xs: number[],
    ys: number[],
    fx: (v: number) => string = String,
    fy: (v: number) => string = String,
  ): void {
    const c = this.ctx;
    c.lineWidth = 1;
    c.strokeStyle = GRID;
    c.fillStyle = AXIS;
    c.setLineDash([]);
    c.beginPath();
    for (const v of ys) {
      const y = Math.round(this.py(v)) + 0.5;
      c.moveTo(this.left, y);
      c.lineTo(this.right, y);
    }
    for (const v of xs) {
      const x = Math.round(this.px(v)) + 0.5;
      c.moveTo(x, this.top);
      c.lineTo(x, this.bottom);
    }
    c.stroke();
    c.textAlign = "right";
    c.textBaseline = "middle";
    for (const v of ys) c.fillText(fy(v), this.left - 4, this.py(v));
    c.textAlign = "center";
    c.textBaseline = "top";
    for (const v of xs) c.fillText(fx(v), this.px(v), this.bottom + 3);
  }

  /** A band across the plot's height from x value `a` to `b` (track status periods). */
  band(a: number, b: number, colour: string): void {
    const x0 = Math.max(this.left, this.px(a));
    const x1 = Math.min(this.right, this.px(b));
    if (x1 <= x0) return;
    this.ctx.fillStyle = colour;
    this.ctx.fillRect(x0, this.top, Math.max(1, x1 - x0), this.bottom - this.top);
  }

  /** A polyline through (x, y) values, breaking at NaN. */
  line(
    xs: ArrayLike<number>,
    ys: ArrayLike<number>,
    colour: string,
    dash: number[],
    width = 1.5,
  ): void {
    const c = this.ctx;
    c.strokeStyle = colour;
    c.lineWidth = width;
    c.setLineDash(dash);
    c.beginPath();
    let pen = false;
    for (let i = 0; i < xs.length; i++) {
      if (!Number.isFinite(xs[i]) || !Number.isFinite(ys[i])) {
        pen = false;
        continue;
      }
      const x = this.px(xs[i]);
      const y = this.py(ys[i]);
      if (pen) c.lineTo(x, y);
      else c.moveTo(x, y);
      pen = true;
    }
    c.stroke();
    c.setLineDash([]);
  }

  /** A clickable region (CSS px centre and half extents) that seeks to `time`. */
  pick(p: Pick): void {
    this.picks.push(p);
  }

  /** The picks as drawn (for the tests: `window.__rr.analysis()`). */
  points(): readonly Pick[] {
    return this.picks;
  }

  /** The "now" cursor at x value `v` (NaN hides it); a style change only when it moved. */
  cursor(v: number): void {
    const px = Number.isFinite(v)
      ? Math.round(Math.min(this.right, Math.max(this.left, this.px(v))))
      : NaN;
    if (px === this.cursorPx || (Number.isNaN(px) && Number.isNaN(this.cursorPx))) return;
    this.cursorPx = px;
    this.cursorEl.hidden = Number.isNaN(px);
    if (!Number.isNaN(px)) {
      this.cursorEl.style.transform = `translateX(${px}px)`;
      this.cursorEl.style.top = `${this.top}px`;
      this.cursorEl.style.height = `${this.bottom - this.top}px`;
    }
  }

  private hit(x: number, y: number): number {
    let best = -1;
    let bestD = Infinity;
    this.picks.forEach((p, i) => {
      const dx = Math.max(0, Math.abs(x - p.x) - p.w);
      const dy = Math.max(0, Math.abs(y - p.y) - p.h);
      const d = Math.hypot(dx, dy);
      if (d <= HIT_PX && d < bestD) {
        best = i;
        bestD = d;
      }
    });
    return best;
  }

  private choose(i: number, seek: boolean): void {
    this.selected = i;
    this.drawSelection();
    const p = this.picks[i];
    this.showLabel(p.label);
    if (seek) this.onSeek(p.time);
  }

  private showLabel(text: string): void {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  private selectionEl: HTMLDivElement | null = null;

  private drawSelection(): void {
    const p = this.selected >= 0 ? this.picks[this.selected] : undefined;
    if (!p) {
      if (this.selectionEl) this.selectionEl.hidden = true;
      return;
    }
    if (!this.selectionEl) {
      this.selectionEl = document.createElement("div");
      this.selectionEl.className = "an-selected";
      this.selectionEl.setAttribute("aria-hidden", "true");
      this.wrap.append(this.selectionEl);
    }
    const s = this.selectionEl;
    s.hidden = false;
    s.style.left = `${p.x - p.w - 3}px`;
    s.style.top = `${p.y - p.h - 3}px`;
    s.style.width = `${2 * p.w + 6}px`;
    s.style.height = `${2 * p.h + 6}px`;
  }

  private key(e: KeyboardEvent): void {
    const n = this.picks.length;
    const at = this.selected;
    if ((e.key === "Enter" || e.key === " ") && at >= 0 && at < n) {
      e.preventDefault();
      e.stopPropagation();
      this.choose(at, true);
      return;
    }
    const moves: Record<string, number> = {
      ArrowRight: at < 0 ? 0 : at + 1,
      ArrowDown: at < 0 ? 0 : at + 1,
      ArrowLeft: at < 0 ? n - 1 : at - 1,
      ArrowUp: at < 0 ? n - 1 : at - 1,
      Home: 0,
      End: n - 1,
    };
    if (!(e.key in moves)) return;
    // The arrows belong to the chart even with no point drawn yet.
    e.preventDefault();
    e.stopPropagation();
    if (n) this.choose(Math.min(Math.max(moves[e.key], 0), n - 1), false);
  }
}
