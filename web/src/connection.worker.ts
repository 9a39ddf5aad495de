// The viewer's WebSocket, off the main thread: it decodes the msgpack envelopes
// and the compact chunks here, so the page only receives ready-to-draw blocks.
// It reconnects by itself after a dropped connection; the page then re-sends
// its position so the replay resumes at the same moment.

import { decode, encode } from "@msgpack/msgpack";
import { decodeChunk } from "./codec";
import type { FrameBlock, ServerMessage } from "./types";

export type ToWorker =
  | { type: "connect"; url: string }
  | { type: "command"; command: Record<string, unknown> }
  | { type: "close" }
  | { type: "drop" }; // simulate a dropped link (tests): the worker reconnects

export type FromWorker =
  | { type: "open"; reconnect: boolean }
  | { type: "closed"; code: number; reason: string; retryInMs: number | null }
  | { type: "message"; message: ServerMessage }
  | { type: "block"; block: FrameBlock; bytes: number; decodeMs: number; receivedAt: number };

let socket: WebSocket | null = null;
let url = "";
let attempts = 0;
let everOpened = false;
let closing = false;
let lastSeq = 0;

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

function transferables(b: FrameBlock): ArrayBuffer[] {
  const out: ArrayBuffer[] = [b.frames.buffer as ArrayBuffer];
  for (const a of Object.values(b.driver)) out.push(a.buffer as ArrayBuffer);
  for (const a of Object.values(b.session)) out.push(a.buffer as ArrayBuffer);
  return out;
}

// Messages are handled strictly in arrival order (a chunk decode is async).
let queue: Promise<void> = Promise.resolve();

async function handle(data: ArrayBuffer | string, receivedAt: number): Promise<void> {
  const message = (typeof data === "string" ? JSON.parse(data) : decode(new Uint8Array(data))) as ServerMessage;
  if (message.type === "data" && message.codec === "compact" && message.payload instanceof Uint8Array) {
    const started = performance.now();
    const { header: _header, ...block } = await decodeChunk(message.payload);
    post({ type: "block", block, bytes: (data as ArrayBuffer).byteLength, decodeMs: performance.now() - started, receivedAt }, transferables(block));
    return;
  }
  post({ type: "message", message });
}

function connect(): void {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  socket = ws;
  ws.onopen = () => {
    post({ type: "open", reconnect: everOpened });
    everOpened = true;
    attempts = 0;
  };
  ws.onmessage = (e) => {
    // Arrival time taken now, not after earlier decodes: it measures the link. Absolute ms (the page's clock has another origin).
    const receivedAt = performance.timeOrigin + performance.now();
    queue = queue.then(() => handle(e.data, receivedAt)).catch((err) => post({ type: "message", message: { type: "error", code: "client_decode", message: String(err) } }));
  };
  ws.onclose = (e) => {
    if (socket !== ws) return;
    socket = null;
    // Codes that a retry cannot fix: the session is unknown, failed, or the parameters are bad.
    const final = closing || [1011, 4400, 4404].includes(e.code);
    const retryInMs = final ? null : Math.min(8000, 250 * 2 ** attempts++);
    post({ type: "closed", code: e.code, reason: e.reason, retryInMs });
    if (retryInMs !== null) setTimeout(connect, retryInMs);
  };
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === "connect") {
    url = m.url;
    closing = false;
    connect();
  } else if (m.type === "command") {
    if (socket?.readyState === WebSocket.OPEN) socket.send(encode({ ...m.command, seq: ++lastSeq }));
  } else if (m.type === "drop") {
    socket?.close(4000, "dropped by the client");
  } else if (m.type === "close") {
    closing = true;
    socket?.close(1000);
  }
};
