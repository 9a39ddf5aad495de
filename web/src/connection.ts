// The page's side of the connection worker (connection.worker.ts): it starts the
// worker, hands it commands, and passes on what it reports, each kind to its handler.

import type { WireCommand } from "./commands";
import type { FromWorker, ToWorker } from "./connection.worker";
import ConnectionWorker from "./connection.worker?worker";
import { type Delivery, type FrameBlock, type ServerMessage, unreachable } from "./types";

export class Connection {
  private worker: Worker = new ConnectionWorker();
  onOpen: (reconnect: boolean) => void = () => {};
  /** `retryInMs` null: the worker gives up (a final close code, see ProtocolConstants). */
  onClosed: (code: number, reason: string, retryInMs: number | null) => void = () => {};
  onMessage: (message: ServerMessage) => void = () => {};
  /** A decoded chunk; `receivedAt` in page time (performance.now's ms); `prefetched`: asked by `prefetch`, not hinted. */
  onBlock: (block: FrameBlock, bytes: number, receivedAt: number, prefetched: boolean) => void =
    () => {};

  constructor() {
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
  }

  /**
   * Open the WebSocket for `session` (the worker reconnects by itself). `delivery` "http":
   * chunks are fetched from their immutable URLs (cacheable), the socket carries hints.
   */
  connect(session: string, codec: string, rate: string, delivery: Delivery = "http"): void {
    // Beside the page (`/f1/ws` under a proxy's sub-path), on ws: or wss: as the page is.
    const url = new URL("ws", document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = new URLSearchParams({ session, codec, rate, delivery }).toString();
    this.post({ type: "connect", url: url.href, page: document.baseURI });
  }

  send(command: WireCommand): void {
    this.post({ type: "command", command });
  }

  /** Fetch these chunks (nearest first) ahead of any hint; a newer list replaces an older one. */
  prefetch(codec: string, rate: number, chunks: number[]): void {
    this.post({ type: "prefetch", codec, rate, chunks });
  }

  /** Drop the link as a network failure would (tests): the worker reconnects. */
  drop(): void {
    this.post({ type: "drop" });
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case "block":
        return this.onBlock(m.block, m.bytes, m.receivedAt - performance.timeOrigin, m.prefetched);
      case "message":
        return this.onMessage(m.message);
      case "open":
        return this.onOpen(m.reconnect);
      case "closed":
        return this.onClosed(m.code, m.reason, m.retryInMs);
      case "unreadable":
        console.warn("connection:", m.reason);
        return;
      case "fallback":
        console.warn("connection: chunk fetches failed, the server pushes them now:", m.reason);
        return;
      default:
        unreachable(m);
    }
  }
}
