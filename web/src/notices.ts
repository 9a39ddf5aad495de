// The session's data notes: every line of the metadata's `problems` (what the data
// lacked, what the build skipped) in a small dismissible panel, "Data notes (N)".
// Once closed it stays closed for that session (remembered in localStorage, keyed by
// the session id and the notes themselves, so different notes show again); the
// header's "notes" button opens it again.

const KEY = "racereplay.notes-dismissed.";

function remembered(key: string): boolean {
  try {
    return localStorage.getItem(key) === "1";
  } catch {
    return false; // storage disabled: the panel shows each time
  }
}

function remember(key: string, closed: boolean): void {
  try {
    if (closed) localStorage.setItem(key, "1");
    else localStorage.removeItem(key);
  } catch {
    // storage disabled: nothing to remember
  }
}

/** A short stable digest of the notes, so a session whose notes change shows them again. */
function digest(lines: string[]): string {
  let h = 2166136261;
  for (const ch of lines.join("\n")) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return (h >>> 0).toString(36);
}

export class DataNotes {
  private key: string;

  constructor(
    private panel: HTMLElement,
    private reopen: HTMLButtonElement,
    sessionId: string,
    private problems: string[],
  ) {
    this.key = `${KEY}${sessionId}.${digest(problems)}`;
    const n = problems.length;
    panel.querySelector(".notes-title")!.textContent = `Data notes (${n})`;
    panel.querySelector(".notes-list")!.replaceChildren(
      ...problems.map((p) => {
        const li = document.createElement("li");
        li.textContent = p;
        return li;
      }),
    );
    panel.querySelector(".notes-close")!.addEventListener("click", () => this.show(false));
    reopen.textContent = `ⓘ ${n}`;
    reopen.title = `Data notes (${n}): what this session's data lacks`;
    reopen.setAttribute("aria-label", `Data notes (${n})`);
    reopen.addEventListener("click", () => this.show(panel.hidden));
    this.render(n > 0 && !remembered(this.key));
  }

  private show(open: boolean): void {
    remember(this.key, !open);
    this.render(open);
  }

  private render(open: boolean): void {
    const any = this.problems.length > 0;
    this.panel.hidden = !(any && open);
    this.reopen.hidden = !any || open;
  }
}
