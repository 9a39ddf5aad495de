// The viewer's WebSocket, off the main thread: it decodes the msgpack envelopes
// and the compact chunks here, so the page only receives ready-to-draw blocks.
// It reconnects by itself after a dropped connection, except after a close code
// the server lists as final in its last `hello` (before any hello, every close is
// retried); the page then re-sends its position so the replay resumes at the same moment.

import { decode, encode } from "@msgpack/msgpack";
import type { WireCommand } from "./commands";
import { decodeChunk } from "./codec";
import { asServerMessage, type FrameBlock, type ServerMessage, unreachable } from "./types";

export type ToWorker =
  { type: "connect"; url: string } | { type: "command"; command: WireCommand } | { type: "drop" }; // simulate a dropped link (tests): the worker reconnects

export type FromWorker =
  | { type: "open"; reconnect: boolean }
  | { type: "closed"; code: number; reason: string; retryInMs: number | null }
  | { type: "message"; message: ServerMessage }
  | { type: "block"; block: FrameBlock; bytes: number; receivedAt: number }
  | { type: "unreadable"; reason: string }; // a message or chunk this client cannot decode

let socket: WebSocket | null = null;
let url = "";
let attempts = 0;
let everOpened = false;
let lastSeq = 0;
// Close codes after which a retry cannot help (the session is unknown, failed, the
// parameters are bad, the origin is refused), from the server's last `hello`.
let finalCloseCodes: readonly number[] = [];

const post = (m: FromWorker, transfer: Transferable[] = []) =>
  (self as unknown as Worker).postMessage(m, transfer);

function transferables(b: FrameBlock): ArrayBuffer[] {
  const out: ArrayBuffer[] = [b.frames.buffer as ArrayBuffer];
  for (const a of Object.values(b.driver)) out.push(a.buffer as ArrayBuffer);
  for (const a of Object.values(b.session)) out.push(a.buffer as ArrayBuffer);
  return out;
}

// Messages are handled strictly in arrival order (a chunk decode is async).
let queue: Promise<void> = Promise.resolve();

async function handle(data: ArrayBuffer | string, receivedAt: number): Promise<void> {
  const decoded: unknown =
    typeof data === "string" ? JSON.parse(data) : decode(new Uint8Array(data));
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
      if (message.codec === "compact" && message.payload instanceof Uint8Array) {
        const { header: _header, ...block } = await decodeChunk(message.payload);
        const bytes = typeof data === "string" ? data.length : data.byteLength;
        post({ type: "block", block, bytes, receivedAt }, transferables(block));
        return;
      }
      break;
    case "progress":
    case "ready":
    case "state":
    case "events":
    case "pong":
    case "error":
      break;
    default:
      unreachable(message);
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
    queue = queue
      .then(() => handle(e.data, receivedAt))
      .catch((err) => post({ type: "unreadable", reason: String(err) }));
  };
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
      connect();
      break;
    case "command":
      if (socket?.readyState === WebSocket.OPEN)
        socket.send(encode({ ...m.command, seq: ++lastSeq }));
      break;
    case "drop":
      socket?.close(4000, "dropped by the client");
      break;
    default:
      unreachable(m);
  }
};
