// Adaptive data rate by measured throughput. The server pushes each chunk when the
// clock comes within its look-ahead of the chunk (docs/protocol.md), so the client
// knows when a chunk left the server (or, if the link was still busy with the one
// before, when that one arrived): bytes over that transfer time is one sample of what
// the link delivers. Each rate's own cost (bytes per second of replay) is measured as
// its chunks arrive. The chosen rate is the highest whose cost at the current speed
// fits in the link's throughput with margin, so a switch goes up as well as down;
// the server applies it from the next chunk, and chunks cover the same frames at every
// rate, so blocks already buffered keep playing and a switch never stalls.

const MARGIN = 0.75; // use at most this share of the measured throughput
const STEP_UP_MARGIN = 0.6; // going up needs more room than staying (no flapping)
const MIN_TRANSFER_MS = 25; // shorter transfers say only "fast": count them as this long
const MAX_FRAMES_PER_SECOND = 100; // as the server's own auto: rate × speed ≤ 100
const HOLD_MS = 2500; // between switches, so each decision sees chunks at the new rate

export interface RateDecision {
  rate: number;
  reason: string;
}

export class RateController {
  private throughput = NaN; // bytes per wall second the link delivers (smoothed)
  private cost = new Map<number, number>(); // bytes per second of replay, per rate
  private lastArrival = -Infinity;
  private lastCommand = -Infinity;
  private lastSwitch = -Infinity;
  private samples = 0;

  constructor(
    readonly rates: number[], // descending, e.g. [25, 10, 5, 2]
    private fps: number,
    private chunkFrames: number,
  ) {}

  /** A command that makes the server send at once (seek, play, speed, quality). */
  commandSent(now: number): void {
    this.lastCommand = now;
  }

  /**
   * One chunk arrived at `now` (ms). `frame` is the playhead then, `chunkFrame` the
   * chunk's first timeline frame, `frames` how many it covers.
   */
  chunkArrived(now: number, bytes: number, rate: number, chunkFrame: number, frames: number, frame: number, speed: number, playing: boolean): void {
    const replaySeconds = frames / this.fps;
    const perSecond = bytes / replaySeconds;
    const known = this.cost.get(rate);
    this.cost.set(rate, known === undefined ? perSecond : 0.8 * known + 0.2 * perSecond);
    // When did the server send it? Playing: when the playhead came within the look-ahead.
    const lookahead = Math.max(2 * speed * this.fps, this.chunkFrames);
    const dueFrame = chunkFrame - lookahead;
    let sentAt = this.lastCommand;
    if (playing && frame >= dueFrame) sentAt = Math.max(sentAt, now - ((frame - dueFrame) / (speed * this.fps)) * 1000);
    const started = Math.max(sentAt, this.lastArrival);
    this.lastArrival = now;
    if (!Number.isFinite(started)) return;
    const sample = (bytes / Math.max(now - started, MIN_TRANSFER_MS)) * 1000;
    // A slow sample counts at once (the link is congested now); a fast one eases in.
    const alpha = sample < this.throughput ? 0.5 : 0.25;
    this.throughput = Number.isFinite(this.throughput) ? (1 - alpha) * this.throughput + alpha * sample : sample;
    this.samples++;
  }

  /** Bytes per second of replay at `rate`: measured, or scaled from the nearest measured rate. */
  costOf(rate: number): number {
    const known = this.cost.get(rate);
    if (known !== undefined) return known;
    let best: [number, number] | null = null;
    for (const [r, c] of this.cost) if (!best || Math.abs(r - rate) < Math.abs(best[0] - rate)) best = [r, c];
    // Proportional to the rate: an over-estimate going up (compact chunks grow slower than the rate).
    return best ? (best[1] * rate) / best[0] : NaN;
  }

  /** Link throughput estimate, bytes per second (NaN before any sample). */
  bytesPerSecond(): number {
    return this.throughput;
  }

  /** The rate to ask for now, or null to keep the current one. */
  choose(now: number, current: number, speed: number): RateDecision | null {
    if (this.samples < 2 || now - this.lastSwitch < HOLD_MS || !Number.isFinite(this.throughput)) return null;
    const allowed = this.rates.filter((r) => r * speed <= MAX_FRAMES_PER_SECOND);
    const candidates = allowed.length ? allowed : [this.rates[this.rates.length - 1]];
    const fits = (r: number, margin: number) => this.costOf(r) * speed <= margin * this.throughput;
    let target = candidates[candidates.length - 1];
    for (const r of candidates) {
      if (fits(r, r > current ? STEP_UP_MARGIN : MARGIN)) {
        target = r;
        break;
      }
    }
    if (target === current) return null;
    this.lastSwitch = now;
    const kbps = (this.throughput * 8) / 1000;
    return { rate: target, reason: `${kbps.toFixed(0)} kbit/s measured, ${((this.costOf(target) * speed * 8) / 1000).toFixed(0)} kbit/s needed` };
  }
}
