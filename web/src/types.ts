// Shapes shared by the client's modules. They mirror the server's JSON (docs/protocol.md)
// and the timeline's channels (src/racereplay/timeline/model.py).

export interface Driver {
  code: string;
  number: string;
  team: string;
  colour: string;
  name: string; // "" when the source has none
}

export interface Geometry {
  outline: [number, number][];
  width: number;
  sector_starts: number[];
  corners: {
    number: number;
    letter: string;
    x: number;
    y: number;
    angle: number;
    distance: number;
  }[];
  pit_lane: [number, number][];
  rotation: number;
  length: number;
  /** Where each marshal sector starts, from the circuit info (absent or empty: unknown). */
  marshal_sectors?: { number: number; x: number; y: number; distance: number }[];
}

export interface SessionEvent {
  time: number;
  kind: string;
  driver: string | null;
  data: Record<string, unknown>;
}

export interface LapRow {
  driver: string;
  lap: number;
  start: number | null;
  end: number | null;
  lap_time: number | null;
  sectors?: (number | null)[];
  compound?: string | null;
  tyre_age?: number | null;
  pit_in?: number | null;
  pit_out?: number | null;
  position?: number | null;
  stint?: number | null;
  deleted?: boolean;
}

export interface CodecInfo {
  name: string;
  rates: number[]; // frame rates the server can stream, e.g. [25, 10, 5, 2]
  chunk_frames: number;
  chunk_seconds: number;
  n_chunks: number;
  per_frame: boolean;
  media_type: string;
}

export type SessionKind = "race" | "sprint" | "qualifying" | "sprint_qualifying" | "practice";

export interface SessionInfo {
  year: number;
  event: string;
  name: string;
  kind: SessionKind;
  circuit: string;
  date: string; // ISO date of the session (UTC), informative only
  start_time: number | null; // session time of lights out / the green light (null when unknown)
  total_laps: number | null;
}

/**
 * The protocol's constants (`CLIENT_CONSTANTS` in src/racereplay/server/protocol.py), sent
 * in the metadata and in every `hello`: the client never hard-codes them.
 */
export interface ProtocolConstants {
  protocol: number;
  max_command_bytes: number;
  /** Auto quality keeps rate × speed at or under this many frames per wall second. */
  max_frames_per_wall_second: number;
  /** The server's token bucket for commands: this many a second, bursts of `command_burst`. */
  commands_per_second: number;
  command_burst: number;
  close_codes: {
    too_slow: number;
    forbidden: number;
    bad_params: number;
    not_found: number;
    failed: number;
    [name: string]: number;
  };
  /** After a close with one of these a client must not reconnect by itself. */
  final_close_codes: number[];
}

/** GET /api/sessions/{id}/metadata (docs/protocol.md, "Metadata"), also in the `ready` message. */
export interface SessionMeta {
  id: string;
  name: string;
  protocol: number;
  constants: ProtocolConstants;
  chunk_url: string;
  info: SessionInfo;
  drivers: Driver[];
  t0: number;
  fps: number;
  n_frames: number;
  duration: number;
  geometry: Geometry | null;
  codecs: CodecInfo[];
  /** What the data lacked or what was skipped building it, one line each, for the viewer. */
  problems: string[];
  /** Races: what a pit stop costs here, for the pit-exit ghost (null outside races). */
  pit_loss?: PitLoss | null;
  /** Flags on the map: marshal-sector yellows, Safety Car, VSC, medical car (flags.ts). */
  flags?: TrackFlags | null;
}

/** The metadata's `flags` (docs/protocol.md, "Metadata"; timeline/flags.py): periods of session time. */
export interface TrackFlags {
  marshal_sectors: { number: number; start: number; end: number }[]; // metres along the lap
  marshal_estimated: boolean; // equal stretches: the source has no marshal sector positions
  yellow: { sector: number; flag: string; start: number; end: number }[];
  safety_car: { start: number; end: number; in_this_lap: number | null }[];
  sc_ahead: number; // metres ahead of the leader where the estimated Safety Car is drawn
  sc_estimated: boolean;
  vsc: { start: number; end: number; ending: number | null }[];
  medical_car: { start: number; end: number; message: string }[];
  problems: string[];
}

/** A real stop (metadata `pit_loss.stops`): the place predicted at pit entry, the place taken. */
export interface PitRejoin {
  driver: string;
  lap: number; // the in-lap
  pit_in: number; // session time, s
  pit_out: number;
  condition: "green" | "sc" | "vsc" | "red";
  loss: number | null; // s lost against two typical laps
  predicted: number; // place, 0 when unknown
  actual: number; // place 5 s after pit exit, 0 when unknown
}

/** The metadata's `pit_loss` (docs/protocol.md, "Metadata"; timeline/pitloss.py). */
export interface PitLoss {
  seconds: number; // green-flag loss, s
  source: "measured" | "scaled" | "default";
  how: string;
  stops_used: number;
  sc_factor: number; // the loss × this under the Safety Car
  sc_source: "measured" | "default";
  sc_stops: number;
  vsc_factor: number; // … under the VSC
  vsc_source: "measured" | "default";
  vsc_stops: number;
  median_error: number | null; // places, predicted against real, green-flag stops
  stops: PitRejoin[];
  problems: string[];
}

/** A session's build, in REST statuses and `progress` messages. */
export type BuildState = "queued" | "building" | "ready" | "failed";

// --- WebSocket messages from the server (docs/protocol.md §2) ----------------------

export interface HelloMessage {
  type: "hello";
  protocol: number;
  server: string;
  session: string;
  constants: ProtocolConstants;
}

export interface ProgressMessage {
  type: "progress";
  state: BuildState;
  fraction: number;
  message: string;
  queue_position: number | null;
}

export interface ReadyMessage {
  type: "ready";
  metadata: SessionMeta;
}

export interface StateMessage {
  type: "state";
  playing: boolean;
  speed: number;
  frame: number;
  time: number;
  server_time: number;
  codec: string;
  rate: number;
  auto: boolean;
  reason:
    | "join"
    | "play"
    | "pause"
    | "seek"
    | "speed"
    | "quality"
    | "delivery"
    | "heartbeat"
    | "end"
    | "skip";
  /** How chunk bytes arrive: "http" (fetched after `next` hints) or "push" (`data` messages). */
  delivery?: Delivery;
  seq?: number;
}

export type Delivery = "http" | "push";

/**
 * `next` (delivery=http): the chunk to fetch now from the metadata's `chunk_url`. The
 * connection worker fetches and decodes it; the message never reaches the page.
 */
export interface NextMessage {
  type: "next";
  codec: string;
  rate: number;
  chunk: number;
}

export function asNextMessage(value: unknown): NextMessage | null {
  const m = value as Partial<NextMessage> | null;
  return typeof m === "object" && m !== null && m.type === "next" && typeof m.chunk === "number"
    ? (m as NextMessage)
    : null;
}

export interface DataMessage {
  type: "data";
  codec: string;
  rate: number;
  chunk: number;
  frame: number;
  frames: number;
  payload: unknown; // compact: the chunk's bytes (a Uint8Array once decoded from msgpack)
}

export interface EventsMessage {
  type: "events";
  events: SessionEvent[];
  from_frame: number;
  to_frame: number;
}

export interface PongMessage {
  type: "pong";
  t: number;
  server_time: number;
  seq?: number;
}

export interface ErrorMessage {
  type: "error";
  /** bad_message, too_large, unknown_command, bad_value, too_many, session_failed, session_not_found, ... */
  code: string;
  message: string;
  seq?: number;
}

/** A watch party (docs/protocol.md "Watch parties"): its state after every change. */
export interface RoomMessage {
  type: "room";
  id: string; // 8 url-safe characters: `?room=ID`
  you: string; // this viewer's member id
  session: string;
  n_frames: number;
  fps: number;
  /** The room's one clock: at Unix time `wall` (s) it was at `frame`, moving at `speed` × fps while `playing`. */
  clock: { frame: number; wall: number; playing: boolean; speed: number };
  host: string; // a member id
  policy: "host" | "everyone"; // who may play, pause, seek and change speed
  members: { id: string; name: string }[];
  version: number;
  reason: string; // the last change: create, join, leave, host, policy, play, pause, seek, speed
  server_time: number;
}

/** This viewer left the room (it watches alone from the moment it was at). */
export interface RoomLeftMessage {
  type: "room_left";
  id: string;
  seq?: number;
}

export type ServerMessage =
  | HelloMessage
  | ProgressMessage
  | ReadyMessage
  | StateMessage
  | DataMessage
  | EventsMessage
  | PongMessage
  | ErrorMessage
  | RoomMessage
  | RoomLeftMessage;

const SERVER_MESSAGE_TYPES: Record<ServerMessage["type"], true> = {
  hello: true,
  progress: true,
  ready: true,
  state: true,
  data: true,
  events: true,
  pong: true,
  error: true,
  room: true,
  room_left: true,
};

/** A decoded envelope as a `ServerMessage`, or null for anything else (a newer server's message). */
export function asServerMessage(value: unknown): ServerMessage | null {
  if (typeof value !== "object" || value === null) return null;
  const type = (value as { type?: unknown }).type;
  return typeof type === "string" && Object.hasOwn(SERVER_MESSAGE_TYPES, type)
    ? (value as ServerMessage)
    : null;
}

/** The default branch of an exhaustive switch: the compiler proves it unreachable. */
export function unreachable(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

/** Per-driver channels, laid out [sample * nDrivers + driver]. */
// prettier-ignore
export const DRIVER_CHANNELS = [
  "x", "y", "speed", "gear", "throttle", "brake", "drs", "rpm", "lap", "distance",
  "position", "gap", "interval", "compound", "tyre_age", "status", "gap_laps", "interval_laps",
] as const;
export const SESSION_CHANNELS = ["leader_lap", "track_status"] as const;
export type DriverChannel = (typeof DRIVER_CHANNELS)[number];
export type SessionChannel = (typeof SESSION_CHANNELS)[number];

/** A decoded chunk at one rate: sample i is timeline frame `frames[i]` (ascending). */
export interface FrameBlock {
  index: number; // chunk index
  rate: number; // frames per second of this block
  frames: Int32Array;
  end: number; // exclusive timeline frame where the chunk's span ends
  n: number;
  nDrivers: number;
  driver: Record<DriverChannel, Float32Array>;
  session: Record<SessionChannel, Float32Array>;
  events: SessionEvent[];
}

export const enum DriverStatus {
  NotStarted = 0,
  Running = 1,
  PitLane = 2,
  Retired = 3,
  Finished = 4,
  DidNotStart = 5, // a race car that never took the start
}

export const COMPOUNDS = ["?", "S", "M", "H", "I", "W"];
export const COMPOUND_COLOURS = ["#888", "#e8002d", "#ffd12e", "#f0f0ec", "#39b54a", "#0067ad"];

export const TRACK_STATUS: Record<number, { label: string; cls: string }> = {
  1: { label: "GREEN", cls: "green" },
  2: { label: "YELLOW", cls: "yellow" },
  4: { label: "SAFETY CAR", cls: "sc" },
  5: { label: "RED FLAG", cls: "red" },
  6: { label: "VSC", cls: "vsc" },
  7: { label: "VSC ENDING", cls: "vsc" },
};

/** The interpolated state of every car at one instant, reused across frames. */
export interface Snapshot {
  frame: number; // fractional timeline frame
  valuesFrame: number; // the data frame `values` and `session` come from (≤ frame)
  x: Float32Array;
  y: Float32Array;
  valid: Uint8Array; // 1 where the driver has data at this instant
  values: Record<DriverChannel, Float32Array>; // nearest-sample values (not interpolated)
  session: Record<SessionChannel, number>;
}

/** One session of GET /api/catalogue (docs/protocol.md §1), ordered by the server:
 * real sessions by season and event, then those without a season, demos last. */
export interface CatalogueEntry {
  name: string; // what opens it
  id: string;
  title: string; // "Australian Grand Prix 2025 — Race"
  source: string; // "tracinginsights", "fastf1", "demo"
  kind: "real" | "demo";
  cached: boolean; // its timeline is in the server's cache: it opens fast
  season: number | null;
  event: string | null;
  session_type: string | null; // "Race", "Practice 1"
  round: number | null;
  circuit: string | null; // "Melbourne"
  country: string | null;
  date: string | null; // ISO date
}

/** A session of a FastF1 season schedule (GET /api/fastf1/{year}). */
export interface ScheduledSession {
  name: string; // "Race"
  code: string; // "R"
  start_utc: string | null;
  session: string; // the name that opens it
  openable: boolean; // online: it has started; offline: the caches hold it
  cached: boolean;
}

/** A part's mark in GET /api/sessions/{id}/minisectors, as timing screens colour it. */
export const enum MiniSectorMark {
  Unknown = 0,
  Normal = 1, // yellow
  PersonalBest = 2, // green
  OverallBest = 3, // purple
}

/** One lap timed line to line (timeline/minisectors.py): `count` parts of equal distance. */
export interface MiniSectorLap {
  driver: string;
  lap: number;
  ends: (number | null)[]; // ms of session time each part was completed
  times: (number | null)[]; // ms through each part
  marks: MiniSectorMark[]; // as marked the moment the part was completed
  sector_top_speed: (number | null)[]; // km/h, the top speed in each timing sector
  speed_trap: number | null; // km/h at the official speed trap
}

/** GET /api/sessions/{id}/minisectors. */
export interface MiniSectorTable {
  count: number;
  notes: string[];
  laps: MiniSectorLap[];
}
