// The viewer's commands to the server (docs/protocol.md §2), paced as the server
// paces them: a token bucket of `commands_per_second`, bursts of `command_burst`
// (ProtocolConstants). A command that finds no token waits, and a newer one of the
// same kind replaces it (the last seek, speed, quality and play/pause win, as on the
// server), so scrubbing the seek bar sends only the latest seek once a token is free.

import type { ProtocolConstants } from "./types";

export type Command =
  | { type: "play" }
  | { type: "pause" }
  | { type: "seek"; frame: number }
  | { type: "seek"; lap: number }
  | { type: "speed"; value: number }
  | { type: "quality"; codec: string; rate: number | "auto" }
  | { type: "ping" }
  | { type: "room_create"; name?: string }
  | { type: "room_join"; room: string; name?: string }
  | { type: "room_leave" }
  | { type: "room_host"; member: string }
  | { type: "room_policy"; policy: "host" | "everyone" };

/** A command as sent: a ping carries the client's Unix ms, taken as it leaves. */
export type WireCommand = Exclude<Command, { type: "ping" }> | { type: "ping"; t: number };

/** What a waiting command is replaced by (the server's "slots"). */
function slot(c: Command): string {
  if (c.type === "room_create" || c.type === "room_join" || c.type === "room_leave") return "room";
  return c.type === "play" || c.type === "pause" ? "playback" : c.type;
}

export class CommandSender {
  private tokens: number;
  private refilledAt: number;
  private waiting: Command[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private perSecond: number;
  private burst: number;
  /** Called as each command leaves (after any wait for a token). */
  onSent: (command: WireCommand, now: number) => void = () => {};

  constructor(
    private transmit: (command: WireCommand) => void,
    constants: Pick<ProtocolConstants, "commands_per_second" | "command_burst">,
    private now: () => number = () => performance.now(),
  ) {
    this.perSecond = Math.max(constants.commands_per_second, 0.1);
    this.burst = Math.max(constants.command_burst, 1);
    this.tokens = this.burst;
    this.refilledAt = now();
  }

  send(command: Command): void {
    const key = slot(command);
    this.waiting = this.waiting.filter((c) => slot(c) !== key);
    this.waiting.push(command);
    this.flush();
  }

  private refill(now: number): void {
    this.tokens = Math.min(
      this.burst,
      this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond,
    );
    this.refilledAt = now;
  }

  private flush(): void {
    const now = this.now();
    this.refill(now);
    while (this.waiting.length && this.tokens >= 1) {
      this.tokens -= 1;
      const command = this.waiting.shift()!;
      // A ping's time is taken as it leaves: a wait for a token is no part of the round trip.
      const out: WireCommand =
        command.type === "ping"
          ? { type: "ping", t: performance.timeOrigin + performance.now() }
          : command;
      this.transmit(out);
      this.onSent(out, now);
    }
    if (this.waiting.length && this.timer === null) {
      const wait = Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, wait);
    }
  }
}
