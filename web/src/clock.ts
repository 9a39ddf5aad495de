// The viewer's replay clock, in timeline frames. Anchored to the wall clock
// (performance.now) rather than accumulated per animation frame, so it never drifts.

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];

export class ReplayClock {
  private anchorFrame = 0;
  private anchorWall = 0;
  playing = false;
  speed = 1;

  constructor(
    private fps: number,
    private nFrames: number,
    private now: () => number = () => performance.now(),
  ) {}

  frame(): number {
    if (!this.playing) return this.anchorFrame;
    const f = this.anchorFrame + ((this.now() - this.anchorWall) / 1000) * this.fps * this.speed;
    return Math.min(f, this.nFrames - 1);
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
