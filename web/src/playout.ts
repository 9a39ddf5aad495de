// The playout buffer: decoded chunks, sampled at any fractional timeline frame.
// Positions are interpolated between data samples (with their true frame times)
// so a low data rate still draws smoothly at the display's refresh rate; discrete
// channels take the latest sample at or before the instant (a gear is never "half way").

import { lastAtOrBefore } from "./search";
import {
  DRIVER_CHANNELS,
  SESSION_CHANNELS,
  type DriverChannel,
  type FrameBlock,
  type SessionChannel,
  type Snapshot,
} from "./types";

export function emptySnapshot(nDrivers: number): Snapshot {
  const values = {} as Record<DriverChannel, Float32Array>;
  for (const ch of DRIVER_CHANNELS) values[ch] = new Float32Array(nDrivers).fill(NaN);
  const session = {} as Record<SessionChannel, number>;
  for (const ch of SESSION_CHANNELS) session[ch] = NaN;
  return {
    frame: NaN,
    valuesFrame: NaN,
    x: new Float32Array(nDrivers).fill(NaN),
    y: new Float32Array(nDrivers).fill(NaN),
    valid: new Uint8Array(nDrivers),
    values,
    session,
  };
}

export class PlayoutBuffer {
  // Keyed by chunk index; one block per rate at most (the finest is used).
  private chunks = new Map<number, FrameBlock[]>();

  constructor(private maxChunks = 200) {}

  add(block: FrameBlock): void {
    const list = (this.chunks.get(block.index) ?? []).filter((b) => b.rate !== block.rate);
    list.push(block);
    list.sort((a, b) => b.rate - a.rate);
    this.chunks.set(block.index, list);
  }

  /** Drop the chunks farthest from the playhead so memory stays bounded. */
  evict(chunk: number): void {
    if (this.chunks.size <= this.maxChunks) return;
    const far = [...this.chunks.keys()].sort((a, b) => Math.abs(b - chunk) - Math.abs(a - chunk));
    for (const k of far.slice(0, this.chunks.size - this.maxChunks)) this.chunks.delete(k);
  }

  private has(index: number): boolean {
    return this.chunks.has(index);
  }

  private best(index: number): FrameBlock | null {
    return this.chunks.get(index)?.[0] ?? null;
  }

  /** Fill `out` with the state at fractional timeline `frame`; false when that chunk is not buffered. */
  sample(frame: number, chunkFrames: number, out: Snapshot): boolean {
    const index = Math.floor(frame / chunkFrames);
    const b = this.best(index);
    if (!b || b.n === 0) return false;
    let i0 = lastAtOrBefore(b.frames, frame);
    if (i0 < 0) i0 = 0;
    // The sample after i0: in this chunk, or the first one of the next chunk.
    let nb = b;
    let i1 = i0 + 1;
    if (i1 >= b.n) {
      const next = this.best(index + 1);
      if (next && next.n > 0) {
        nb = next;
        i1 = 0;
      } else i1 = i0;
    }
    const f0 = b.frames[i0];
    const f1 = nb.frames[i1];
    const frac = f1 > f0 ? Math.min(Math.max((frame - f0) / (f1 - f0), 0), 1) : 0;
    const nd = b.nDrivers;
    const x0 = b.driver.x,
      y0 = b.driver.y,
      x1 = nb.driver.x,
      y1 = nb.driver.y;
    const base0 = i0 * nd,
      base1 = i1 * nd;
    for (let d = 0; d < nd; d++) {
      const ax = x0[base0 + d],
        ay = y0[base0 + d];
      const bx = x1[base1 + d],
        by = y1[base1 + d];
      if (Number.isNaN(ax)) {
        out.valid[d] = 0;
        out.x[d] = NaN;
        out.y[d] = NaN;
      } else if (Number.isNaN(bx)) {
        out.valid[d] = 1;
        out.x[d] = ax;
        out.y[d] = ay;
      } else {
        out.valid[d] = 1;
        out.x[d] = ax + (bx - ax) * frac;
        out.y[d] = ay + (by - ay) * frac;
      }
    }
    for (const ch of DRIVER_CHANNELS) {
      const src = b.driver[ch];
      const dst = out.values[ch];
      for (let d = 0; d < nd; d++) dst[d] = src[base0 + d];
    }
    for (const ch of SESSION_CHANNELS) out.session[ch] = b.session[ch][i0];
    out.frame = frame;
    out.valuesFrame = f0;
    return true;
  }

  /** How many chunks are buffered back to back from the one holding `frame`. */
  bufferedChunksAhead(frame: number, chunkFrames: number): number {
    let index = Math.floor(frame / chunkFrames);
    let count = 0;
    while (this.has(index)) {
      index++;
      count++;
    }
    return count;
  }
}
