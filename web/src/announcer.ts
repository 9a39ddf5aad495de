// Polite announcements for screen readers: the one aria-live="polite" region of the
// page (index.html, `.announcer`). A screen reader reads each change of the region when
// it is idle, so a burst (a seek across a dozen messages, a fast-forward through an
// overtaking battle) would queue a dozen readings: announcements are held and written
// at most one per `GAP_MS`, a newer one on the same topic replaces one still waiting,
// and a few at most wait.

/** What an announcement is about: a newer one replaces a waiting one of its topic. */
export type Topic = "track" | "message" | "position" | "focus";

const GAP_MS = 1500;
const MAX_WAITING = 3;
const LOG_LENGTH = 50;

export class Announcer {
  /** The last announcements written to the region, oldest first (window.__rr reads them). */
  readonly log: string[] = [];
  private waiting: { topic: Topic; text: string }[] = [];
  private lastWritten = -Infinity;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private region: HTMLElement) {}

  say(topic: Topic, text: string): void {
    this.waiting = this.waiting.filter((w) => w.topic !== topic);
    this.waiting.push({ topic, text });
    if (this.waiting.length > MAX_WAITING) this.waiting.shift();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null || !this.waiting.length) return;
    const wait = Math.max(0, this.lastWritten + GAP_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write();
      this.schedule();
    }, wait);
  }

  private write(): void {
    const next = this.waiting.shift();
    if (!next) return;
    this.lastWritten = performance.now();
    // The same text twice in a row is a change the reader would not notice: make it one.
    this.region.textContent =
      this.region.textContent === next.text ? `${next.text}\u00a0` : next.text;
    this.log.push(next.text);
    if (this.log.length > LOG_LENGTH) this.log.shift();
  }
}
