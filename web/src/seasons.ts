// The picker's FastF1 section: a season's events and their sessions, from FastF1's
// schedule on the server. The server says which sessions open here (offline, only
// those the caches hold are listed at all; online, one not run yet cannot be opened)
// and which are cached.

import { api, type SeasonEvent } from "./api";
import { describeProblem, showProblem } from "./picker_errors";

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
  const show = async (year: string) => {
    list.replaceChildren();
    note.removeAttribute("role");
    note.hidden = false; // a Retry hid it
    note.textContent = year ? `Asking FastF1 for the ${year} schedule…` : "";
    if (!year) return;
    try {
      const { events } = await api.season(Number(year));
      if (select.value !== year) return; // another season was chosen meanwhile
      note.textContent = events.length ? "" : "FastF1 lists no events for this season.";
      list.replaceChildren(...events.map((e) => eventRow(e, open)));
    } catch (err) {
      if (select.value !== year) return;
      const problem = describeProblem(err, `FastF1's ${year} schedule`);
      showProblem(note, problem, () => void show(year));
    }
  };
  select.addEventListener("change", () => void show(select.value));
}

function eventRow(event: SeasonEvent, open: (name: string) => void): HTMLLIElement {
  const li = document.createElement("li");
  const title = document.createElement("span");
  title.textContent = `${event.round}. ${event.name} · ${event.location} · ${event.date}`;
  li.append(title);
  for (const s of event.sessions) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = s.cached ? `${s.code} ✓` : s.code;
    b.dataset.session = s.session;
    b.disabled = !s.openable;
    b.title = !s.openable
      ? `${s.name}: not run yet`
      : `${event.name} ${s.name}${s.cached ? " (cached: opens fast)" : ""}`;
    b.addEventListener("click", () => open(s.session));
    li.append(b);
  }
  return li;
}
