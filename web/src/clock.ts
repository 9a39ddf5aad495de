// The viewer's replay clock, in timeline frames. Anchored to the wall clock
// (performance.now) rather than accumulated per animation frame, so it never drifts.
// The animation loop reads it at the timestamp requestAnimationFrame hands its
// callback (the frame's own time, same time base as performance.now), so every
// frame drawn is placed at the moment it is shown, whatever ran before it.
// While it follows a source (the video the replay is locked to, broadcast.ts), its
// frame is the source's, and play, pause and speed only record what the source does.

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];

export class ReplayClock {
  private anchorFrame = 0;
  private anchorWall = 0;
  playing = false;
  speed = 1;
  private source: ((at: number) => number) | null = null;

  constructor(
    private fps: number,
    private nFrames: number,
    private now: () => number = () => performance.now(),
  ) {}

  /**
   * The frame at wall time `at` (ms, performance.now's time base; default: now). A
   * time before the last anchor (a rAF timestamp can precede a seek handled in the
   * same frame) reads as the anchor: the clock never runs backwards past a seek.
   */
  frame(at: number = this.now()): number {
    if (this.source) return Math.min(Math.max(this.source(at), 0), this.nFrames - 1);
    if (!this.playing) return this.anchorFrame;
    const f = this.anchorFrame + (Math.max(0, at - this.anchorWall) / 1000) * this.fps * this.speed;
    return Math.min(f, this.nFrames - 1);
  }

  /**
   * Read the frame from `source` (given the wall time asked for) from now on; null: run
   * on the wall clock again, from the source's last frame, playing as it was.
   */
  follow(source: ((at: number) => number) | null): void {
    const frame = this.frame();
    this.source = source;
    this.reanchor(frame);
  }

  /** Whether a source sets the frame (see `follow`). */
  get following(): boolean {
    return this.source !== null;
  }

  private reanchor(frame: number): void {
    this.anchorFrame = Math.min(Math.max(frame, 0), this.nFrames - 1);
    this.anchorWall = this.now();
  }

  play(): void {
    if (this.playing) return;
    this.reanchor(this.anchorFrame);
    this.playing = true;
  }

  pause(): void {
    this.reanchor(this.frame());
    this.playing = false;
  }

  seek(frame: number): void {
    this.reanchor(frame);
  }

  setSpeed(speed: number): void {
    this.reanchor(this.frame());
    this.speed = speed;
  }

  atEnd(): boolean {
    return this.frame() >= this.nFrames - 1;
  }
}
