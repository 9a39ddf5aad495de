// The picker's FastF1 section: a season's events and their sessions, from FastF1's
// schedule on the server. A session not run yet cannot be opened.

import { api, type SeasonEvent } from "./api";

export function showSeasons(
  el: HTMLElement,
  seasons: number[],
  open: (name: string) => void,
): void {
  el.hidden = seasons.length === 0;
  const select = el.querySelector<HTMLSelectElement>("select.season")!;
  const note = el.querySelector<HTMLElement>(".season-note")!;
  const list = el.querySelector<HTMLElement>(".events")!;
  select.replaceChildren(
    new Option("choose a season", ""),
    ...seasons.map((y) => new Option(String(y), String(y))),
  );
  select.addEventListener("change", async () => {
    list.replaceChildren();
    const year = select.value;
    if (!year) return;
    note.textContent = `Asking FastF1 for the ${year} schedule…`;
    try {
      const { events } = await api.season(Number(year));
      if (select.value !== year) return; // another season was chosen meanwhile
      note.textContent = events.length ? "" : "FastF1 lists no events for this season.";
      list.replaceChildren(...events.map((e) => eventRow(e, open)));
    } catch (err) {
      if (select.value !== year) return;
      note.textContent = `FastF1's schedule is not reachable: ${err instanceof Error ? err.message : err}`;
    }
  });
}

function eventRow(event: SeasonEvent, open: (name: string) => void): HTMLLIElement {
  const li = document.createElement("li");
  const title = document.createElement("span");
  title.textContent = `${event.round}. ${event.name} · ${event.date}`;
  li.append(title);
  const now = Date.now();
  for (const s of event.sessions) {
    const b = document.createElement("button");
    b.textContent = s.code;
    b.dataset.session = s.session;
    const future = s.start_utc !== null && Date.parse(s.start_utc) > now;
    b.disabled = future;
    b.title = future ? `${s.name}: not run yet` : `${s.name} (${s.session})`;
    b.addEventListener("click", () => open(s.session));
    li.append(b);
  }
  return li;
}
