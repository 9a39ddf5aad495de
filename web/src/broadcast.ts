// Locked to the broadcast. The viewer's own recording of the session (a local file,
// played from a blob URL: nothing is uploaded; or a video URL) leads the replay. One
// sync point ties a video frame to a session moment (lights out, a race control
// message, or a race clock typed in); from then on the replay's clock is the video's:
// the session time shown is the media time of the frame on screen (its
// requestVideoFrameCallback) plus the offset, read every animation frame, so the map
// shows the video's moment frame by frame. The server is told each play, pause, seek
// and rate (sync.ts `leadMoved`), so it streams that moment's data; its `state` never
// moves the clock meanwhile. The offset nudges by ±0.1 s and ±1 s.
//
// Plain mode, for a live-style stream on another device: "Lights out now", pressed as
// the stream shows lights out, puts the replay there playing at 1× on the wall clock
// (the stream's delay, kept), with the same nudges. Any replay control used then
// hands the clock back to the viewer.

import type { ReplayClock } from "./clock";
import { $, disclose, sayStatus } from "./dom";
import { formatClock } from "./laps";
import type { ClockLead, LeadMove } from "./sync";
import type { SessionEvent, SessionMeta } from "./types";

export type BroadcastMode = "off" | "video" | "wall";

/** What the end-to-end test and the benchmark read (instrumentation.ts). */
export interface BroadcastProbe {
  mode: BroadcastMode;
  /** Video mode: session time − media time (s); NaN otherwise. */
  offset: number;
  /** The media time the replay read last (s); NaN without a lock to a video. */
  mediaTime: number;
  /** The media time of the frame on screen, from requestVideoFrameCallback (NaN before one). */
  presented: number;
  status: string;
  problem: boolean;
}

/** What the lock asks of the replay's sync (sync.ts). */
export interface LeadTarget {
  leadMoved(move: LeadMove): void;
  /** The viewer's own controls, once plain mode hands the clock back. */
  togglePlay(): void;
  seekFrame(frame: number): void;
  setSpeed(speed: number): void;
  /** In a watch party the room leads: no lock then. */
  readonly party: { readonly joined: boolean } | null;
}

/** Data ahead of the hints: the chunks a video's span covers (connection.ts `prefetch`). */
export interface Prefetcher {
  chunkFrames: number;
  /** Fetch these chunk indexes, nearest first. */
  prefetch(chunks: number[]): void;
}

/** A moment of the session a sync point can name. */
interface Moment {
  time: number; // session s
  label: string;
}

const STALE_MS = 250; // no new frame for this long while playing: read currentTime instead
// Chromium plays media at 1/16× to 16× (HTMLMediaElement.playbackRate beyond is refused).
const MIN_RATE = 0.0625;
const MAX_RATE = 16;
const NUDGES = [-1, -0.1, 0.1, 1];
// Chunks fetched ahead around the video's moment: within the playout buffer's 200, so
// the ones fetched are not evicted by the next.
const PREFETCH_CHUNKS = 120;

const MEDIA_ERRORS: Record<number, string> = {
  1: "loading it was stopped",
  2: "a network error stopped the download",
  3: "it cannot be decoded",
  4: "its format is not supported, or the file or address cannot be read",
};

/**
 * A race clock as the header shows it ("1:02:03", "12:34.5", "-0:05", "95"), in seconds
 * from lights out (negative before it); null when the text is not one.
 */
export function parseRaceClock(text: string): number | null {
  const m =
    /^\s*([-−+]?)\s*(\d+(?:\.\d+)?)(?::(\d{1,2}(?:\.\d+)?))?(?::(\d{1,2}(?:\.\d+)?))?\s*$/.exec(
      text,
    );
  if (!m) return null;
  const parts = [m[2], m[3], m[4]].filter((p) => p !== undefined).map(Number);
  if (parts.slice(1).some((p) => p >= 60)) return null;
  const seconds = parts.reduce((total, p) => total * 60 + p, 0);
  return m[1] === "-" || m[1] === "−" ? -seconds : seconds;
}

/** "+1.2 s", "−0.4 s". */
function signed(seconds: number): string {
  const s = Math.abs(seconds) < 0.05 ? 0 : seconds;
  return `${s < 0 ? "−" : "+"}${Math.abs(s).toFixed(1)} s`;
}

export class BroadcastLock implements ClockLead {
  private mode: BroadcastMode = "off";
  private offset = 0; // video mode: session s − media s
  private wallStart = 0; // wall mode: performance.now() when the moment was on the stream
  private wallMoment = 0; // wall mode: that moment (session s), nudges included
  private wallNudged = 0;
  private wallStartedAt = ""; // the viewer's clock then, to show
  private presented = NaN; // media time of the frame on screen
  private presentedAt = -Infinity; // performance.now() when it was presented
  private seekStartedAt = -Infinity;
  private seekedAt = -Infinity;
  private lastMedia = NaN;
  private objectUrl: string | null = null;
  private problem = false;
  private readonly t0: number;
  private readonly fps: number;
  private readonly end: number; // the session's last moment
  private readonly raceStart: number; // the race clock's zero: lights out, else t0
  private readonly lightsOut: number | null;
  private readonly messages: SessionEvent[];
  private readonly nFrames: number;
  private prefetchedList = ""; // the last list asked for

  private panel = $("#broadcast-panel");
  private toggle = $<HTMLButtonElement>("header .bc-btn");
  private status = $(".bc-status", this.panel);
  private video = $<HTMLVideoElement>("video.bc-video", this.panel);
  private file = $<HTMLInputElement>(".bc-file", this.panel);
  private url = $<HTMLInputElement>(".bc-url", this.panel);
  private moment = $<HTMLSelectElement>(".bc-moment", this.panel);
  private clockInput = $<HTMLInputElement>(".bc-clock", this.panel);
  private clockLabel = $(".bc-clock-label", this.panel);
  private frameButton = $<HTMLButtonElement>(".bc-frame", this.panel);
  private nowButton = $<HTMLButtonElement>(".bc-now", this.panel);
  private locked = $(".bc-locked", this.panel);
  private offsetText = $(".bc-offset", this.panel);
  private practiceNote = $(".bc-no-start", this.panel);

  constructor(
    private sync: LeadTarget,
    private clock: ReplayClock,
    meta: Pick<SessionMeta, "t0" | "fps" | "n_frames" | "info">,
    events: SessionEvent[],
    private data: Prefetcher,
  ) {
    this.t0 = meta.t0;
    this.nFrames = meta.n_frames;
    this.fps = meta.fps;
    this.end = meta.t0 + (meta.n_frames - 1) / meta.fps;
    const start = meta.info.start_time;
    this.lightsOut = typeof start === "number" && Number.isFinite(start) ? start : null;
    this.raceStart = this.lightsOut ?? meta.t0;
    this.messages = events.filter((e) => e.kind === "message");
    this.fillMoments();
    this.wire();
    this.render();
  }

  // --- ClockLead: the replay's controls while locked --------------------------------

  get leading(): boolean {
    return this.mode !== "off";
  }

  togglePlay(): void {
    if (this.mode === "wall") return this.handBack(() => this.sync.togglePlay());
    const v = this.video;
    if (v.paused) v.play().catch((e: unknown) => this.say(`The video does not play: ${e}`, true));
    else v.pause();
  }

  seekFrame(frame: number): void {
    if (this.mode === "wall") return this.handBack(() => this.sync.seekFrame(frame));
    const v = this.video;
    const media = this.t0 + frame / this.fps - this.offset;
    const duration = Number.isFinite(v.duration) ? v.duration : Infinity;
    if (media < 0 || media > duration) {
      this.say(
        "That moment is not in the video: it goes to the nearest frame the video has.",
        true,
      );
    }
    v.currentTime = Math.min(Math.max(media, 0), duration);
  }

  setSpeed(speed: number): void {
    if (this.mode === "wall") return this.handBack(() => this.sync.setSpeed(speed));
    const rate = Math.min(Math.max(speed, MIN_RATE), MAX_RATE);
    if (rate !== speed)
      this.say(`The video plays at ${MIN_RATE}× to ${MAX_RATE}×: ${rate}× it is.`);
    this.video.playbackRate = rate;
  }

  /** The watch party changed: in a room the room leads, so a lock ends. */
  partyChanged(): void {
    if (this.sync.party?.joined)
      this.release("You are in a watch party: the replay follows the room now, not the video.");
  }

  /** For window.__rr. */
  probe(): BroadcastProbe {
    return {
      mode: this.mode,
      offset: this.mode === "video" ? this.offset : NaN,
      mediaTime: this.mode === "video" ? this.lastMedia : NaN,
      presented: this.presented,
      status: this.status.textContent ?? "",
      problem: this.problem,
    };
  }

  // --- the panel --------------------------------------------------------------------

  private wire(): void {
    this.toggle.addEventListener("click", () => this.show(this.panel.hidden));
    $(".bc-close", this.panel).addEventListener("click", () => this.show(false));
    this.file.addEventListener("change", () => {
      const f = this.file.files?.[0];
      if (f) this.open(URL.createObjectURL(f), f.name, true);
    });
    $("form.bc-url-form", this.panel).addEventListener("submit", (e) => {
      e.preventDefault();
      this.openUrl(this.url.value.trim());
    });
    this.moment.addEventListener("change", () => this.render());
    this.frameButton.addEventListener("click", () => this.lockToFrame());
    this.nowButton.addEventListener("click", () => this.momentNow());
    $(".bc-unlock", this.panel).addEventListener("click", () =>
      this.release("Unlocked: the replay runs on its own clock again."),
    );
    this.panel.querySelectorAll<HTMLButtonElement>("button.bc-nudge").forEach((b) => {
      b.addEventListener("click", () => this.nudge(Number(b.dataset.s)));
    });
    const v = this.video;
    v.addEventListener("loadedmetadata", () => {
      this.say(
        `Video loaded (${formatClock(v.duration)}). Find a moment you know in it, then set the sync point.`,
      );
      this.render();
    });
    v.addEventListener("error", () => this.videoFailed());
    for (const type of ["play", "pause", "ratechange", "ended"])
      v.addEventListener(type, () => this.videoMoved(false));
    v.addEventListener("seeking", () => {
      this.seekStartedAt = performance.now();
      this.videoMoved(true);
    });
    // After every seek, once the frame is found: the server goes to that exact frame.
    v.addEventListener("seeked", () => {
      this.seekedAt = performance.now();
      this.videoMoved(true);
      this.prefetchAround();
    });
    v.addEventListener("timeupdate", () => this.outsideNote());
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      const onFrame = (_now: number, frame: VideoFrameCallbackMetadata): void => {
        this.presented = frame.mediaTime;
        this.presentedAt = performance.now();
        v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
    }
  }

  private fillMoments(): void {
    const options: HTMLOptionElement[] = [];
    if (this.lightsOut !== null) options.push(new Option("Lights out", "start"));
    for (const [i, m] of this.messages.entries()) {
      const text = String(m.data.message ?? "").slice(0, 60);
      options.push(new Option(`${formatClock(m.time - this.raceStart)} ${text}`, `m${i}`));
    }
    options.push(new Option("A race clock time (type it)", "clock"));
    this.moment.replaceChildren(...options);
    this.practiceNote.hidden = this.lightsOut !== null;
  }

  private show(open: boolean): void {
    disclose(this.panel, this.toggle, open);
  }

  private say(text: string, problem = false): void {
    sayStatus(this.status, text, problem);
    this.problem = problem;
  }

  private render(): void {
    const clock = this.moment.value === "clock";
    this.clockLabel.hidden = !clock;
    const hasVideo = this.video.readyState >= HTMLMediaElement.HAVE_METADATA && !this.video.error;
    this.frameButton.disabled = !hasVideo;
    const name =
      this.moment.value === "start" ? "Lights out" : clock ? "This race clock" : "This message";
    this.nowButton.textContent = `${name} now`;
    this.locked.hidden = this.mode === "off";
    this.toggle.textContent =
      this.mode === "video"
        ? "Synced to video"
        : this.mode === "wall"
          ? "Synced to stream"
          : "Sync to TV";
    if (this.mode === "video") {
      this.offsetText.textContent = `Replay = video ${signed(this.offset)} (${formatClock(this.offset)})`;
    } else if (this.mode === "wall") {
      this.offsetText.textContent = `${this.momentName()} on your stream at ${this.wallStartedAt}, nudged ${signed(this.wallNudged)}`;
    }
  }

  private momentName(): string {
    return this.moment.selectedOptions[0]?.textContent ?? "";
  }

  // --- the video --------------------------------------------------------------------

  private openUrl(text: string): void {
    let address: URL;
    try {
      address = new URL(text, location.href);
    } catch {
      return this.say(`“${text}” is not an address: paste a video's URL (https://…).`, true);
    }
    if (address.protocol !== "https:" && address.origin !== location.origin)
      return this.say("A video URL starts with https://.", true);
    this.open(address.href, address.href, false);
  }

  private open(src: string, name: string, ownUrl: boolean): void {
    if (this.mode === "video") this.release("A new video: set the sync point again.");
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = ownUrl ? src : null;
    this.presented = NaN;
    this.presentedAt = -Infinity;
    this.video.hidden = false;
    this.video.src = src;
    this.say(`Opening ${name}…`);
    this.render();
  }

  private videoFailed(): void {
    const e = this.video.error;
    if (!e) return;
    const why = MEDIA_ERRORS[e.code] ?? "it cannot be played";
    const wasLocked = this.mode === "video";
    if (wasLocked) this.release("");
    this.video.hidden = true;
    this.render();
    this.say(
      `This video cannot be played here: ${why}${e.message ? ` (${e.message})` : ""}. ` +
        (wasLocked
          ? "The replay runs on its own clock again. "
          : "The replay goes on without it. ") +
        "Try another file: WebM (VP8, VP9, AV1) or MP4 (H.264) play in most browsers.",
      true,
    );
  }

  /**
   * The media time of the frame on screen: the presented frame's, while frames arrive;
   * during a seek the old frame (still shown); after one, the new frame once presented.
   * Without frame callbacks (none arrive: a hidden video, an old browser): currentTime.
   */
  private mediaTime(): number {
    const v = this.video;
    const now = performance.now();
    let t = v.currentTime;
    if (Number.isFinite(this.presented)) {
      if (v.seeking) t = this.presented;
      else if (this.presentedAt >= this.seekStartedAt) {
        if (v.paused || now - this.presentedAt < STALE_MS) t = this.presented;
      } else if (now - this.seekedAt < STALE_MS) t = this.presented;
    }
    this.lastMedia = t;
    return t;
  }

  private videoFrame(): number {
    return (this.mediaTime() + this.offset - this.t0) * this.fps;
  }

  private videoMoved(seek: boolean): void {
    if (this.mode !== "video") return this.render();
    const v = this.video;
    this.sync.leadMoved({
      playing: !v.paused && !v.ended,
      speed: v.playbackRate,
      // The frame asked for (the presented one may still be the old one).
      seekTo: seek ? (v.currentTime + this.offset - this.t0) * this.fps : null,
    });
    this.outsideNote();
  }

  /**
   * Fetch the data of the video's span around its moment (nearest first, those not asked
   * for yet), so that a seek in the video finds it in the playout buffer: without it the
   * map would show the old moment for the few frames the server takes to send the new.
   */
  private prefetchAround(): void {
    if (this.mode !== "video") return;
    const v = this.video;
    const size = this.data.chunkFrames;
    const chunkOf = (media: number): number => {
      const frame = (media + this.offset - this.t0) * this.fps;
      return Math.floor(Math.min(Math.max(frame, 0), this.nFrames - 1) / size);
    };
    const duration = Number.isFinite(v.duration) ? v.duration : v.currentTime;
    const [first, last, here] = [chunkOf(0), chunkOf(duration), chunkOf(v.currentTime)];
    const wanted: number[] = [];
    for (
      let d = 0;
      wanted.length < PREFETCH_CHUNKS && (here - d >= first || here + d <= last);
      d++
    ) {
      for (const c of d ? [here + d, here - d] : [here])
        if (c >= first && c <= last && wanted.length < PREFETCH_CHUNKS) wanted.push(c);
    }
    // The worker fetches each chunk once, and a new list replaces the rest of the last.
    const key = wanted.join();
    if (key === this.prefetchedList) return;
    this.prefetchedList = key;
    this.data.prefetch(wanted);
  }

  /** While locked: say so when the video runs outside the session. */
  private outsideNote(): void {
    if (this.mode !== "video") return;
    const at = this.video.currentTime + this.offset;
    const outside =
      at < this.t0
        ? "before the session's first moment"
        : at > this.end
          ? "past the session's end"
          : "";
    if (outside)
      this.say(`The video is ${outside}: the replay waits at the nearest moment it has.`);
    else if (this.status.textContent?.startsWith("The video is ")) this.say(this.lockedText());
  }

  private lockedText(): string {
    return `Locked: the replay follows the video (play, pause, seek, speed). Nudge the offset if it runs early or late.`;
  }

  // --- sync points ------------------------------------------------------------------

  /** The moment chosen in the panel, or null (the reason shown). */
  private chosenMoment(): Moment | null {
    const value = this.moment.value;
    let moment: Moment;
    if (value === "start" && this.lightsOut !== null)
      moment = { time: this.lightsOut, label: "lights out" };
    else if (value.startsWith("m")) {
      const m = this.messages[Number(value.slice(1))];
      moment = { time: m.time, label: `“${String(m.data.message ?? "")}”` };
    } else {
      const text = this.clockInput.value;
      const seconds = parseRaceClock(text);
      if (seconds === null) {
        this.say(
          `“${text}” is not a race clock: type h:mm:ss, e.g. 0:12:34.5 (−0:02:00 before the start).`,
          true,
        );
        return null;
      }
      moment = { time: this.raceStart + seconds, label: `race clock ${formatClock(seconds)}` };
    }
    if (moment.time < this.t0 || moment.time > this.end) {
      const from = formatClock(this.t0 - this.raceStart);
      const to = formatClock(this.end - this.raceStart);
      this.say(
        `The sync point ${moment.label} is outside this session (it runs from ${from} to ${to} on the race clock): choose a moment within it.`,
        true,
      );
      return null;
    }
    return moment;
  }

  private mayLock(): boolean {
    if (!this.sync.party?.joined) return true;
    this.say(
      "In a watch party the replay follows the room's clock: leave the party to sync to a video.",
      true,
    );
    return false;
  }

  /** "This video frame is the moment": lock the replay to the video. */
  private lockToFrame(): void {
    const v = this.video;
    if (v.readyState < HTMLMediaElement.HAVE_METADATA || v.error) {
      return this.say("Open a video first (a file, or a URL), then find the moment in it.", true);
    }
    const moment = this.chosenMoment();
    if (!moment || !this.mayLock()) return;
    // The frame on screen when the button was pressed: its presented media time.
    this.offset = moment.time - this.mediaTime();
    this.mode = "video";
    this.clock.follow(() => this.videoFrame());
    this.prefetchAround();
    this.sync.leadMoved({
      playing: !v.paused && !v.ended,
      speed: v.playbackRate,
      seekTo: (moment.time - this.t0) * this.fps,
    });
    this.say(`${this.lockedText()} This frame is ${moment.label}.`);
    this.render();
  }

  /** "Lights out now" (plain mode): the stream on another device shows the moment now. */
  private momentNow(): void {
    const moment = this.chosenMoment();
    if (!moment || !this.mayLock()) return;
    if (this.mode === "video") this.video.pause();
    this.mode = "wall";
    this.wallStart = performance.now();
    this.wallMoment = moment.time;
    this.wallNudged = 0;
    this.wallStartedAt = new Date().toLocaleTimeString();
    this.clock.follow(
      (at) => (this.wallMoment + (at - this.wallStart) / 1000 - this.t0) * this.fps,
    );
    this.sync.leadMoved({ playing: true, speed: 1, seekTo: (moment.time - this.t0) * this.fps });
    this.say(
      `The replay is at ${moment.label}, playing at 1× with your stream. Nudge it if it runs early or late.`,
    );
    this.render();
  }

  /** Move the replay `seconds` later against the video or the stream (earlier if negative). */
  private nudge(seconds: number): void {
    if (!NUDGES.includes(seconds) || this.mode === "off") return;
    if (this.mode === "video") {
      this.offset += seconds;
      this.prefetchAround();
    } else {
      this.wallMoment += seconds;
      this.wallNudged += seconds;
    }
    const v = this.video;
    const playing = this.mode === "video" ? !v.paused && !v.ended : true;
    const speed = this.mode === "video" ? v.playbackRate : 1;
    this.sync.leadMoved({ playing, speed, seekTo: this.clock.frame() });
    this.render();
  }

  /** Stop leading: the replay's clock runs on its own from where it is. */
  private release(why: string): void {
    if (this.mode === "off") return;
    this.mode = "off";
    this.clock.follow(null);
    if (why) this.say(why);
    this.render();
  }

  /** Plain mode, and the viewer used a replay control: the clock is theirs again, then the control acts. */
  private handBack(act: () => void): void {
    this.release("You took the controls: the replay no longer keeps the stream's delay.");
    act();
  }
}
