// The picker's list of sessions: grouped by season, then event (its round, circuit and
// country), the demos last; each session with its type, date and whether it is cached
// (its timeline is built: it opens fast). The server sends them in this order
// (docs/protocol.md, GET /api/catalogue); here they are only grouped and shown.

import type { CatalogueEntry } from "./types";

interface EventGroup {
  event: string | null; // null: sessions not of an event (demos, loose folders)
  sessions: CatalogueEntry[];
}

interface SeasonGroup {
  heading: string;
  events: EventGroup[];
}

/** Fill `el` (a list) with the catalogue's groups; a session's button calls `open`. */
export function showCatalogue(
  el: HTMLElement,
  sessions: CatalogueEntry[],
  open: (name: string) => void,
): void {
  el.replaceChildren(...groups(sessions).map((g) => seasonItem(g, open)));
}

function groups(sessions: CatalogueEntry[]): SeasonGroup[] {
  const out: SeasonGroup[] = [];
  for (const s of sessions) {
    const heading =
      s.kind === "demo" ? "Demos" : s.season !== null ? String(s.season) : "Other sessions";
    if (out.at(-1)?.heading !== heading) out.push({ heading, events: [] });
    const events = out.at(-1)!.events;
    const event = s.kind === "real" ? s.event : null;
    if (events.length === 0 || events.at(-1)!.event !== event) events.push({ event, sessions: [] });
    events.at(-1)!.sessions.push(s);
  }
  return out;
}

function seasonItem(group: SeasonGroup, open: (name: string) => void): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "season-group";
  const heading = document.createElement("h2");
  heading.textContent = group.heading;
  const events = document.createElement("ul");
  events.className = "event-groups";
  events.append(...group.events.map((e) => eventItem(e, open)));
  li.append(heading, events);
  return li;
}

function eventItem(group: EventGroup, open: (name: string) => void): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "event-group";
  if (group.event !== null) {
    const heading = document.createElement("h3");
    heading.textContent = group.event;
    li.append(heading);
    const about = eventAbout(group.sessions[0]);
    if (about) {
      const p = document.createElement("p");
      p.className = "event-about";
      p.textContent = about;
      li.append(p);
    }
  }
  const list = document.createElement("ul");
  list.className = "event-sessions";
  list.append(...group.sessions.map((s) => sessionItem(s, open)));
  li.append(list);
  return li;
}

/** "Round 1 · Melbourne, Australia" (what the schedule says of the event). */
function eventAbout(s: CatalogueEntry): string {
  const place = [s.circuit, s.country].filter(Boolean).join(", ");
  return [s.round !== null ? `Round ${s.round}` : "", place].filter(Boolean).join(" · ");
}

function sessionItem(s: CatalogueEntry, open: (name: string) => void): HTMLLIElement {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.session = s.name;
  button.title = s.name;
  const title = document.createElement("span");
  title.className = "s-title";
  title.textContent = s.title || s.name;
  const about = document.createElement("span");
  about.className = "s-about";
  const facts: (string | Node)[] = [s.session_type ?? "", sourceLabel(s.source)];
  if (s.date) facts.push(dateElement(s.date));
  about.append(
    ...join(
      facts.filter((f) => f !== ""),
      " · ",
    ),
  );
  button.append(title, about);
  if (s.cached) {
    const mark = document.createElement("span");
    mark.className = "cached";
    mark.textContent = "cached, opens fast";
    button.append(mark);
  }
  button.addEventListener("click", () => open(s.name));
  li.append(button);
  return li;
}

function sourceLabel(source: string): string {
  if (source === "tracinginsights") return "archive telemetry";
  if (source === "fastf1") return "FastF1";
  return source === "demo" ? "" : source; // a demo's title says it is simulated
}

function dateElement(iso: string): HTMLTimeElement {
  const time = document.createElement("time");
  time.dateTime = iso;
  const day = new Date(`${iso}T00:00:00Z`);
  time.textContent = Number.isNaN(day.getTime())
    ? iso
    : day.toLocaleDateString("en-GB", {
        day: "numeric",
        month: "short",
        year: "numeric",
        timeZone: "UTC",
      });
  return time;
}

function join(parts: (string | Node)[], separator: string): (string | Node)[] {
  return parts.flatMap((p, i) => (i === 0 ? [p] : [separator, p]));
}
