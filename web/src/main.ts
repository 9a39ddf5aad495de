// The composition root: the session picker opens a session, then the replay is
// built from its modules and wired together here, and nothing else happens here.
//
//   picker.ts           which session, opened over REST
//   connection.ts       the WebSocket worker: decoded blocks and server messages
//   commands.ts         commands to the server, paced by the protocol's token bucket
//   sync.ts             the local clock kept in step with the server; pings; adaptive rate
//   view.ts             map, leaderboard, panels; focus
//   controls.ts         buttons and the key → action table
//   loop.ts             the requestAnimationFrame loop
//   url.ts              the shareable URL
//   room.ts             watch parties: a room's link, its members, who controls
//   broadcast.ts        the replay locked to the viewer's video, or to a stream's delay
//   instrumentation.ts  window.__rr for the end-to-end tests and the benchmark

import "./style.css";
import { BroadcastLock } from "./broadcast";
import { ReplayClock } from "./clock";
import { CommandSender } from "./commands";
import { Connection } from "./connection";
import { Controls } from "./controls";
import { $ } from "./dom";
import { Instrumentation } from "./instrumentation";
import { startLoop } from "./loop";
import { NetStatus } from "./panels";
import { type OpenedSession, pickSession } from "./picker";
import { PlayoutBuffer } from "./playout";
import { RateController } from "./ratecontrol";
import { WatchParty } from "./room";
import { Sync } from "./sync";
import { readUrlView, ShareUrl } from "./url";
import { ReplayView } from "./view";

function startReplay(
  name: string,
  opened: OpenedSession,
  params: URLSearchParams,
  connection: Connection,
): void {
  const { meta } = opened;
  const compact = meta.codecs.find((c) => c.name === "compact");
  if (!compact) throw new Error("the server offers no compact codec: this client needs it");
  const chunkFrames = compact.chunk_frames;
  const opening = readUrlView(params);

  const clock = new ReplayClock(meta.fps, meta.n_frames);
  const buffer = new PlayoutBuffer();
  const instruments = new Instrumentation(meta.t0);
  const commands = new CommandSender((c) => connection.send(c), meta.constants);
  const rates = new RateController(
    [...compact.rates].sort((a, b) => b - a),
    meta.fps,
    chunkFrames,
    meta.constants.max_frames_per_wall_second,
  );
  const sync = new Sync({
    clock,
    rates,
    commands,
    fps: meta.fps,
    nFrames: meta.n_frames,
    t0: meta.t0,
    chunkFrames,
    opening,
  });
  const view = new ReplayView(opened, (t) => sync.seekTime(t));
  const net = new NetStatus($("header .net"));
  const url = new ShareUrl(name);
  const party = new WatchParty((c) => commands.send(c), name, params.get("room"));
  sync.party = party;
  const broadcast = new BroadcastLock(sync, clock, meta, opened.events, {
    chunkFrames,
    prefetch: (chunks) =>
      connection.prefetch("compact", sync.rate || Math.max(...compact.rates), chunks),
  });
  sync.lead = broadcast;
  url.room = party.wanted;
  party.onChange = () => {
    broadcast.partyChanged();
    url.room = party.wanted;
    url.soon();
  };
  const controls = new Controls(
    {
      speed: () => clock.speed,
      togglePlay: () => sync.togglePlay(),
      skip: (s) => sync.skip(s),
      setSpeed: (s) => sync.setSpeed(s),
      seekFrame: (f) => sync.seekFrame(f),
      seekLap: (lap) => sync.seekLap(lap),
      setRate: (r) => sync.setRate(r),
      toggleGap: () => view.board.toggleGap(),
      unfocus: () => view.focus(-1),
      resetView: () => view.map.resetView(),
      jumpToIncident: (direction) => {
        const target = view.marks.jumpTarget(sync.sessionTime(), direction);
        if (target !== null) sync.seekTime(target);
      },
    },
    meta.n_frames,
    opening.rate,
  );
  sync.onChange = () => {
    controls.show(clock.playing, clock.speed);
    url.soon(); // the shareable URL follows every change at once
  };

  connection.onOpen = (reconnect) => {
    net.up();
    if (reconnect) instruments.reconnected();
  };
  connection.onClosed = (code, reason, retryInMs) => net.down(code, reason, retryInMs);
  connection.onMessage = (message) => {
    party.message(message);
    sync.message(message);
  };
  connection.onBlock = (block, bytes, receivedAt, prefetched) => {
    buffer.add(block);
    buffer.evict(Math.floor(clock.frame() / chunkFrames));
    if (!prefetched) sync.block(block, bytes, receivedAt); // the link's pace: hinted chunks only
    net.receive(bytes, performance.now());
    instruments.block(bytes, block.rate);
  };

  instruments.expose({
    ready: () => sync.ready,
    segment: () => view.segment,
    rateSwitches: () => sync.rateSwitches,
    cars: () => view.map.carsOnScreen(),
    labels: () => view.map.labelsOnScreen(),
    ghosts: () => view.map.ghostsOnScreen(),
    rateLog: () => rates.log.slice(),
    drop: () => connection.drop(),
    styles: () => view.styles.map((s, d) => ({ ...s, code: meta.drivers[d].code })),
    carStyles: () => view.map.carStyles(),
    telemetrySeries: () => view.telemetry.series(),
    telemetry: () => view.telemetry.report(),
    ghostSeries: () => view.ghost.series(),
    announcements: () => view.announcer.log.slice(),
    clockAt: () => ({ wall: performance.timeOrigin + performance.now(), frame: clock.frame() }),
    room: () => party.room,
    analysis: () => view.analysis.report(),
    pitExit: () => view.pitExitProbe(),
    broadcast: () => broadcast.probe(),
  });
  if (opening.focus) view.focusCode(opening.focus);
  connection.connect(opened.id, "compact", String(opening.rate));
  startLoop({
    clock,
    buffer,
    chunkFrames,
    fps: meta.fps,
    t0: meta.t0,
    view,
    controls,
    sync,
    net,
    url,
    instruments,
  });
}

const params = new URLSearchParams(location.search);
// Made now, so that its worker's script loads while the session opens.
const connection = new Connection();
void pickSession(params, (name, opened) => startReplay(name, opened, params, connection));
