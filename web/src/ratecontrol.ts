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
const MIN_TRANSFER_MS = 5; // shorter transfers say only "fast": count them as this long
const COMMAND_SLACK_MS = 500; // a command's answer may take this long to start arriving
const HOLD_MS = 2500; // between switches, so each decision sees chunks at the new rate

// Bytes per replay minute of the compact codec relative to 25 fps (the front-end benchmark,
// 20 cars: 103, 81, 52, 34 kB): deltas make chunks grow much slower than the rate.
const RELATIVE_COST: Record<number, number> = { 25: 1, 10: 0.78, 5: 0.51, 2: 0.33 };
const relativeCost = (rate: number) => RELATIVE_COST[rate] ?? rate / 25;

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
  private anchor: { frame: number; serverMs: number; speed: number; playing: boolean } | null =
    null;
  private pongs: { rtt: number; offset: number }[] = []; // offset: server Unix ms − client Unix ms
  readonly log: string[] = []; // recent samples, for the end-to-end tests' diagnostics
  private expected: { bytes: number } | null = null; // the next chunk, while playing

  constructor(
    readonly rates: number[], // descending, e.g. [25, 10, 5, 2]
    private fps: number,
    private chunkFrames: number,
    // As the server's own auto: rate × speed ≤ this (ProtocolConstants.max_frames_per_wall_second).
    private maxFramesPerWallSecond: number,
  ) {}

  /** A command that makes the server send at once (seek, play, speed, quality). */
  commandSent(now: number): void {
    this.lastCommand = now;
  }

  /**
   * One chunk arrived at `now` (ms). `frame` is the playhead then, `chunkFrame` the
   * chunk's first timeline frame, `frames` how many it covers.
   */
  chunkArrived(
    now: number,
    bytes: number,
    rate: number,
    chunkFrame: number,
    frames: number,
    playing: boolean,
  ): void {
    const replaySeconds = frames / this.fps;
    const perSecond = bytes / replaySeconds;
    const known = this.cost.get(rate);
    this.cost.set(rate, known === undefined ? perSecond : 0.8 * known + 0.2 * perSecond);
    // The transfer began when the server sent the chunk or, on a busy link, when the one
    // before arrived. The send time comes from the server's clock (its `state` anchor and
    // the ping offset), less the one-way latency; without them, no sample.
    const due = this.serverDue(chunkFrame);
    const started = Math.max(due, this.lastArrival);
    this.lastArrival = now;
    this.expected = playing ? { bytes } : null;
    if (!Number.isFinite(started)) return;
    this.addSample((bytes / Math.max(now - started, MIN_TRANSFER_MS)) * 1000);
    this.log.push(
      `${Math.round(now)} c${chunkFrame / this.chunkFrames} r${rate} ${bytes}B ${Math.round(now - started)}ms -> ${Math.round((this.throughput * 8) / 1000)}kbit/s`,
    );
    if (this.log.length > 200) this.log.splice(0, 100);
  }

  /** The server's clock: its position at `serverMs` (Unix ms), from each `state` message. */
  setAnchor(frame: number, serverMs: number, speed: number, playing: boolean): void {
    this.anchor = { frame, serverMs, speed, playing };
  }

  /** A ping's round trip: client Unix ms sent and received, the server's Unix ms in between. */
  pong(sentMs: number, serverMs: number, receivedMs: number): void {
    const rtt = receivedMs - sentMs;
    this.pongs.push({ rtt, offset: serverMs - (sentMs + rtt / 2) });
    if (this.pongs.length > 10) this.pongs.shift();
  }

  /**
   * Page time (ms) the chunk starting at `chunkFrame` was due to arrive had the link been
   * instant: when the server's clock came within the look-ahead of it (at once for a chunk
   * already due at the anchor, i.e. sent in answer to a command), plus the latency.
   */
  private serverDue(chunkFrame: number): number {
    const a = this.anchor;
    if (!a || !this.pongs.length) return NaN;
    const best = this.pongs.reduce((x, y) => (y.rtt < x.rtt ? y : x)); // least queued: truest offset
    const lookahead = a.playing
      ? Math.max(2 * a.speed * this.fps, this.chunkFrames)
      : this.chunkFrames;
    const dueFrame = chunkFrame - lookahead;
    const serverMs =
      a.playing && dueFrame > a.frame
        ? a.serverMs + ((dueFrame - a.frame) / (a.speed * this.fps)) * 1000
        : a.serverMs;
    return serverMs - best.offset + best.rtt / 2 - performance.timeOrigin;
  }

  private addSample(sample: number): void {
    // A slow sample counts at once (the link is congested now); a fast one eases in.
    const alpha = sample < this.throughput ? 0.5 : 0.25;
    this.throughput = Number.isFinite(this.throughput)
      ? (1 - alpha) * this.throughput + alpha * sample
      : sample;
    this.samples++;
  }

  /**
   * While the next chunk is overdue the link delivers at most its size over the time
   * it has been on the way: without this bound a stalled link would keep its last,
   * better, estimate. Chunks leave the server one chunk's play time apart, so the next
   * one left at the latest that long after the last arrival (or at the last command).
   */
  private overdueBound(now: number, speed: number): number {
    const next = this.expected;
    if (!next) return Infinity;
    const interval = (this.chunkFrames / (speed * this.fps)) * 1000;
    const waited = now - Math.max(this.lastArrival + interval, this.lastCommand + COMMAND_SLACK_MS);
    return waited > 250 ? (next.bytes / waited) * 1000 : Infinity;
  }

  /** Bytes per second of replay at `rate`: measured, or scaled from the nearest measured rate. */
  costOf(rate: number): number {
    const known = this.cost.get(rate);
    if (known !== undefined) return known;
    let best: [number, number] | null = null;
    for (const [r, c] of this.cost)
      if (!best || Math.abs(r - rate) < Math.abs(best[0] - rate)) best = [r, c];
    return best ? (best[1] * relativeCost(rate)) / relativeCost(best[0]) : NaN;
  }

  /** Link throughput estimate, bytes per second (NaN before any sample). */
  bytesPerSecond(): number {
    return this.throughput;
  }

  /** The rate to ask for now, or null to keep the current one. */
  choose(now: number, current: number, speed: number): RateDecision | null {
    const bound = this.overdueBound(now, speed);
    if (bound < this.throughput) this.throughput = bound;
    if (this.samples < 2 || now - this.lastSwitch < HOLD_MS || !Number.isFinite(this.throughput))
      return null;
    const allowed = this.rates.filter((r) => r * speed <= this.maxFramesPerWallSecond);
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
    return {
      rate: target,
      reason: `${kbps.toFixed(0)} kbit/s measured, ${((this.costOf(target) * speed * 8) / 1000).toFixed(0)} kbit/s needed`,
    };
  }
}
