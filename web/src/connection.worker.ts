// The viewer's WebSocket, off the main thread: it decodes the msgpack envelopes
// and the compact chunks here, so the page only receives ready-to-draw blocks.
// It reconnects by itself after a dropped connection, except after a close code
// the server lists as final in its last `hello` (before any hello, every close is
// retried); the page then re-sends its position so the replay resumes at the same moment.
//
// Chunk bytes come one of two ways (docs/protocol.md, "Delivery"): with `delivery=http`
// the server sends `next` hints and the worker fetches each chunk from its immutable
// URL (so the browser's cache, a proxy's or a CDN's serves it), several at once but
// decoded and handed on in hint order; with `push` they come in `data` messages. When a
// fetch fails even after retries, the worker asks the server to push instead.
// The page may also ask for chunks ahead of any hint (`prefetch`: the span of a video
// the replay is locked to, broadcast.ts), so a seek in the video finds its data here.

import { decode, encode } from "@msgpack/msgpack";
import type { WireCommand } from "./commands";
import { decodeChunk } from "./codec";
import {
  asNextMessage,
  asServerMessage,
  type Delivery,
  type FrameBlock,
  type NextMessage,
  type ServerMessage,
  unreachable,
} from "./types";

export type ToWorker =
  | { type: "connect"; url: string; page: string } // page: the URL chunk URLs resolve against
  | { type: "command"; command: WireCommand }
  | { type: "drop" } // simulate a dropped link (tests): the worker reconnects
  | { type: "prefetch"; codec: string; rate: number; chunks: number[] }; // nearest first

export type FromWorker =
  | { type: "open"; reconnect: boolean }
  | { type: "closed"; code: number; reason: string; retryInMs: number | null }
  | { type: "message"; message: ServerMessage }
  | { type: "block"; block: FrameBlock; bytes: number; receivedAt: number; prefetched: boolean }
  | { type: "fallback"; reason: string } // HTTP fetches failed: chunks are pushed from now on
  | { type: "unreadable"; reason: string }; // a message or chunk this client cannot decode

const FETCH_TRIES = 3;
const FETCH_RETRY_MS = 300; // doubled after each failed try

let socket: WebSocket | null = null;
let url = "";
let page = "";
let attempts = 0;
let everOpened = false;
let lastSeq = 0;
let link = 0; // bumped on every (re)connection: a late failure of an old link is ignored
let pushAsked = false;
// The metadata's chunk URL template, from the last `ready`.
let chunkTemplate = "";
// Close codes after which a retry cannot help (the session is unknown, failed, the
// parameters are bad, the origin is refused), from the server's last `hello`.
let finalCloseCodes: readonly number[] = [];

const post = (m: FromWorker, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(m, transfer);

const now = () => performance.timeOrigin + performance.now(); // absolute ms: the page's clock has another origin

function transferables(b: FrameBlock): ArrayBuffer[] {
  const out: ArrayBuffer[] = [b.frames.buffer as ArrayBuffer];
  for (const a of Object.values(b.driver)) out.push(a.buffer as ArrayBuffer);
  for (const a of Object.values(b.session)) out.push(a.buffer as ArrayBuffer);
  return out;
}

/**
 * A chunk's URL beside the page, like the WebSocket's: the template's path from its
 * `/api/sessions/` on, resolved against the page, so a proxy's sub-path is kept.
 */
export function chunkUrl(
  template: string,
  pageUrl: string,
  codec: string,
  rate: number,
  index: number,
): string {
  const path = template
    .replace("{codec}", encodeURIComponent(codec))
    .replace("{rate}", String(rate))
    .replace("{index}", String(index));
  const at = path.lastIndexOf("/api/sessions/");
  return new URL(at >= 0 ? path.slice(at + 1) : path, pageUrl).href;
}

// Messages are handled strictly in arrival order (a chunk decode is async).
let queue: Promise<void> = Promise.resolve();

async function decodeAndPost(
  payload: Uint8Array,
  bytes: number,
  receivedAt: number,
  prefetched = false,
) {
  const { header: _header, ...block } = await decodeChunk(payload);
  post({ type: "block", block, bytes, receivedAt, prefetched }, transferables(block));
}

async function handle(decoded: unknown, bytes: number, receivedAt: number): Promise<void> {
  const message = asServerMessage(decoded);
  if (!message) {
    const type =
      typeof decoded === "object" && decoded !== null
        ? (decoded as { type?: unknown }).type
        : decoded;
    post({ type: "unreadable", reason: `a message of unknown type ${JSON.stringify(type)}` });
    return;
  }
  switch (message.type) {
    case "hello":
      finalCloseCodes = message.constants.final_close_codes;
      break;
    case "data":
      if (message.codec === "compact" && message.payload instanceof Uint8Array)
        return decodeAndPost(message.payload, bytes, receivedAt);
      break;
    case "progress":
    case "ready":
    case "state":
    case "events":
    case "pong":
    case "error":
    case "room":
    case "room_left":
      break;
    default:
      unreachable(message);
  }
  post({ type: "message", message });
}

type Fetched = { bytes: Uint8Array; receivedAt: number } | { failed: string };

/** The hinted chunk's bytes (the browser's HTTP cache first), retried; never rejects. */
async function fetchChunk(hint: Pick<NextMessage, "codec" | "rate" | "chunk">): Promise<Fetched> {
  const target = chunkUrl(chunkTemplate, page, hint.codec, hint.rate, hint.chunk);
  let failed = "";
  for (let attempt = 0; attempt < FETCH_TRIES; attempt++) {
    if (attempt) await new Promise((r) => setTimeout(r, FETCH_RETRY_MS * 2 ** (attempt - 1)));
    try {
      const res = await fetch(target);
      if (res.ok) return { bytes: new Uint8Array(await res.arrayBuffer()), receivedAt: now() };
      failed = `HTTP ${res.status} for ${target}`;
    } catch (err) {
      failed = `${String(err)} for ${target}`;
    }
  }
  return { failed };
}

async function deliver(fetching: Promise<Fetched>, from: number): Promise<void> {
  const got = await fetching;
  if ("bytes" in got) return decodeAndPost(got.bytes, got.bytes.byteLength, got.receivedAt);
  if (from !== link || pushAsked) return;
  // The server pushes from the clock's position on: the missing chunk comes that way.
  pushAsked = true;
  post({ type: "fallback", reason: got.failed });
  send({ type: "delivery", mode: "push" });
}

function send(command: WireCommand | { type: "delivery"; mode: Delivery }): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(encode({ ...command, seq: ++lastSeq }));
}

function receive(data: ArrayBuffer | string, receivedAt: number): void {
  const bytes = typeof data === "string" ? data.length : data.byteLength;
  let decoded: unknown;
  try {
    decoded = typeof data === "string" ? JSON.parse(data) : decode(new Uint8Array(data));
  } catch (err) {
    post({ type: "unreadable", reason: String(err) });
    return;
  }
  const hint = asNextMessage(decoded);
  if (hint) {
    // Fetched at once, side by side with the others; handed on in hint order.
    const fetching = fetchChunk(hint);
    const from = link;
    queue = queue.then(() => deliver(fetching, from));
  } else {
    const ready = decoded as { type?: unknown; metadata?: { chunk_url?: unknown } };
    if (ready.type === "ready" && typeof ready.metadata?.chunk_url === "string")
      chunkTemplate = ready.metadata.chunk_url; // before the hints that follow it start fetching
    queue = queue.then(() => handle(decoded, bytes, receivedAt));
  }
  queue = queue.catch((err) => post({ type: "unreadable", reason: String(err) }));
}

const PREFETCH_AT_ONCE = 2; // fetches at a time, beside the hinted ones
let prefetching = 0; // bumped by each list: a newer one replaces what is left of the older
const prefetchedOnce = new Set<string>(); // codec/rate/chunk handed on already

/**
 * Fetch and hand on `chunks` in order, a couple at a time, each once; a failed one is
 * left to the hints.
 */
async function prefetch(codec: string, rate: number, chunks: number[]): Promise<void> {
  const mine = ++prefetching;
  const todo = chunks.filter((chunk) => !prefetchedOnce.has(`${codec}/${rate}/${chunk}`));
  const fetcher = async (): Promise<void> => {
    while (todo.length && mine === prefetching && chunkTemplate) {
      const chunk = todo.shift()!;
      const got = await fetchChunk({ codec, rate, chunk });
      if (!("bytes" in got)) continue;
      prefetchedOnce.add(`${codec}/${rate}/${chunk}`);
      await decodeAndPost(got.bytes, got.bytes.byteLength, got.receivedAt, true);
    }
  };
  await Promise.all(Array.from({ length: PREFETCH_AT_ONCE }, fetcher));
}

function connect(): void {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  socket = ws;
  link++;
  pushAsked = false; // a new connection starts with the delivery its URL asks for
  ws.onopen = () => {
    post({ type: "open", reconnect: everOpened });
    everOpened = true;
    attempts = 0;
  };
  // Arrival time taken now, not after earlier decodes: it measures the link.
  ws.onmessage = (e) => receive(e.data, now());
  ws.onclose = (e) => {
    if (socket !== ws) return;
    socket = null;
    const retryInMs = finalCloseCodes.includes(e.code)
      ? null
      : Math.min(8000, 250 * 2 ** attempts++);
    post({ type: "closed", code: e.code, reason: e.reason, retryInMs });
    if (retryInMs !== null) setTimeout(connect, retryInMs);
  };
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "connect":
      url = m.url;
      page = m.page;
      connect();
      break;
    case "command":
      send(m.command);
      break;
    case "drop":
      socket?.close(4000, "dropped by the client");
      break;
    case "prefetch":
      prefetch(m.codec, m.rate, m.chunks).catch((err) =>
        post({ type: "unreadable", reason: String(err) }),
      );
      break;
    default:
      unreachable(m);
  }
};
