// What a screen reader is told as the replay runs (announcer.ts speaks it, politely):
// a change of track status, each new race control message, and the followed driver's
// place as it changes. Messages a seek or a skip passes over are not read out (the
// race control list holds them); the status and the place at the new moment are.

import type { Announcer } from "./announcer";
import { trackStatusOf } from "./panels";
import { lastAtOrBefore } from "./search";
import type { Driver, SessionEvent } from "./types";

/** A step of session time longer than this between two refreshes (or back) is a jump, not play. */
const PLAYED_STEP_S = 30;

export class Narration {
  private messages: SessionEvent[];
  private times: Float64Array;
  private lastTime = NaN;
  private lastMessage = -1;
  private status = NaN;
  private driver = -1;
  private position = 0;

  constructor(
    private announcer: Announcer,
    private drivers: Driver[],
    events: SessionEvent[],
  ) {
    this.messages = events.filter((e) => e.kind === "message").sort((a, b) => a.time - b.time);
    this.times = Float64Array.from(this.messages, (e) => e.time);
  }

  /** A few times a second: `position` is the followed driver's place on the board (0: none). */
  update(sessionTime: number, trackStatus: number, focused: number, position: number): void {
    const step = sessionTime - this.lastTime;
    const played = step >= 0 && step <= PLAYED_STEP_S;
    this.lastTime = sessionTime;
    this.announceMessages(sessionTime, played);
    this.announceStatus(trackStatus);
    this.announcePosition(focused, position);
  }

  private announceMessages(sessionTime: number, played: boolean): void {
    const last = lastAtOrBefore(this.times, sessionTime);
    const fresh = played ? last - this.lastMessage : 0;
    this.lastMessage = last;
    if (fresh <= 0) return;
    const more = fresh > 1 ? ` (and ${fresh - 1} more)` : "";
    this.announcer.say(
      "message",
      `Race control: ${String(this.messages[last].data.message ?? "")}${more}`,
    );
  }

  private announceStatus(trackStatus: number): void {
    const before = this.status;
    this.status = trackStatus;
    if (Number.isNaN(before) || before === trackStatus || !trackStatus) return;
    this.announcer.say("track", `Track status: ${trackStatusOf(trackStatus).label}`);
  }

  private announcePosition(focused: number, position: number): void {
    const before = this.position;
    const changedDriver = focused !== this.driver;
    this.driver = focused;
    this.position = position;
    if (focused < 0) {
      if (changedDriver) this.announcer.say("focus", "No driver followed");
      return;
    }
    const code = this.drivers[focused].code;
    const place = position > 0 ? `P${position}` : "no place yet";
    if (changedDriver) this.announcer.say("focus", `Following ${code}, ${place}`);
    else if (position > 0 && before > 0 && position !== before)
      this.announcer.say("position", `${code} ${position < before ? "up" : "down"} to ${place}`);
  }
}
