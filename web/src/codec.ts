// Decoder of the compact chunk format (docs/codec.md, magic "RRC2").
// Pure: no DOM, runs in the decode worker and under Node for the codec tests.

import {
  DRIVER_CHANNELS,
  SESSION_CHANNELS,
  type DriverChannel,
  type FrameBlock,
  type SessionChannel,
  type SessionEvent,
} from "./types";

const MAGIC = "RRC2";
const HEADER_BYTES = 32;
const MISSING = -2147483648;

// The wire's channel order (docs/codec.md): [name, scale, may be missing].
// The interval (FROM_GAPS) is predicted from the position and the gap, decoded before it.
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
  firstFrame: number;
  t0: number;
  payloadLength: number;
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
  const nDriverChannels = v.getUint8(10);
  const nSessionChannels = v.getUint8(11);
  if (
    nDriverChannels !== WIRE_DRIVER_CHANNELS.length ||
    nSessionChannels !== WIRE_SESSION_CHANNELS.length
  ) {
    throw new ChunkFormatError(
      `chunk has ${nDriverChannels}+${nSessionChannels} channels, this client knows ${WIRE_DRIVER_CHANNELS.length}+${WIRE_SESSION_CHANNELS.length}`,
    );
  }
  return {
    fps: v.getUint8(4),
    rate: v.getUint8(5),
    chunkSeconds: v.getUint8(6),
    nDrivers: v.getUint8(7),
    nFrames: v.getUint16(8, true),
    index: v.getUint32(12, true),
    firstFrame: v.getUint32(16, true),
    t0: v.getFloat64(20, true),
    payloadLength: v.getUint32(28, true),
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
 * Rebuild one series of quantised values into `q[j * stride + offset]` from its
 * head (keyframe, then velocity for order 2) and its body residuals, with wrapping
 * 32-bit arithmetic exactly as the encoder.
 */
function readSeries(
  r: VarintReader,
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
  r: VarintReader,
  n: number,
  nDrivers: number,
  gap: Int32Array,
  position: Int32Array,
  q: Int32Array,
): void {
  const residual = new Int32Array(n * nDrivers);
  for (let d = 0; d < nDrivers; d++)
    for (let j = 0; j < n; j++) residual[j * nDrivers + d] = r.next();
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

function toValues(q: Int32Array, scale: number, missing: boolean): Float32Array {
  const out = new Float32Array(q.length);
  if (missing) for (let i = 0; i < q.length; i++) out[i] = q[i] === MISSING ? NaN : q[i] / scale;
  else for (let i = 0; i < q.length; i++) out[i] = q[i] / scale;
  return out;
}

function normaliseEvent(raw: Record<string, unknown>): SessionEvent {
  return {
    time: Number(raw.time),
    kind: String(raw.kind),
    driver: (raw.driver as string | null) ?? null,
    data: (raw.data as Record<string, unknown>) ?? {},
  };
}

/** Decode one compact chunk (header + deflate-raw payload). */
export async function decodeChunk(
  bytes: Uint8Array,
): Promise<FrameBlock & { header: ChunkHeader }> {
  const h = readHeader(bytes);
  const end = HEADER_BYTES + h.payloadLength;
  if (bytes.length < end)
    throw new ChunkFormatError(`chunk truncated: ${bytes.length} of ${end} bytes`);
  const payload = await inflateRaw(bytes.subarray(HEADER_BYTES, end));
  const pv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const valuesLength = pv.getUint32(0, true);
  const reader = new VarintReader(payload, 4 + valuesLength);
  reader.pos = 4;
  const n = h.nFrames;
  const D = h.nDrivers;
  const orders = reader.next() >>> 0; // bit c: wire channel c predicts from velocity
  const wire = [
    ...WIRE_DRIVER_CHANNELS.map(([name, scale, missing]) => ({ name, scale, missing, size: D })),
    ...WIRE_SESSION_CHANNELS.map(([name, scale, missing]) => ({ name, scale, missing, size: 1 })),
  ];
  // Heads: per channel the keyframes (as differences between drivers), then the velocities.
  const heads = wire.map((ch, c) => {
    const order: 1 | 2 = (orders >>> c) & 1 ? 2 : 1;
    const keyframes = new Int32Array(ch.size);
    const velocities = new Int32Array(ch.size);
    if (ch.name !== FROM_GAPS) {
      let previous = 0;
      for (let d = 0; d < ch.size; d++) previous = keyframes[d] = (previous + reader.next()) | 0;
      if (order === 2 && n > 1) for (let d = 0; d < ch.size; d++) velocities[d] = reader.next();
    }
    return { order, keyframes, velocities };
  });
  const quantised = {} as Record<string, Int32Array>;
  const driver = {} as Record<DriverChannel, Float32Array>;
  const session = {} as Record<SessionChannel, Float32Array>;
  const scratch = new Int32Array(n * D);
  wire.forEach((ch, c) => {
    // The position and the gap are kept: the interval is predicted from them.
    const kept = ch.name === "position" || ch.name === "gap";
    const q = kept ? new Int32Array(n * ch.size) : scratch.subarray(0, n * ch.size);
    if (ch.name === FROM_GAPS) {
      readIntervals(reader, n, D, quantised.gap, quantised.position, q);
    } else {
      const { order, keyframes, velocities } = heads[c];
      for (let d = 0; d < ch.size; d++)
        readSeries(reader, n, order, keyframes[d], velocities[d], q, ch.size, d);
    }
    if (kept) quantised[ch.name] = q;
    const values = toValues(q, ch.scale, ch.missing);
    if (c < WIRE_DRIVER_CHANNELS.length) driver[ch.name as DriverChannel] = values;
    else session[ch.name as SessionChannel] = values;
  });
  const eventText = new TextDecoder().decode(payload.subarray(4 + valuesLength));
  const events = eventText.trim()
    ? (JSON.parse(eventText) as Record<string, unknown>[]).map(normaliseEvent)
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
