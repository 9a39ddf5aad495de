// Decoder of the compact chunk format (docs/codec.md, magic "RRC4").
// Pure: no DOM, runs in the decode worker and under Node for the codec tests.

import {
  DRIVER_CHANNELS,
  SESSION_CHANNELS,
  type DriverChannel,
  type FrameBlock,
  type SessionChannel,
  type SessionEvent,
} from "./types";

const MAGIC = "RRC4";
const HEADER_BYTES = 22;
const MISSING = -2147483648;

// The wire's channel order (docs/codec.md): [name, scale, may be missing].
// The interval (FROM_GAPS) is predicted from the position and the gap, decoded before it.
// The channels from PAIRED_FROM on have their residuals in pairs (docs/codec.md "Pairs").
const WIRE_DRIVER_CHANNELS: [DriverChannel, number, boolean][] = [
  ["gear", 1, false],
  ["brake", 1, false],
  ["drs", 1, false],
  ["lap", 1, false],
  ["position", 1, false],
  ["compound", 1, false],
  ["tyre_age", 1, false],
  ["status", 1, false],
  ["gap_laps", 1, false],
  ["interval_laps", 1, false],
  ["throttle", 1, false],
  ["speed", 1, true],
  ["distance", 10, true],
  ["x", 10, true],
  ["y", 10, true],
  ["gap", 1000, true],
  ["interval", 1000, true],
  ["rpm", 0.1, false],
];
const WIRE_SESSION_CHANNELS: [SessionChannel, number, boolean][] = [
  ["leader_lap", 1, false],
  ["track_status", 1, false],
];
const FROM_GAPS: DriverChannel = "interval";
const PAIRED_FROM = 10; // throttle .. rpm; the session channels are not paired
const PAIR_LIMIT = 3;
const PAIR_BASE = 2 * PAIR_LIMIT + 1;
const ESCAPE = PAIR_BASE * PAIR_BASE;
const MIN_SPEED_FOR_GAP = 20;
if (
  new Set(WIRE_DRIVER_CHANNELS.map(([name]) => name)).size !== DRIVER_CHANNELS.length ||
  WIRE_SESSION_CHANNELS.length !== SESSION_CHANNELS.length
) {
  throw new Error("codec.ts: the wire's channel lists must name every channel of types.ts");
}

export interface ChunkHeader {
  fps: number;
  rate: number;
  chunkSeconds: number;
  nDrivers: number;
  nFrames: number;
  index: number;
  firstFrame: number; // index * chunkSeconds * fps
  t0: number;
}

export class ChunkFormatError extends Error {}

export function readHeader(bytes: Uint8Array): ChunkHeader {
  if (bytes.length < HEADER_BYTES)
    throw new ChunkFormatError(`chunk too short: ${bytes.length} bytes`);
  const magic = String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]);
  if (magic !== MAGIC) {
    throw new ChunkFormatError(
      `not a compact chunk (magic ${JSON.stringify(magic)}, expected ${MAGIC}): reload the page to get a matching client`,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fps = v.getUint8(4);
  const chunkSeconds = v.getUint8(6);
  const index = v.getUint32(10, true);
  return {
    fps,
    rate: v.getUint8(5),
    chunkSeconds,
    nDrivers: v.getUint8(7),
    nFrames: v.getUint16(8, true),
    index,
    firstFrame: index * chunkSeconds * fps,
    t0: v.getFloat64(14, true),
  };
}

export async function inflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart])
    .stream()
    .pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Timeline frame of each sample: k_j = first_frame + floor(j * fps / rate). */
export function chunkFrames(h: ChunkHeader): Int32Array {
  const out = new Int32Array(h.nFrames);
  for (let j = 0; j < h.nFrames; j++) out[j] = h.firstFrame + Math.floor((j * h.fps) / h.rate);
  return out;
}

class VarintReader {
  pos = 0;
  constructor(
    private bytes: Uint8Array,
    private end: number,
  ) {}

  /** The next zigzag varint as a signed 32-bit residual. */
  next(): number {
    let u = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new ChunkFormatError("value section ends inside a varint");
      const b = this.bytes[this.pos++];
      u |= (b & 0x7f) << shift;
      if (b < 0x80) break;
      shift += 7;
    }
    u >>>= 0;
    return ((u >>> 1) ^ -(u & 1)) | 0;
  }
}

/**
 * The residuals of the paired channels: one byte per pair (two residuals in
 * [-3, 3]) or ESCAPE, whose pair is the next two varints of the escape section.
 */
class PairReader {
  pos: number;
  private second = 0;
  private half = false;
  constructor(
    private bytes: Uint8Array,
    start: number,
    private escapes: VarintReader,
  ) {
    this.pos = start;
  }

  /** Start a new series (an odd series' last pair carries a padding 0). */
  restart(): void {
    this.half = false;
  }

  next(): number {
    if (this.half) {
      this.half = false;
      return this.second;
    }
    const t = this.bytes[this.pos++];
    let first: number;
    if (t === ESCAPE) {
      first = this.escapes.next();
      this.second = this.escapes.next();
    } else if (t < ESCAPE) {
      first = ((t / PAIR_BASE) | 0) - PAIR_LIMIT;
      this.second = (t % PAIR_BASE) - PAIR_LIMIT;
    } else {
      throw new ChunkFormatError(`unknown pair byte ${t}`);
    }
    this.half = true;
    return first;
  }
}

interface Residuals {
  next(): number;
}

/**
 * Rebuild one series of quantised values into `q[j * stride + offset]` from its
 * head (keyframe, then velocity for order 2) and its body residuals, with wrapping
 * 32-bit arithmetic exactly as the encoder.
 */
function readSeries(
  r: Residuals,
  n: number,
  order: 1 | 2,
  keyframe: number,
  velocity: number,
  q: Int32Array,
  stride: number,
  offset: number,
): void {
  let q2 = keyframe; // q[j-2] once j >= 2
  let q1 = keyframe; // q[j-1]
  q[offset] = keyframe;
  let j = 1;
  if (order === 2 && n > 1) {
    q1 = (keyframe + velocity) | 0;
    q[stride + offset] = q1;
    j = 2;
  }
  for (; j < n; j++) {
    const res = r.next();
    const v = order === 1 ? (q1 + res) | 0 : (((2 * q1) | 0) - q2 + res) | 0;
    q2 = q1;
    q1 = v;
    q[j * stride + offset] = v;
  }
}

/**
 * The interval: each residual is against the car's gap minus the gap of the car one
 * place ahead (the lowest-index driver at position - 1) when both gaps are known,
 * else against the previous frame's interval (0 before the first).
 */
function readIntervals(
  r: PairReader,
  n: number,
  nDrivers: number,
  gap: Int32Array,
  position: Int32Array,
  q: Int32Array,
): void {
  const residual = new Int32Array(n * nDrivers);
  for (let d = 0; d < nDrivers; d++) {
    r.restart();
    for (let j = 0; j < n; j++) residual[j * nDrivers + d] = r.next();
  }
  const byPlace = new Int32Array(258);
  for (let j = 0; j < n; j++) {
    const row = j * nDrivers;
    byPlace.fill(-1);
    for (let d = nDrivers - 1; d >= 0; d--) {
      const place = position[row + d];
      if (place >= 0 && place < 258) byPlace[place] = d;
    }
    for (let d = 0; d < nDrivers; d++) {
      const place = position[row + d];
      const ahead = place >= 2 && place < 259 ? byPlace[place - 1] : -1;
      let prediction: number;
      if (ahead >= 0 && gap[row + d] !== MISSING && gap[row + ahead] !== MISSING) {
        prediction = gap[row + d] - gap[row + ahead];
      } else {
        prediction = j > 0 ? q[row - nDrivers + d] : 0;
      }
      q[row + d] = (prediction + residual[row + d]) | 0;
    }
  }
}

interface Head {
  order: 1 | 2;
  keyframes: Int32Array; // as read: residuals until resolved
  velocities: Int32Array;
}

/**
 * The keyframes (docs/codec.md "Keyframes"): the positions as differences between
 * drivers; every other driver channel in race order against the car one place
 * ahead, the speed against the distance's velocity, the gap with the distance to
 * the car ahead over the speed added.
 */
function resolveKeyframes(
  heads: Head[],
  names: string[],
  h: ChunkHeader,
  nDriverChannels: number,
): void {
  const D = h.nDrivers;
  const c = (name: string) => names.indexOf(name);
  const running = (k: Int32Array) => {
    let previous = 0;
    for (let d = 0; d < k.length; d++) previous = k[d] = (previous + k[d]) | 0;
  };
  const position = heads[c("position")].keyframes;
  running(position);
  const order = Array.from({ length: D }, (_, d) => d).sort(
    (a, b) => position[a] - position[b] || a - b,
  );
  const step = Math.max(Math.floor(h.fps / h.rate), 1);
  const distance = heads[c("distance")];
  const inRaceOrder = (ch: number, own: (i: number, ahead: number) => number | null) => {
    const k = heads[ch].keyframes;
    const residual = k.slice(); // the i-th is the car i-th in race order's

    let ahead = 0;
    for (let i = 0; i < D; i++) {
      const prediction = own(i, ahead);
      ahead = ((prediction === null ? ahead : prediction) + residual[i]) | 0;
      k[order[i]] = ahead;
    }
  };
  const later = [c("speed"), c("gap")];
  for (let ch = 0; ch < heads.length; ch++) {
    if (names[ch] === FROM_GAPS || ch === c("position") || later.includes(ch)) continue;
    if (ch >= nDriverChannels) running(heads[ch].keyframes);
    else inRaceOrder(ch, () => null);
  }
  const dKey = distance.keyframes;
  inRaceOrder(c("speed"), (i) => {
    if (distance.order !== 2 || h.nFrames < 2) return null;
    const d = order[i];
    const v = distance.velocities[d];
    if (dKey[d] === MISSING || ((dKey[d] + v) | 0) === MISSING) return null;
    return Math.floor((v * 36 * h.fps + 50 * step) / (100 * step));
  });
  const speed = heads[c("speed")].keyframes;
  inRaceOrder(c("gap"), (i, ahead) => {
    if (i === 0) return null;
    const d = order[i];
    const a = order[i - 1];
    const sp = speed[d];
    if (dKey[d] === MISSING || dKey[a] === MISSING || sp === MISSING || sp <= MIN_SPEED_FOR_GAP)
      return null;
    return ahead + Math.floor(((dKey[a] - dKey[d]) * 360) / sp);
  });
}

function toValues(q: Int32Array, scale: number, missing: boolean): Float32Array {
  const out = new Float32Array(q.length);
  if (missing) for (let i = 0; i < q.length; i++) out[i] = q[i] === MISSING ? NaN : q[i] / scale;
  else for (let i = 0; i < q.length; i++) out[i] = q[i] / scale;
  return out;
}

// Each event kind's data keys, in the wire's kind order (docs/codec.md "Events";
// racereplay/codec/compact_events.py EVENT_FIELDS).
const EVENT_FIELDS: [string, string[]][] = [
  ["lap", ["lap", "lap_time", "sectors", "personal_best", "overall_best", "position"]],
  ["sector", ["lap", "sector", "time", "personal_best", "overall_best"]],
  ["pit_in", ["lap"]],
  ["pit_out", ["lap", "compound"]],
  ["pit_stop", ["lap", "duration", "stationary"]],
  ["overtake", ["position", "passed"]],
  ["retirement", ["lap"]],
  ["finish", ["position", "lap"]],
  ["track_status", ["status", "label"]],
  ["message", ["category", "message", "flag", "scope", "sector", "driver", "lap"]],
  [
    "weather",
    ["air_temp", "track_temp", "humidity", "pressure", "rainfall", "wind_speed", "wind_direction"],
  ],
  ["segment", ["name", "start", "end"]],
];

/**
 * One event of the events section: an object as it is, or the array
 * `[kind, ms from the chunk start, driver, ...data values]` of a kind in EVENT_FIELDS.
 */
function readEvent(raw: unknown, startMs: number): SessionEvent {
  if (!Array.isArray(raw)) {
    const e = raw as Record<string, unknown>;
    return {
      time: Number(e.time),
      kind: String(e.kind),
      driver: (e.driver as string | null) ?? null,
      data: (e.data as Record<string, unknown>) ?? {},
    };
  }
  const fields = EVENT_FIELDS[raw[0] as number];
  if (!fields || raw.length !== 3 + fields[1].length)
    throw new ChunkFormatError(`unknown event form: kind ${raw[0]} with ${raw.length} items`);
  const data: Record<string, unknown> = {};
  fields[1].forEach((key, i) => (data[key] = raw[3 + i]));
  return {
    time: (startMs + (raw[1] as number)) / 1000,
    kind: fields[0],
    driver: (raw[2] as string | null) ?? null,
    data,
  };
}

/** Decode one compact chunk (header + deflate-raw payload). */
export async function decodeChunk(
  bytes: Uint8Array,
): Promise<FrameBlock & { header: ChunkHeader }> {
  const h = readHeader(bytes);
  const payload = await inflateRaw(bytes.subarray(HEADER_BYTES)); // the message is the chunk
  const pv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const valuesLength = pv.getUint32(0, true);
  const reader = new VarintReader(payload, 4 + valuesLength);
  reader.pos = 4;
  const n = h.nFrames;
  const D = h.nDrivers;
  const orders = reader.next() >>> 0; // bit c: wire channel c predicts from velocity
  const wire = [
    ...WIRE_DRIVER_CHANNELS.map(([name, scale, missing], c) => ({
      name,
      scale,
      missing,
      size: D,
      paired: c >= PAIRED_FROM,
    })),
    ...WIRE_SESSION_CHANNELS.map(([name, scale, missing]) => ({
      name,
      scale,
      missing,
      size: 1,
      paired: false,
    })),
  ];
  // Heads: per channel the keyframes (coded against predictions), then the velocities.
  const heads: Head[] = wire.map((ch, c) => {
    const order: 1 | 2 = (orders >>> c) & 1 ? 2 : 1;
    const keyframes = new Int32Array(ch.size);
    const velocities = new Int32Array(ch.size);
    if (ch.name !== FROM_GAPS) {
      for (let d = 0; d < ch.size; d++) keyframes[d] = reader.next();
      if (order === 2 && n > 1) for (let d = 0; d < ch.size; d++) velocities[d] = reader.next();
    }
    return { order, keyframes, velocities };
  });
  resolveKeyframes(
    heads,
    wire.map((ch) => ch.name),
    h,
    WIRE_DRIVER_CHANNELS.length,
  );
  // Bodies: the unpaired channels' varints, then the pair bytes, then the escaped pairs.
  let pairBytes = 0;
  for (const ch of wire) {
    if (!ch.paired) continue;
    const m =
      ch.name === FROM_GAPS ? n : n - Math.min((orders >>> wire.indexOf(ch)) & 1 ? 2 : 1, n);
    pairBytes += ch.size * ((m + 1) >> 1);
  }
  const quantised = {} as Record<string, Int32Array>;
  const driver = {} as Record<DriverChannel, Float32Array>;
  const session = {} as Record<SessionChannel, Float32Array>;
  const scratch = new Int32Array(n * D);
  const decodeChannel = (c: number, r: VarintReader | PairReader) => {
    const ch = wire[c];
    // The position and the gap are kept: the interval is predicted from them.
    const kept = ch.name === "position" || ch.name === "gap";
    const q = kept ? new Int32Array(n * ch.size) : scratch.subarray(0, n * ch.size);
    if (ch.name === FROM_GAPS) {
      readIntervals(r as PairReader, n, D, quantised.gap, quantised.position, q);
    } else {
      const { order, keyframes, velocities } = heads[c];
      for (let d = 0; d < ch.size; d++) {
        if (r instanceof PairReader) r.restart();
        readSeries(r, n, order, keyframes[d], velocities[d], q, ch.size, d);
      }
    }
    if (kept) quantised[ch.name] = q;
    const values = toValues(q, ch.scale, ch.missing);
    if (c < WIRE_DRIVER_CHANNELS.length) driver[ch.name as DriverChannel] = values;
    else session[ch.name as SessionChannel] = values;
  };
  wire.forEach((ch, c) => {
    if (!ch.paired) decodeChannel(c, reader);
  });
  const escapes = new VarintReader(payload, 4 + valuesLength);
  escapes.pos = reader.pos + pairBytes;
  const pairs = new PairReader(payload, reader.pos, escapes);
  wire.forEach((ch, c) => {
    if (ch.paired) decodeChannel(c, pairs);
  });
  const eventText = new TextDecoder().decode(payload.subarray(4 + valuesLength));
  // The events' times count from the chunk's start in whole ms (Python: chunk_start_ms).
  const startMs = Math.floor((h.t0 + h.firstFrame / h.fps) * 1000);
  const events = eventText.trim()
    ? (JSON.parse(eventText) as unknown[]).map((raw) => readEvent(raw, startMs))
    : [];
  return {
    header: h,
    index: h.index,
    rate: h.rate,
    frames: chunkFrames(h),
    end: h.firstFrame + h.chunkSeconds * h.fps,
    n,
    nDrivers: D,
    driver,
    session,
    events,
  };
}
