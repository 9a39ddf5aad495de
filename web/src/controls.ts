// The replay's controls: the footer's buttons, selects, seek bar and lap form, and
// the keyboard, read through one table from key to action (the help panel, `?`,
// lists the same keys). Each action is carried out by the handlers the page wires in.
// Keys typed into a field or a select stay theirs; Enter (no shortcut) presses the
// focused button or follows the focused leaderboard row, while Space plays and pauses
// wherever the focus is, as in a media player. While the help dialog is open only `?`
// and Escape act.

import { SPEEDS } from "./clock";
import { $ } from "./dom";
import { unreachable } from "./types";
import { parseRate, type RateChoice } from "./url";

export type Action =
  | { do: "togglePlay" }
  | { do: "skip"; seconds: number }
  | { do: "speedStep"; by: 1 | -1 }
  | { do: "speed"; value: number }
  | { do: "toggleHelp" }
  | { do: "closeHelp" }
  | { do: "toggleGap" }
  | { do: "unfocus" }
  | { do: "resetView" }
  | { do: "incident"; direction: 1 | -1 }
  | { do: "lapInput" };

type Modifiers = { shiftKey: boolean; altKey: boolean };
const skipBy = (e: Modifiers) => (e.altKey ? 60 : e.shiftKey ? 30 : 10);

/** Key (KeyboardEvent.key) → action. */
const KEYS: Record<string, (e: Modifiers) => Action> = {
  " ": () => ({ do: "togglePlay" }),
  ArrowRight: (e) => ({ do: "skip", seconds: skipBy(e) }),
  ArrowLeft: (e) => ({ do: "skip", seconds: -skipBy(e) }),
  ArrowUp: () => ({ do: "speedStep", by: 1 }),
  ArrowDown: () => ({ do: "speedStep", by: -1 }),
  "?": () => ({ do: "toggleHelp" }),
  Escape: () => ({ do: "closeHelp" }),
  g: () => ({ do: "toggleGap" }),
  f: () => ({ do: "unfocus" }),
  "0": () => ({ do: "resetView" }),
  n: () => ({ do: "incident", direction: 1 }),
  p: () => ({ do: "incident", direction: -1 }),
  l: () => ({ do: "lapInput" }),
};
// 1 to 9: the speeds, slowest first.
SPEEDS.slice(0, 9).forEach((value, i) => (KEYS[String(i + 1)] = () => ({ do: "speed", value })));

/** The action of a key press, or null for a key without one. Letters in either case. */
export function keyAction(e: { key: string } & Modifiers): Action | null {
  const of = KEYS[e.key] ?? (e.key.length === 1 ? KEYS[e.key.toLowerCase()] : undefined);
  return of ? of(e) : null;
}

/** Whether keys pressed on `target` are its own (typing, choosing). */
function ownsKeys(target: EventTarget | null): boolean {
  return (
    target instanceof HTMLInputElement ||
    target instanceof HTMLSelectElement ||
    target instanceof HTMLTextAreaElement
  );
}

/** What the controls ask the replay for. */
export interface ControlHandlers {
  speed(): number; // the replay's speed now
  togglePlay(): void;
  skip(seconds: number): void;
  setSpeed(speed: number): void;
  seekFrame(frame: number): void;
  seekLap(lap: number): void;
  setRate(rate: RateChoice): void;
  toggleGap(): void;
  unfocus(): void;
  resetView(): void;
  jumpToIncident(direction: 1 | -1): void;
}

export class Controls {
  private play = $(".play");
  private speed = $<HTMLSelectElement>("select.speed");
  private seekbar = $<HTMLInputElement>("input.seekbar");
  private lap = $<HTMLInputElement>("form.jump input");
  private help = $<HTMLDialogElement>("dialog.help");

  constructor(
    private handlers: ControlHandlers,
    nFrames: number,
    rate: RateChoice,
  ) {
    const speed = this.speed;
    speed.replaceChildren(...SPEEDS.map((s) => new Option(`${s}×`, String(s))));
    speed.value = "1";
    speed.addEventListener("change", () => handlers.setSpeed(Number(speed.value)));
    this.play.addEventListener("click", () => handlers.togglePlay());
    const rateSelect = $<HTMLSelectElement>("select.rate");
    rateSelect.value = String(rate);
    rateSelect.addEventListener("change", () => handlers.setRate(parseRate(rateSelect.value)));
    document
      .querySelectorAll<HTMLButtonElement>("button.skip")
      .forEach((b) => b.addEventListener("click", () => handlers.skip(Number(b.dataset.s))));
    this.seekbar.max = String(nFrames - 1);
    this.seekbar.addEventListener("input", () => handlers.seekFrame(Number(this.seekbar.value)));
    $("form.jump").addEventListener("submit", (e) => {
      e.preventDefault();
      handlers.seekLap(Number(this.lap.value));
    });
    $(".help-btn").addEventListener("click", () => this.perform({ do: "toggleHelp" }));
    // A click anywhere on the dialog or its backdrop closes it, as its Close button does.
    this.help.addEventListener("click", () => this.perform({ do: "closeHelp" }));
    document.addEventListener("keydown", (e) => {
      if (ownsKeys(e.target)) return;
      const action = keyAction(e);
      if (!action) return;
      if (this.help.open && action.do !== "toggleHelp" && action.do !== "closeHelp") return;
      this.perform(action);
      e.preventDefault();
    });
  }

  perform(action: Action): void {
    const h = this.handlers;
    switch (action.do) {
      case "togglePlay":
        return h.togglePlay();
      case "skip":
        return h.skip(action.seconds);
      case "speedStep": {
        const i = SPEEDS.indexOf(h.speed()) + action.by;
        return h.setSpeed(SPEEDS[Math.min(Math.max(i, 0), SPEEDS.length - 1)]);
      }
      case "speed":
        return h.setSpeed(action.value);
      case "toggleHelp":
        // A modal dialog: focus moves into it, Escape closes it, and focus returns where it was.
        if (this.help.open) this.help.close();
        else this.help.showModal();
        return;
      case "closeHelp":
        if (this.help.open) this.help.close();
        return;
      case "toggleGap":
        return h.toggleGap();
      case "unfocus":
        return h.unfocus();
      case "resetView":
        return h.resetView();
      case "incident":
        return h.jumpToIncident(action.direction);
      case "lapInput":
        this.lap.focus();
        return;
      default:
        unreachable(action);
    }
  }

  /** Show the play state and speed (after every change, the viewer's or the server's). */
  show(playing: boolean, speed: number): void {
    this.play.textContent = playing ? "❚❚" : "▶";
    this.play.setAttribute("aria-label", playing ? "Pause" : "Play");
    this.speed.value = String(speed);
  }

  /** Move the seek bar's thumb to `frame` (a few times a second); `clock`: its spoken value. */
  showFrame(frame: number, clock: string): void {
    this.seekbar.value = String(Math.round(frame));
    if (this.seekbar.getAttribute("aria-valuetext") !== clock)
      this.seekbar.setAttribute("aria-valuetext", clock);
  }
}
