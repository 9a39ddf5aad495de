// The one requestAnimationFrame loop: each frame samples the playout buffer at the
// clock, read at the frame's own timestamp (requestAnimationFrame's, not whenever
// the callback happens to run), and draws the map; a few times a second, while data
// is at the playhead, the panels, the link indicator and the sync's pings and rate
// decisions follow, and about once a second the shareable URL.

import type { ReplayClock } from "./clock";
import type { Controls } from "./controls";
import type { Instrumentation } from "./instrumentation";
import type { NetStatus } from "./panels";
import { emptySnapshot, type PlayoutBuffer } from "./playout";
import type { Sync } from "./sync";
import type { ShareUrl } from "./url";
import type { ReplayView } from "./view";

const PANEL_EVERY_MS = 200;
const BUFFERING_AFTER_MS = 300; // a shorter wait for data shows no "buffering…"

export interface LoopParts {
  clock: ReplayClock;
  buffer: PlayoutBuffer;
  chunkFrames: number;
  fps: number;
  t0: number;
  view: ReplayView;
  controls: Controls;
  sync: Sync;
  net: NetStatus;
  url: ShareUrl;
  instruments: Instrumentation;
}

export function startLoop(p: LoopParts): void {
  const { clock, buffer, chunkFrames, fps, t0, view, sync, instruments } = p;
  const stats = instruments.stats;
  const snap = emptySnapshot(view.drivers.length);
  let lastPanel = 0;

  const tick = (now: number): void => {
    requestAnimationFrame(tick);
    const started = performance.now();
    const frame = clock.frame(now);
    instruments.frameShown(now, frame, clock.playing);
    const have = buffer.sample(frame, chunkFrames, snap);
    const waited = instruments.stalled(now, !have && clock.playing && sync.ready);
    view.showBuffering(waited > BUFFERING_AFTER_MS);
    const ghostTime = view.draw(now, clock.speed, have ? snap : null);
    if (!Number.isNaN(ghostTime)) stats.ghostTime = ghostTime;
    const sessionTime = t0 + frame / fps;
    if (have) {
      stats.drawn++;
      stats.shownTime = sessionTime;
    }
    if (now - lastPanel > PANEL_EVERY_MS && have) {
      lastPanel = now;
      view.refresh(snap, sessionTime, t0 + snap.valuesFrame / fps, stats.ghostTime);
      p.controls.showFrame(frame, view.clockText(sessionTime));
      stats.frame = frame;
      stats.sessionTime = sessionTime;
      stats.leaderLap = snap.session.leader_lap;
      stats.playing = clock.playing;
      stats.speed = clock.speed;
      stats.order = view.board.order();
      const ahead = buffer.bufferedChunksAhead(frame, chunkFrames);
      p.net.show(now, {
        rate: sync.rate,
        auto: sync.requestedRate === "auto",
        linkBytesPerSecond: sync.linkBytesPerSecond(),
        aheadSeconds: (ahead * chunkFrames) / fps / Math.max(clock.speed, 0.25),
        lastSwitch: sync.lastSwitch,
      });
      sync.tick(now);
    }
    if (sync.ready) p.url.update(now, sessionTime, clock.speed, clock.playing, view.focusedCode());
    instruments.frameDone(now, started);
  };
  requestAnimationFrame(tick);
}
