// The app: session picker, then the replay. Data arrives from the connection
// worker already decoded; one requestAnimationFrame loop samples the playout
// buffer at the local clock and draws the map, and the DOM panels refresh a few
// times a second (only what changed).

import "./style.css";
import { ReplayClock, SPEEDS } from "./clock";
import type { FromWorker, ToWorker } from "./connection.worker";
import ConnectionWorker from "./connection.worker?worker";
import { type DriverStyle, driverStyles } from "./driverstyle";
import { GhostPanel, ghostPosition } from "./ghost";
import { LapIndex } from "./laps";
import { Leaderboard } from "./leaderboard";
import { DataNotes } from "./notices";
import { Header, INCIDENT_LEAD, type Marker, MessageFeed, markers, nextIncident } from "./panels";
import { emptySnapshot, PlayoutBuffer } from "./playout";
import { Qualifying, QUALIFYING_KINDS } from "./qualifying";
import { type OpenedSession, openSession, showPicker } from "./picker";
import { RateController } from "./ratecontrol";
import { findSegments, type Segment, SegmentTabs, segmentAt } from "./segments";
import { TelemetryPanel } from "./telemetry";
import { TrackMap } from "./trackmap";
import { type FrameBlock, type ServerMessage, type SessionEvent, type SessionMeta, type StateMessage, unreachable } from "./types";

const $ = <T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document) => root.querySelector<T>(sel)!;

interface Stats {
  frame: number;
  sessionTime: number;
  leaderLap: number;
  playing: boolean;
  speed: number;
  rate: number;
  stalls: number; // animation frames spent playing with no data at the playhead
  stallMs: number;
  bytes: number;
  blocks: number;
  drawn: number;
  reconnects: number;
  segment: string;
  ghostTime: number;
  rateSwitches: string[];
  order: string[];
  ready: boolean;
  // The last animation frames: [requestAnimationFrame timestamp, clock frame drawn], while playing.
  clockTrace: [number, number][];
}

type Series = { label: string; stroke: string; dash: number[] };

declare global {
  interface Window {
    __rr: Stats & {
      cars: () => { x: number; y: number }[];
      labels: () => { x: number; y: number; w: number; h: number }[];
      ghosts: () => { x: number; y: number }[];
      rateLog: () => string[];
      frameWork: number[];
      frameGaps: number[];
      drop: () => void;
      styles: () => (DriverStyle & { code: string })[];
      carStyles: () => { colour: string; second: boolean }[];
      telemetrySeries: () => Series[];
      ghostSeries: () => Series[][];
    };
  }
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const name = params.get("session");
  if (!name) return showPicker();
  try {
    const opened = await openSession(name);
    new Replay(name, opened, params);
  } catch (err) {
    showPicker(String(err instanceof Error ? err.message : err));
  }
}

class Replay {
  private clock: ReplayClock;
  private buffer = new PlayoutBuffer();
  private snap;
  private worker: Worker;
  private map: TrackMap;
  private board: Leaderboard;
  private header: Header;
  private feed: MessageFeed;
  private marks: Marker[] = [];
  private telemetry: TelemetryPanel;
  private ghost: GhostPanel;
  private segments: Segment[];
  private timed: boolean; // qualifying or practice: ranked by best lap, not by race gaps
  private tabs: SegmentTabs;
  private qualifying: Qualifying | null;
  private laps: LapIndex;
  private chunkFrames: number;
  private focused = -1;
  private lastPanel = 0;
  private lastUrl = 0;
  private stallStart = 0;
  private rate = 0;
  private requestedRate = "auto";
  private rates: RateController;
  private rateReason = "";
  private lastPing = 0;
  private askedRate = 0;
  private askedAt = 0;
  private received: { at: number; bytes: number }[] = [];
  private pendingRestore: URLSearchParams | null;
  private stats: Stats;
  // For the front-end benchmark: main-thread work per animation frame, and the gaps between frames.
  private frameWork: number[] = [];
  private frameGaps: number[] = [];
  private lastTick = 0;

  private meta: SessionMeta;
  private events: SessionEvent[];

  constructor(
    private name: string,
    { id, meta, laps: lapRows, events, results }: OpenedSession,
    params: URLSearchParams,
  ) {
    this.meta = meta;
    this.events = events;
    const root = $("#replay");
    root.hidden = false;
    const compact = meta.codecs.find((c) => c.name === "compact");
    if (!compact) throw new Error("the server offers no compact codec: this client needs it");
    this.chunkFrames = compact.chunk_frames;
    this.rates = new RateController([...compact.rates].sort((a, b) => b - a), meta.fps, compact.chunk_frames,
      meta.constants.max_frames_per_wall_second);
    this.clock = new ReplayClock(meta.fps, meta.n_frames);
    this.snap = emptySnapshot(meta.drivers.length);
    this.laps = new LapIndex(lapRows, events);
    const grid = new Map<string, number>();
    for (const r of results) if (typeof r.grid === "number" && typeof r.driver === "string") grid.set(r.driver, r.grid);
    // Times read from lights out / the green light; without one, from the first frame.
    const start = meta.info.start_time;
    const raceStart = typeof start === "number" && Number.isFinite(start) ? start : meta.t0;
    $(".title").textContent = `${meta.info.year} ${meta.info.event} · ${meta.info.name}`;
    document.title = `${meta.info.event} ${meta.info.name} · racereplay`;
    new DataNotes($(".notes"), $<HTMLButtonElement>(".notes-btn"), id, meta.problems ?? []);
    const styles = driverStyles(meta.drivers);
    this.map = new TrackMap($<HTMLCanvasElement>("canvas.map"), meta.drivers, styles);
    this.map.setGeometry(meta.geometry);
    this.board = new Leaderboard($(".board"), meta.drivers, styles, this.laps, grid);
    this.header = new Header($("header.top"), meta.info.total_laps, raceStart, events);
    this.feed = new MessageFeed($(".feed"), events, raceStart, (t) => this.seekTime(t));
    this.telemetry = new TelemetryPanel($(".telemetry"), id, meta.drivers, styles, this.laps);
    this.ghost = new GhostPanel($(".side"), id, meta.drivers, styles, lapRows);
    this.ghost.onChange = () => {
      if (!this.ghost.ghosts.length) this.map.ghosts = [];
    };
    this.timed = !["race", "sprint"].includes(meta.info.kind);
    this.segments = findSegments(events, meta.info.kind, meta.t0, meta.t0 + meta.n_frames / meta.fps);
    this.qualifying = QUALIFYING_KINDS.includes(meta.info.kind) ? new Qualifying(meta.drivers, this.segments, this.laps) : null;
    // Tabs in timed sessions with parts; qualifying data that cannot split its parts says so.
    const unsplit = this.qualifying !== null && !this.qualifying.split;
    this.tabs = new SegmentTabs($(".segments"), this.segments, this.timed && (this.segments.length >= 2 || unsplit),
      unsplit ? meta.info.kind : null, (seg) => this.seekTime(seg.start));
    this.map.onPick = this.board.onPick = (d) => this.focus(d === this.focused ? -1 : d);
    this.stats = {
      frame: 0, sessionTime: meta.t0, leaderLap: 0, playing: false, speed: 1, rate: 0, stalls: 0, stallMs: 0,
      bytes: 0, blocks: 0, drawn: 0, reconnects: 0, segment: "", ghostTime: NaN, rateSwitches: [], order: [], ready: false,
      clockTrace: [],
    };
    window.__rr = Object.assign(this.stats, {
      cars: () => this.map.carsOnScreen(),
      labels: () => this.map.labelsOnScreen(),
      ghosts: () => this.map.ghostsOnScreen(),
      rateLog: () => this.rates.log.slice(),
      frameWork: this.frameWork,
      frameGaps: this.frameGaps,
      drop: () => this.post({ type: "drop" }),
      styles: () => styles.map((s, d) => ({ ...s, code: meta.drivers[d].code })),
      carStyles: () => this.map.carStyles(),
      telemetrySeries: () => this.telemetry.series(),
      ghostSeries: () => this.ghost.series(),
    });
    this.pendingRestore = params;
    this.requestedRate = params.get("rate") ?? "auto";
    const focus = params.get("focus");
    if (focus) this.focus(meta.drivers.findIndex((d) => d.code === focus));
    this.bindControls();
    this.drawMarkers();
    this.worker = new ConnectionWorker();
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.onWorker(e.data);
    const proto = location.protocol === "https:" ? "wss" : "ws";
    this.post({ type: "connect", url: `${proto}://${location.host}/ws?${new URLSearchParams({ session: id, codec: "compact", rate: this.requestedRate })}` });
    requestAnimationFrame(this.tick);
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  private command(type: string, fields: Record<string, unknown> = {}): void {
    if (type !== "ping") this.rates.commandSent(performance.now());
    this.post({ type: "command", command: { type, ...fields } });
  }

  private onWorker(m: FromWorker): void {
    switch (m.type) {
      case "block":
        return this.onBlock(m.block, m.bytes, m.receivedAt - performance.timeOrigin);
      case "open":
        $(".net").classList.remove("down");
        if (m.reconnect) this.stats.reconnects++;
        return;
      case "closed":
        $(".net").classList.add("down");
        $(".net").textContent = m.retryInMs === null ? `disconnected: ${m.reason || m.code}` : "reconnecting…";
        return;
      case "message":
        return this.onMessage(m.message);
      case "unreadable":
        console.warn("connection:", m.reason);
        return;
      default:
        unreachable(m);
    }
  }

  private onMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case "state":
        return this.onState(msg);
      case "pong":
        return this.rates.pong(msg.t, msg.server_time * 1000, performance.timeOrigin + performance.now());
      case "error":
        // Commands beyond the server's pace are dropped there: news for the console, not the viewer.
        if (msg.code === "too_many") console.info("server:", msg.code, msg.message);
        else console.warn("server:", msg.code, msg.message);
        return;
      case "hello":
      case "progress":
      case "ready":
      case "data":
      case "events":
        return; // the session was opened over REST first; blocks come decoded
      default:
        unreachable(msg);
    }
  }

  private onBlock(block: FrameBlock, bytes: number, receivedAt: number): void {
    this.buffer.add(block);
    this.buffer.evict(Math.floor(this.clock.frame() / this.chunkFrames));
    this.rate = block.rate;
    this.stats.bytes += bytes;
    this.stats.blocks++;
    this.stats.rate = block.rate;
    const now = performance.now();
    const first = block.index * this.chunkFrames;
    this.rates.chunkArrived(receivedAt, bytes, block.rate, first, block.end - first, this.clock.playing);
    this.received.push({ at: now, bytes });
    while (this.received.length && this.received[0].at < now - 10_000) this.received.shift();
  }

  private onState(s: StateMessage): void {
    const { frame, playing, speed, reason } = s;
    this.rates.setAnchor(frame, s.server_time * 1000, speed, playing);
    if (reason === "join") {
      // A fresh connection (first or after a drop): put the server where the viewer was.
      this.restore();
      return;
    }
    if (speed !== this.clock.speed) this.clock.setSpeed(speed);
    const drift = Math.abs(this.clock.frame() - frame);
    const tolerance = this.meta.fps * 0.5 * Math.max(1, speed);
    if (reason === "seek" || reason === "skip" || reason === "end" || drift > tolerance) this.clock.seek(frame);
    if (playing && !this.clock.playing) this.clock.play();
    if (!playing && this.clock.playing) this.clock.pause();
    this.syncButtons();
  }

  /** After (re)connecting: seek to the viewer's moment (from the URL the first time), speed, play state. */
  private restore(): void {
    const p = this.pendingRestore;
    this.pendingRestore = null;
    if (p) {
      const t = Number(p.get("t"));
      if (p.has("t") && Number.isFinite(t)) this.clock.seek((t - this.meta.t0) * this.meta.fps);
      const speed = Number(p.get("speed"));
      if (SPEEDS.includes(speed)) this.clock.setSpeed(speed);
      if (p.get("play") === "1") this.clock.play();
    }
    this.command("seek", { frame: Math.round(this.clock.frame()) });
    this.command("speed", { value: this.clock.speed });
    this.command(this.clock.playing ? "play" : "pause");
    this.stats.ready = true;
    this.syncButtons();
  }

  private focus(d: number): void {
    this.focused = d;
    this.map.focused = d;
    this.board.focused = d;
    this.drawMarkers();
  }

  // --- controls ---------------------------------------------------------------

  private togglePlay(): void {
    if (this.clock.playing) {
      this.clock.pause();
      this.command("pause");
    } else {
      if (this.clock.atEnd()) this.seekFrame(0);
      this.clock.play();
      this.command("play");
    }
    this.syncButtons();
  }

  private setSpeed(speed: number): void {
    this.clock.setSpeed(speed);
    this.command("speed", { value: speed });
    this.syncButtons();
  }

  private seekFrame(frame: number): void {
    const f = Math.min(Math.max(Math.round(frame), 0), this.meta.n_frames - 1);
    this.clock.seek(f);
    this.command("seek", { frame: f });
  }

  private seekTime(sessionTime: number): void {
    this.seekFrame((sessionTime - this.meta.t0) * this.meta.fps);
  }

  /** Jump to the next or previous marked incident (track status, retirement, stop, fastest lap). */
  private jumpToIncident(direction: 1 | -1): void {
    const mark = nextIncident(this.marks, this.meta.t0 + this.clock.frame() / this.meta.fps, direction);
    if (mark) this.seekTime(mark.time - INCIDENT_LEAD);
  }

  private skip(seconds: number): void {
    this.seekFrame(this.clock.frame() + seconds * this.meta.fps);
  }

  private jumpToLap(lap: number): void {
    if (Number.isFinite(lap) && lap > 0) this.command("seek", { lap: Math.round(lap) });
  }

  private syncButtons(): void {
    this.lastUrl = 0; // the shareable URL follows every change at once
    $(".play").textContent = this.clock.playing ? "❚❚" : "▶";
    $<HTMLSelectElement>("select.speed").value = String(this.clock.speed);
  }

  private bindControls(): void {
    const speed = $<HTMLSelectElement>("select.speed");
    speed.replaceChildren(...SPEEDS.map((s) => new Option(`${s}×`, String(s))));
    speed.value = "1";
    speed.addEventListener("change", () => this.setSpeed(Number(speed.value)));
    $(".play").addEventListener("click", () => this.togglePlay());
    const rate = $<HTMLSelectElement>("select.rate");
    rate.value = this.requestedRate;
    rate.addEventListener("change", () => {
      this.requestedRate = rate.value;
      this.command("quality", { codec: "compact", rate: rate.value === "auto" ? "auto" : Number(rate.value) });
    });
    document.querySelectorAll<HTMLButtonElement>("button.skip").forEach((b) =>
      b.addEventListener("click", () => this.skip(Number(b.dataset.s))));
    const bar = $<HTMLInputElement>("input.seekbar");
    bar.max = String(this.meta.n_frames - 1);
    bar.addEventListener("input", () => this.seekFrame(Number(bar.value)));
    $("form.jump").addEventListener("submit", (e) => {
      e.preventDefault();
      this.jumpToLap(Number(($("form.jump input") as HTMLInputElement).value));
    });
    const help = $(".help");
    $(".help-btn").addEventListener("click", () => (help.hidden = !help.hidden));
    help.addEventListener("click", () => (help.hidden = true));
    document.addEventListener("keydown", (e) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
      const i = SPEEDS.indexOf(this.clock.speed);
      if (e.key === " ") this.togglePlay();
      else if (e.key === "ArrowRight") this.skip(e.altKey ? 60 : e.shiftKey ? 30 : 10);
      else if (e.key === "ArrowLeft") this.skip(e.altKey ? -60 : e.shiftKey ? -30 : -10);
      else if (e.key === "ArrowUp") this.setSpeed(SPEEDS[Math.min(i + 1, SPEEDS.length - 1)]);
      else if (e.key === "ArrowDown") this.setSpeed(SPEEDS[Math.max(i - 1, 0)]);
      else if (/^[1-9]$/.test(e.key)) this.setSpeed(SPEEDS[Number(e.key) - 1]);
      else if (e.key === "?") help.hidden = !help.hidden;
      else if (e.key === "Escape") help.hidden = true;
      else if (e.key === "g" || e.key === "G") this.board.toggleGap();
      else if (e.key === "f" || e.key === "F") this.focus(-1);
      else if (e.key === "0") this.map.resetView();
      else if (e.key === "n" || e.key === "N") this.jumpToIncident(1);
      else if (e.key === "p" || e.key === "P") this.jumpToIncident(-1);
      else if (e.key === "l" || e.key === "L") ($("form.jump input") as HTMLInputElement).focus();
      else return;
      e.preventDefault();
    });
  }

  private showSegment(sessionTime: number): void {
    if (!this.timed) return;
    const i = segmentAt(this.segments, sessionTime);
    this.board.bestSince = this.segments[i].start;
    this.board.cut = this.qualifying?.split ? this.qualifying.cutAt(i) : null;
    if (this.tabs.select(i)) this.stats.segment = this.segments[i].name;
  }

  private drawMarkers(): void {
    const code = this.focused >= 0 ? this.meta.drivers[this.focused].code : null;
    const total = this.meta.n_frames / this.meta.fps;
    const pct = (t: number) => `${(((t - this.meta.t0) / total) * 100).toFixed(3)}%`;
    this.marks = markers(this.events, code);
    $(".marks").replaceChildren(...this.marks.map((m) => {
      const el = document.createElement("span");
      el.className = `mark ${m.kind}`;
      el.title = `${m.label} (click or N / P to jump)`;
      el.dataset.time = String(m.time);
      el.addEventListener("click", () => this.seekTime(m.time - INCIDENT_LEAD));
      el.style.left = pct(m.time);
      if (m.end !== undefined) el.style.width = `calc(${pct(m.end)} - ${pct(m.time)})`;
      return el;
    }));
  }

  // --- the loop -----------------------------------------------------------------

  private tick = (now: number): void => {
    requestAnimationFrame(this.tick);
    const started = performance.now();
    // The clock is read at this frame's own timestamp (requestAnimationFrame's), not at
    // whatever moment the callback happens to run.
    const frame = this.clock.frame(now);
    if (this.clock.playing) {
      this.stats.clockTrace.push([now, frame]);
      if (this.stats.clockTrace.length > 600) this.stats.clockTrace.splice(0, 300);
    }
    const have = this.buffer.sample(frame, this.chunkFrames, this.snap);
    const stalled = !have && this.clock.playing && this.stats.ready;
    if (stalled) {
      this.stats.stalls++;
      if (!this.stallStart) this.stallStart = now;
    } else if (this.stallStart) {
      this.stats.stallMs += now - this.stallStart;
      this.stallStart = 0;
    }
    $(".buffering").hidden = !(stalled && now - this.stallStart > 300);
    if (this.ghost.ghosts.length) {
      const t = this.ghost.ghostTime(now, this.clock.speed);
      this.stats.ghostTime = t;
      this.map.ghosts = this.ghost.ghosts.map((g) => ({ ...ghostPosition(g, t), colour: g.colour, dash: g.dash, label: `${g.code} L${g.lap}` }));
    }
    if (have) {
      this.map.trackStatus = this.snap.session.track_status;
      this.map.draw(this.snap);
      this.stats.drawn++;
    }
    const sessionTime = this.meta.t0 + frame / this.meta.fps;
    if (now - this.lastPanel > 200 && have) {
      this.lastPanel = now;
      this.showSegment(sessionTime);
      // Positions and lap times from the same instant: a lap that ends between the
      // data frame and the display time must not show against the old order.
      this.board.update(this.snap, this.meta.t0 + this.snap.valuesFrame / this.meta.fps);
      this.ghost.updateList(this.focused, sessionTime);
      if (this.ghost.ghosts.length) this.ghost.followCursor(this.stats.ghostTime);
      this.header.update(this.snap.session.leader_lap, sessionTime, this.snap.session.track_status);
      this.feed.update(sessionTime);
      this.telemetry.update(this.focused, this.snap, sessionTime);
      $<HTMLInputElement>("input.seekbar").value = String(Math.round(frame));
      Object.assign(this.stats, {
        frame, sessionTime, leaderLap: this.snap.session.leader_lap, playing: this.clock.playing,
        speed: this.clock.speed, order: this.board.order(),
      });
      this.adaptRate(now, frame);
      if (now - this.lastPing > 3000) {
        this.lastPing = now;
        this.command("ping", { t: performance.timeOrigin + performance.now() });
      }
    }
    if (now - this.lastUrl > 1000 && this.stats.ready) {
      this.lastUrl = now;
      this.updateUrl(sessionTime);
    }
    this.frameWork.push(performance.now() - started);
    if (this.lastTick) this.frameGaps.push(now - this.lastTick);
    this.lastTick = now;
    if (this.frameWork.length > 4000) this.frameWork.splice(0, 2000);
    if (this.frameGaps.length > 4000) this.frameGaps.splice(0, 2000);
  };

  /**
   * Data rate in "auto": the highest rate the measured link sustains with margin at the
   * current speed (ratecontrol.ts), stepping up as well as down; a fixed rate is left alone.
   */
  private adaptRate(now: number, frame: number): void {
    const kbps = this.received.reduce((a, r) => a + r.bytes, 0) * 8 / 10 / 1000;
    const link = (this.rates.bytesPerSecond() * 8) / 1000;
    const aheadChunks = this.buffer.bufferedChunksAhead(frame, this.chunkFrames);
    const aheadWallS = (aheadChunks * this.chunkFrames) / this.meta.fps / Math.max(this.clock.speed, 0.25);
    const net = $(".net");
    const text = `${this.rate} fps${this.requestedRate === "auto" ? " (auto)" : ""} · ${kbps.toFixed(0)} kbit/s` +
      ` · link ${Number.isFinite(link) ? (link >= 10_000 ? `${(link / 1000).toFixed(0)} Mbit/s` : `${link.toFixed(0)} kbit/s`) : "?"} · ${aheadWallS.toFixed(1)} s`;
    if (net.textContent !== text) net.textContent = text;
    net.title = `data rate and buffer${this.rateReason ? `; last switch: ${this.rateReason}` : ""}`;
    if (this.requestedRate !== "auto" || !this.clock.playing || !this.rate) return;
    // Until blocks at the rate last asked for arrive, decide from that rate, not the old one.
    const current = this.askedRate && this.askedRate !== this.rate && now - this.askedAt < 15_000 ? this.askedRate : this.rate;
    const decision = this.rates.choose(now, current, this.clock.speed);
    if (!decision) return;
    this.askedRate = decision.rate;
    this.askedAt = now;
    this.rateReason = `${current} → ${decision.rate} fps (${decision.reason})`;
    this.stats.rateSwitches.push(this.rateReason);
    this.command("quality", { codec: "compact", rate: decision.rate });
  }

  private updateUrl(sessionTime: number): void {
    const p = new URLSearchParams({ session: this.name, t: sessionTime.toFixed(1), speed: String(this.clock.speed) });
    if (this.clock.playing) p.set("play", "1");
    if (this.focused >= 0) p.set("focus", this.meta.drivers[this.focused].code);
    history.replaceState(null, "", `?${p}`);
  }
}

void main();
