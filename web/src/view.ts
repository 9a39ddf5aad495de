// Everything the viewer sees of a session: the map, the leaderboard, the header,
// the race control feed, the focused driver's telemetry and laps, the ghost
// comparison, the pit-exit ghost (pitexit.ts), the segment tabs, the seek bar's markers
// and the data notes, and for a screen reader the map's text summary and the
// announcements. Built once from the opened session; the loop (loop.ts) draws the
// map every animation frame and refreshes the panels a few times a second.

import { AnalysisPanel } from "./analysis";
import { Announcer } from "./announcer";
import { $ } from "./dom";
import { type DriverStyle, driverStyles } from "./driverstyle";
import { FlagView } from "./flags";
import { GhostPanel, ghostPosition } from "./ghost";
import { LapIndex } from "./laps";
import { Leaderboard } from "./leaderboard";
import { MiniSectorPanel } from "./minisectors";
import { Narration } from "./narration";
import { DataNotes } from "./notices";
import type { PitExitProbe } from "./instrumentation";
import { Header, MessageFeed, SeekMarks } from "./panels";
import type { OpenedSession } from "./picker";
import { outcomeText, type PitExitPrediction, predictRejoin, rejoinText, stopAt } from "./pitexit";
import { Qualifying, QUALIFYING_KINDS } from "./qualifying";
import { findSegments, type Segment, SegmentTabs, segmentAt } from "./segments";
import { MapSummary } from "./summary";
import { TelemetryPanel } from "./telemetry";
import { TrackMap } from "./trackmap";
import type { Driver, Geometry, PitLoss, Snapshot } from "./types";

export class ReplayView {
  readonly map: TrackMap;
  readonly board: Leaderboard;
  readonly telemetry: TelemetryPanel;
  readonly ghost: GhostPanel;
  readonly analysis: AnalysisPanel;
  readonly marks: SeekMarks;
  readonly announcer = new Announcer($(".announcer"));
  readonly styles: DriverStyle[];
  readonly drivers: Driver[];
  /** The driver in focus (index into `drivers`), -1 for none. */
  focused = -1;
  /** The session part shown (qualifying, practice), "" in races. */
  segment = "";

  private header: Header;
  private feed: MessageFeed;
  private timed: boolean; // qualifying or practice: ranked by best lap, not by race gaps
  private segments: Segment[];
  private tabs: SegmentTabs;
  private qualifying: Qualifying | null;
  private buffering = $(".buffering");
  private narration: Narration;
  private summary: MapSummary;
  private miniSectors: MiniSectorPanel; // the focused driver's mini-sectors and speed trap
  private pitLoss: PitLoss | null;
  private flagView: FlagView; // yellow sectors, Safety Car, VSC, medical car on the map
  private geometry: Geometry | null;
  /** The focused driver's pit-exit ghost as last drawn (null: none). */
  pitExit: PitExitPrediction | null = null;
  private pitExitFrame = -1;

  /** `seekTime` moves the replay to a session time (a message, a marker, a tab clicked). */
  constructor(
    { id, meta, laps: lapRows, events, results }: OpenedSession,
    seekTime: (sessionTime: number) => void,
  ) {
    $("#replay").hidden = false;
    this.drivers = meta.drivers;
    const laps = new LapIndex(lapRows, events);
    const grid = new Map<string, number>();
    for (const r of results)
      if (typeof r.grid === "number" && typeof r.driver === "string") grid.set(r.driver, r.grid);
    // Times read from lights out / the green light; without one, from the first frame.
    const start = meta.info.start_time;
    const raceStart = typeof start === "number" && Number.isFinite(start) ? start : meta.t0;
    $(".title").textContent = `${meta.info.year} ${meta.info.event} · ${meta.info.name}`;
    document.title = `${meta.info.event} ${meta.info.name} · racereplay`;
    new DataNotes($(".notes"), $<HTMLButtonElement>(".notes-btn"), id, meta.problems);
    const styles = (this.styles = driverStyles(meta.drivers));
    this.map = new TrackMap($<HTMLCanvasElement>("canvas.map"), meta.drivers, styles);
    this.map.setGeometry(meta.geometry);
    this.geometry = meta.geometry;
    this.pitLoss = meta.pit_loss ?? null;
    this.flagView = new FlagView(meta.flags ?? null, meta.geometry, meta.t0, meta.fps);
    this.board = new Leaderboard($(".board"), meta.drivers, styles, laps, grid);
    this.header = new Header($("header.top"), meta.info.total_laps, raceStart, events);
    this.feed = new MessageFeed($(".feed"), events, raceStart, seekTime);
    this.telemetry = new TelemetryPanel($(".telemetry"), id, meta.drivers, styles, laps);
    this.miniSectors = new MiniSectorPanel($(".ms"), id, meta.drivers);
    this.ghost = new GhostPanel($(".side"), id, meta.drivers, styles, lapRows);
    this.ghost.onChange = () => {
      if (!this.ghost.ghosts.length) this.map.ghosts = [];
    };
    this.timed = !["race", "sprint"].includes(meta.info.kind);
    const duration = meta.n_frames / meta.fps;
    this.segments = findSegments(events, meta.info.kind, meta.t0, meta.t0 + duration);
    this.qualifying = QUALIFYING_KINDS.includes(meta.info.kind)
      ? new Qualifying(meta.drivers, this.segments, laps)
      : null;
    // Tabs in timed sessions with parts; qualifying data that cannot split its parts says so.
    const unsplit = this.qualifying !== null && !this.qualifying.split;
    this.tabs = new SegmentTabs(
      $(".segments"),
      this.segments,
      this.timed && (this.segments.length >= 2 || unsplit),
      unsplit ? meta.info.kind : null,
      (seg) => seekTime(seg.start),
    );
    this.marks = new SeekMarks($(".marks"), events, meta.t0, duration, raceStart, seekTime);
    this.analysis = new AnalysisPanel(
      $(".analysis"),
      { id, meta, laps: lapRows, events, results },
      styles,
      this.segments,
      raceStart,
      seekTime,
    );
    this.narration = new Narration(this.announcer, meta.drivers, events);
    this.summary = new MapSummary($("#map-summary"), meta.info.total_laps);
    this.map.onPick = this.board.onPick = (d) => this.focus(d === this.focused ? -1 : d);
    this.marks.show(null);
  }

  /** Focus driver `d` (-1: none): map, leaderboard, telemetry, laps and the markers follow. */
  focus(d: number): void {
    this.focused = d;
    this.map.focused = d;
    this.board.focused = d;
    this.marks.show(this.focusedCode());
  }

  focusCode(code: string): void {
    this.focus(this.drivers.findIndex((d) => d.code === code));
  }

  focusedCode(): string | null {
    return this.focused >= 0 ? this.drivers[this.focused].code : null;
  }

  /** Every animation frame: the ghosts (`now`: rAF time), then the cars when `snap` holds data. Returns the ghosts' lap time. */
  draw(now: number, speed: number, snap: Snapshot | null): number {
    let ghostTime = NaN;
    if (this.ghost.ghosts.length) {
      ghostTime = this.ghost.ghostTime(now, speed);
      this.map.ghosts = this.ghost.ghosts.map((g) => ({
        ...ghostPosition(g, ghostTime),
        colour: g.colour,
        dash: g.dash,
        label: `${g.code} L${g.lap}`,
      }));
    }
    if (snap) {
      this.map.trackStatus = snap.session.track_status;
      this.map.flags = this.flagView.forSnap(snap);
      this.drawPitExit(snap);
      this.map.draw(snap);
    }
    return ghostTime;
  }

  /** The focused driver's pit-exit ghost on the map: where it would rejoin if it pitted now. */
  private drawPitExit(snap: Snapshot): void {
    const d = this.focused;
    const p = this.pitLoss && d >= 0 ? predictRejoin(snap, d, this.pitLoss, this.geometry) : null;
    this.pitExit = p;
    this.pitExitFrame = snap.valuesFrame;
    this.map.pitGhost = p && {
      x: p.x,
      y: p.y,
      colour: this.styles[d].colour,
      label: `${this.drivers[d].code} pit → P${p.position}`,
      ahead: p.ahead,
      behind: p.behind,
    };
  }

  /** The pit-exit ghost as the page shows it (for tests). */
  pitExitProbe(): PitExitProbe {
    const p = this.pitExit;
    const code = (d: number) => (d >= 0 ? this.drivers[d].code : null);
    return {
      position: p?.position ?? 0,
      ahead: p ? code(p.ahead) : null,
      behind: p ? code(p.behind) : null,
      loss: p?.loss ?? NaN,
      valuesFrame: this.pitExitFrame,
      row: this.board.ghostText(),
      marker: this.map.pitGhostOnScreen(),
    };
  }

  /** The leaderboard's ghost row: the live prediction, or after a real stop how it compared. */
  private pitExitRow(sessionTime: number): void {
    const d = this.focused;
    const pit = this.pitLoss;
    if (!pit || d < 0) {
      this.board.ghost = null;
      return;
    }
    const code = this.drivers[d].code;
    const colour = this.styles[d].colour;
    const stop = stopAt(pit, code, sessionTime);
    const p = this.pitExit;
    if (stop)
      this.board.ghost = { after: d, text: outcomeText(stop, sessionTime), colour, driver: code };
    else if (p) {
      const codes = this.drivers.map((x) => x.code);
      const note = pit.source === "default" ? ` (default ${pit.seconds} s loss)` : "";
      this.board.ghost = {
        after: p.ahead,
        text: rejoinText(p, codes) + note,
        colour,
        driver: code,
      };
    } else this.board.ghost = null;
  }

  /** The clock at `sessionTime` as the header shows it (the seek bar's spoken value). */
  clockText(sessionTime: number): string {
    return this.header.clockText(sessionTime);
  }

  /** "buffering…" over the map. */
  showBuffering(show: boolean): void {
    this.buffering.hidden = !show;
  }

  /**
   * The panels at `sessionTime`, from `snap` (a few times a second). Positions and lap
   * times come from the same instant (`valuesTime`, the data frame's time): a lap that
   * ends between the data frame and the display time must not show against the old order.
   */
  refresh(snap: Snapshot, sessionTime: number, valuesTime: number, ghostTime: number): void {
    this.showSegment(sessionTime);
    this.pitExitRow(sessionTime);
    this.board.update(snap, valuesTime);
    this.ghost.updateList(this.focused, sessionTime);
    if (this.ghost.ghosts.length) this.ghost.followCursor(ghostTime);
    this.header.update(snap.session.leader_lap, sessionTime, snap.session.track_status);
    this.feed.update(sessionTime);
    this.telemetry.update(this.focused, snap, sessionTime);
    this.map.miniSectors = this.miniSectors.update(this.focused, snap, sessionTime);
    this.analysis.update(sessionTime, this.focused);
    this.tell(snap, sessionTime);
  }

  /** The screen reader's view: the announcements and the map's text summary. */
  private tell(snap: Snapshot, sessionTime: number): void {
    const d = this.focused;
    const standing = d >= 0 ? this.board.standing(d) : null;
    const status = snap.session.track_status;
    this.narration.update(sessionTime, status, d, standing?.position ?? 0);
    this.summary.update(performance.now(), {
      leaderLap: snap.session.leader_lap,
      trackStatus: status,
      leader: this.board.order()[0] ?? null,
      followed: standing && { code: this.drivers[d].code, ...standing },
    });
  }

  private showSegment(sessionTime: number): void {
    if (!this.timed) return;
    const i = segmentAt(this.segments, sessionTime);
    this.board.bestSince = this.segments[i].start;
    this.board.cut = this.qualifying?.split ? this.qualifying.cutAt(i) : null;
    if (this.tabs.select(i)) this.segment = this.segments[i].name;
  }
}
