// The viewer's clock and the server's, kept in step. The page plays on its own clock
// (clock.ts) and tells the server every play, pause, seek and speed change; the
// server's `state` messages anchor the clock back (a seek or a drift beyond half a
// second moves it), and a fresh connection (`join`) is put where the viewer was.
// Pings every few seconds measure the round trip and the server's clock offset, which
// with the `state` anchor date each pushed chunk for the adaptive data rate
// (ratecontrol.ts); in "auto" the rate is asked for here, up or down.
// Locked to a broadcast (broadcast.ts) the clock follows a lead instead (the video):
// the server is told where the lead went, and its `state` never moves the clock.

import type { ReplayClock } from "./clock";
import type { Command, CommandSender } from "./commands";
import type { RateController } from "./ratecontrol";
import { type FrameBlock, type ServerMessage, type StateMessage, unreachable } from "./types";
import type { RateChoice, UrlView } from "./url";

const PING_EVERY_MS = 3000;
// In a watch party the page keeps within this of the room's clock (s of replay at 1x),
// with each `state` dated by its `server_time`; alone, half a second is close enough.
const ROOM_TOLERANCE_S = 0.04;
const ALONE_TOLERANCE_S = 0.5;
const MAX_DATING_S = 2; // a `server_time` further from the page's clock: clocks differ, not dated

/** What a watch party (room.ts) decides for the clock. */
export interface PartyRules {
  /** The server's `join` on a fresh connection: rejoin the room; true if it did. */
  rejoinOnConnect(): boolean;
  /** In a room: the page follows the room's clock. */
  readonly joined: boolean;
  /** The viewer may play, pause, seek and change speed now. */
  mayControl(): boolean;
  /** A control the viewer may not use was used. */
  refused(): void;
}
/** What the page's clock follows instead of the server: a video (broadcast.ts). */
export interface ClockLead {
  /** The clock follows the lead now: the server's `state` does not move it. */
  readonly leading: boolean;
  /** While leading, the viewer's play, pause, seek and speed act on the lead. */
  togglePlay(): void;
  seekFrame(frame: number): void;
  setSpeed(speed: number): void;
}

/** Where the lead is now, for the server (see `Sync.leadMoved`). */
export interface LeadMove {
  playing: boolean;
  /** The lead's rate; the server gets the nearest speed it accepts. */
  speed: number;
  /** The frame the lead jumped to; null: it did not jump. */
  seekTo: number | null;
}

// The speeds the server accepts (`speed` command, docs/protocol.md; replay/player.py).
const SERVER_MIN_SPEED = 0.25;
const SERVER_MAX_SPEED = 64;
const ASKED_RATE_MS = 15_000; // how long a rate asked for counts before its blocks arrive
const CODEC = "compact";

export class Sync {
  /** Once the server was put at the viewer's moment after the first connection. */
  ready = false;
  /** Frames per second of the last block received. */
  rate = 0;
  /** Why the rate last changed ("25 → 10 fps (…)"), every switch in order. */
  readonly rateSwitches: string[] = [];
  /** After every play, pause or speed change, from the viewer or the server. */
  onChange: () => void = () => {};
  /** The watch party, once the page has one (main.ts). */
  party: PartyRules | null = null;
  /** The video the replay may be locked to (broadcast.ts). */
  lead: ClockLead | null = null;

  /** The data rate the viewer asked for. */
  requestedRate: RateChoice;

  private clock: ReplayClock;
  private rates: RateController;
  private commands: CommandSender;
  private fps: number;
  private nFrames: number;
  private t0: number;
  private chunkFrames: number;
  private pending: UrlView | null;
  private askedRate = 0;
  private askedAt = 0;
  private lastPing = 0;
  private lapAsked = false; // a seek by lap awaits the server's frame (for the lead)

  constructor(o: {
    clock: ReplayClock;
    rates: RateController;
    commands: CommandSender;
    fps: number;
    nFrames: number;
    t0: number;
    chunkFrames: number;
    /** The moment, speed, play state and rate the URL asks for; the moment applies on the first `join`. */
    opening: UrlView;
  }) {
    this.clock = o.clock;
    this.rates = o.rates;
    this.commands = o.commands;
    this.fps = o.fps;
    this.nFrames = o.nFrames;
    this.t0 = o.t0;
    this.chunkFrames = o.chunkFrames;
    this.pending = o.opening;
    this.requestedRate = o.opening.rate;
    this.commands.onSent = (c, now) => {
      if (c.type !== "ping") this.rates.commandSent(now);
    };
  }

  private send(command: Command): void {
    this.commands.send(command);
  }

  /** Every message from the server (blocks arrive apart, see `block`). */
  message(msg: ServerMessage): void {
    switch (msg.type) {
      case "state":
        return this.state(msg);
      case "pong":
        return this.rates.pong(
          msg.t,
          msg.server_time * 1000,
          performance.timeOrigin + performance.now(),
        );
      case "error":
        // Commands beyond the server's pace are dropped there; the client paces itself
        // (commands.ts), so this is news for the console, not for the viewer.
        if (msg.code === "too_many") console.info("server:", msg.code, msg.message);
        else console.warn("server:", msg.code, msg.message);
        return;
      case "hello":
      case "progress":
      case "ready":
      case "data":
      case "events":
        return; // the session was opened over REST first; blocks come decoded
      case "room":
      case "room_left":
        return; // the watch party's (room.ts); its clock arrives as `state` messages
      default:
        unreachable(msg);
    }
  }

  /** A block of `bytes` arrived at page time `receivedAt` (ms): one sample of the link's throughput. */
  block(block: FrameBlock, bytes: number, receivedAt: number): void {
    this.rate = block.rate;
    const first = block.index * this.chunkFrames;
    this.rates.chunkArrived(
      receivedAt,
      bytes,
      block.rate,
      first,
      block.end - first,
      this.clock.playing,
    );
  }

  /** The session time at the playhead now. */
  sessionTime(): number {
    return this.t0 + this.clock.frame() / this.fps;
  }

  private state(s: StateMessage): void {
    const { frame, playing, speed, reason } = s;
    this.rates.setAnchor(frame, s.server_time * 1000, speed, playing);
    if (reason === "join") {
      // A fresh connection (first or after a drop): back into the watch party, or put
      // the server where the viewer was.
      if (this.party?.rejoinOnConnect()) {
        this.ready = true;
        this.onChange();
      } else this.restore();
      return;
    }
    if (this.lead?.leading) return this.stateWhileLed(s);
    const inRoom = this.party?.joined ?? false;
    // In a room, where the clock is now rather than when the server sent it: every
    // member is then at the room's moment, whatever its link's delay.
    const now = inRoom && playing ? this.datedFrame(s) : frame;
    if (speed !== this.clock.speed) this.clock.setSpeed(speed);
    const drift = Math.abs(this.clock.frame() - now);
    const tolerance =
      this.fps * (inRoom ? ROOM_TOLERANCE_S : ALONE_TOLERANCE_S) * Math.max(1, speed);
    const moved = reason === "seek" || reason === "skip" || reason === "end";
    const commanded = inRoom && (reason === "play" || reason === "pause" || reason === "speed");
    if (moved || commanded || drift > tolerance) this.clock.seek(now);
    if (playing && !this.clock.playing) this.clock.play();
    if (!playing && this.clock.playing) this.clock.pause();
    this.onChange();
  }

  /**
   * While the lead leads: a lap the viewer asked for moves the lead; a server that went
   * its own way (a heartbeat far from the lead, the end) is put back at the lead's moment.
   */
  private stateWhileLed(s: StateMessage): void {
    if (s.reason === "seek" && this.lapAsked) {
      this.lapAsked = false;
      this.lead?.seekFrame(s.frame);
      return;
    }
    // Acknowledgements of the commands sent for the lead are not news; the server's own
    // moves are (a heartbeat that drifted, a skip forward, the end).
    const own = s.reason === "heartbeat" || s.reason === "skip" || s.reason === "end";
    if (!own) return this.onChange();
    const now = s.playing ? this.datedFrame(s) : s.frame;
    const at = this.clock.frame();
    const tolerance = this.fps * ALONE_TOLERANCE_S * Math.max(1, this.clock.speed);
    // At the timeline's end the server stops while a video may play on: leave it there.
    const beyond = at >= this.nFrames - 1 && s.frame >= this.nFrames - 1;
    if (!beyond && (Math.abs(now - at) > tolerance || s.playing !== this.clock.playing))
      this.tellServer(true);
    this.onChange();
  }

  /** The lead played, paused, jumped or changed rate: the server streams data for its moment. */
  leadMoved(move: LeadMove): void {
    if (move.playing && !this.clock.playing) this.clock.play();
    if (!move.playing && this.clock.playing) this.clock.pause();
    if (move.speed !== this.clock.speed) this.clock.setSpeed(move.speed);
    if (move.seekTo !== null) {
      const f = Math.min(Math.max(Math.round(move.seekTo), 0), this.nFrames - 1);
      this.send({ type: "seek", frame: f });
    }
    this.tellServer(false);
    this.onChange();
  }

  /** Tell the server the clock's play state and speed (the nearest it accepts); `seek`: its frame too. */
  private tellServer(seek: boolean): void {
    if (seek) this.send({ type: "seek", frame: Math.round(this.clock.frame()) });
    const speed = Math.min(Math.max(this.clock.speed, SERVER_MIN_SPEED), SERVER_MAX_SPEED);
    this.send({ type: "speed", value: speed });
    this.send({ type: this.clock.playing ? "play" : "pause" });
  }

  /** A playing `state`'s frame advanced to now by its `server_time` (when the clocks agree). */
  private datedFrame(s: StateMessage): number {
    const elapsed = (performance.timeOrigin + performance.now()) / 1000 - s.server_time;
    if (!(elapsed >= 0 && elapsed < MAX_DATING_S)) return s.frame;
    return Math.min(s.frame + elapsed * s.speed * this.fps, this.nFrames - 1);
  }

  /** The viewer may move the clock now; if not, the watch party says why. */
  private allowed(): boolean {
    if (!this.party || this.party.mayControl()) return true;
    this.party.refused();
    return false;
  }

  /** After (re)connecting: seek to the viewer's moment (from the URL the first time), speed, play state. */
  private restore(): void {
    const p = this.pending;
    this.pending = null;
    if (p) {
      if (p.time !== null) this.clock.seek((p.time - this.t0) * this.fps);
      if (p.speed !== null) this.clock.setSpeed(p.speed);
      if (p.play) this.clock.play();
    }
    this.tellServer(true);
    this.ready = true;
    this.onChange();
  }

  // --- the viewer's requests ------------------------------------------------------

  togglePlay(): void {
    if (this.lead?.leading) return this.lead.togglePlay();
    if (!this.allowed()) return;
    if (this.clock.playing) {
      this.clock.pause();
      this.send({ type: "pause" });
    } else {
      if (this.clock.atEnd()) this.seekFrame(0);
      this.clock.play();
      this.send({ type: "play" });
    }
    this.onChange();
  }

  setSpeed(speed: number): void {
    if (this.lead?.leading) return this.lead.setSpeed(speed);
    if (!this.allowed()) {
      this.onChange(); // the speed control shows the room's speed again
      return;
    }
    this.clock.setSpeed(speed);
    this.send({ type: "speed", value: speed });
    this.onChange();
  }

  seekFrame(frame: number): void {
    if (this.lead?.leading) return this.lead.seekFrame(frame);
    if (!this.allowed()) return;
    const f = Math.min(Math.max(Math.round(frame), 0), this.nFrames - 1);
    this.clock.seek(f);
    this.send({ type: "seek", frame: f });
  }

  seekTime(sessionTime: number): void {
    this.seekFrame((sessionTime - this.t0) * this.fps);
  }

  skip(seconds: number): void {
    this.seekFrame(this.clock.frame() + seconds * this.fps);
  }

  /** The server finds the lap's first frame; its `state` answer moves the clock. */
  seekLap(lap: number): void {
    if (Number.isFinite(lap) && lap > 0 && this.allowed()) {
      this.lapAsked = this.lead?.leading ?? false;
      this.send({ type: "seek", lap: Math.round(lap) });
    }
  }

  setRate(rate: RateChoice): void {
    this.requestedRate = rate;
    this.send({ type: "quality", codec: CODEC, rate });
  }

  // --- a few times a second ------------------------------------------------------

  /** Pings, and in "auto" the data rate for the measured link. */
  tick(now: number): void {
    this.adaptRate(now);
    if (now - this.lastPing > PING_EVERY_MS) {
      this.lastPing = now;
      this.send({ type: "ping" });
    }
  }

  /**
   * Data rate in "auto": the highest rate the measured link sustains with margin at the
   * current speed (ratecontrol.ts), stepping up as well as down; a fixed rate is left alone.
   */
  private adaptRate(now: number): void {
    if (this.requestedRate !== "auto" || !this.clock.playing || !this.rate) return;
    // Until blocks at the rate last asked for arrive, decide from that rate, not the old one.
    const asked =
      this.askedRate && this.askedRate !== this.rate && now - this.askedAt < ASKED_RATE_MS;
    const current = asked ? this.askedRate : this.rate;
    const decision = this.rates.choose(now, current, this.clock.speed);
    if (!decision) return;
    this.askedRate = decision.rate;
    this.askedAt = now;
    this.rateSwitches.push(`${current} → ${decision.rate} fps (${decision.reason})`);
    this.send({ type: "quality", codec: CODEC, rate: decision.rate });
  }

  /** The link's measured throughput, bytes a second (NaN before a sample). */
  linkBytesPerSecond(): number {
    return this.rates.bytesPerSecond();
  }

  /** The last rate switch and its reason, or "". */
  get lastSwitch(): string {
    return this.rateSwitches[this.rateSwitches.length - 1] ?? "";
  }
}
