// Decoder of the compact chunk format (docs/codec.md, magic "RRC1").
// Pure: no DOM, runs in the decode worker and under Node for the codec tests.

import {
  DRIVER_CHANNELS,
  SESSION_CHANNELS,
  type DriverChannel,
  type FrameBlock,
  type SessionChannel,
  type SessionEvent,
} from "./types";

const MAGIC = "RRC1";
const HEADER_BYTES = 32;
const MISSING = -2147483648;

// [scale, prediction order, may be missing] in the wire's channel order.
const DRIVER_CODING: Record<DriverChannel, [number, 1 | 2, boolean]> = {
  x: [10, 2, true],
  y: [10, 2, true],
  speed: [1, 2, true],
  gear: [1, 1, false],
  throttle: [1, 1, false],
  brake: [1, 1, false],
  drs: [1, 1, false],
  rpm: [0.1, 2, false],
  lap: [1, 1, false],
  distance: [10, 2, true],
  position: [1, 1, false],
  gap: [1000, 2, true],
  interval: [1000, 2, true],
  compound: [1, 1, false],
  tyre_age: [1, 1, false],
  status: [1, 1, false],
  gap_laps: [1, 1, false],
  interval_laps: [1, 1, false],
};
const SESSION_CODING: Record<SessionChannel, [number, 1 | 2, boolean]> = {
  leader_lap: [1, 1, false],
  track_status: [1, 1, false],
};

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
  if (nDriverChannels !== DRIVER_CHANNELS.length || nSessionChannels !== SESSION_CHANNELS.length) {
    throw new ChunkFormatError(
      `chunk has ${nDriverChannels}+${nSessionChannels} channels, this client knows ${DRIVER_CHANNELS.length}+${SESSION_CHANNELS.length}`,
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
 * Rebuild one series into `out[j * stride + offset]`; residuals are summed with
 * wrapping 32-bit arithmetic exactly as the encoder did.
 */
function readSeries(
  r: VarintReader,
  n: number,
  order: 1 | 2,
  scale: number,
  missing: boolean,
  out: Float32Array,
  stride: number,
  offset: number,
): void {
  let q1 = 0; // q[j-1]
  let q2 = 0; // q[j-2]
  for (let j = 0; j < n; j++) {
    const res = r.next();
    let q: number;
    if (j === 0) q = res;
    else if (order === 1 || j === 1) q = (q1 + res) | 0;
    else q = (((2 * q1) | 0) - q2 + res) | 0;
    q2 = q1;
    q1 = q;
    out[j * stride + offset] = missing && q === MISSING ? NaN : q / scale;
  }
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
  const driver = {} as Record<DriverChannel, Float32Array>;
  for (const ch of DRIVER_CHANNELS) {
    const [scale, order, missing] = DRIVER_CODING[ch];
    const out = new Float32Array(n * D);
    for (let d = 0; d < D; d++) readSeries(reader, n, order, scale, missing, out, D, d);
    driver[ch] = out;
  }
  const session = {} as Record<SessionChannel, Float32Array>;
  for (const ch of SESSION_CHANNELS) {
    const [scale, order, missing] = SESSION_CODING[ch];
    const out = new Float32Array(n);
    readSeries(reader, n, order, scale, missing, out, 1, 0);
    session[ch] = out;
  }
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
