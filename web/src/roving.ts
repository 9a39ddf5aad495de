// Keyboard movement within a list of items (the leaderboard's rows, the race control
// messages, the seek bar's marks): the list is one stop in the Tab order (the item
// last visited), and the arrow keys, Home and End move between its items. The keys
// stop there, so an arrow in a list never reaches the replay's shortcuts (skip, speed).

export type Axis = "vertical" | "horizontal";

const STEPS: Record<Axis, Record<string, number>> = {
  vertical: { ArrowUp: -1, ArrowDown: 1 },
  horizontal: { ArrowLeft: -1, ArrowRight: 1 },
};

/**
 * Arrow keys move focus among `items()` (in the order it gives, which may change from one
 * call to the next); focusing an item makes it the list's Tab stop.
 */
export function roving(container: HTMLElement, items: () => HTMLElement[], axis: Axis): void {
  container.addEventListener("focusin", (e) => {
    const list = items();
    const item = list.find((el) => el === e.target);
    if (item) setTabStop(list, item);
  });
  container.addEventListener("keydown", (e) => {
    const list = items();
    const at = list.findIndex((el) => el === e.target);
    if (at < 0) return;
    const step = STEPS[axis][e.key];
    const to =
      e.key === "Home" ? 0 : e.key === "End" ? list.length - 1 : step ? at + step : undefined;
    if (to === undefined) return;
    e.preventDefault();
    e.stopPropagation();
    list[Math.min(Math.max(to, 0), list.length - 1)].focus();
  });
}

/** Make `item` the one of `list` in the Tab order (the first when `item` is not in it). */
export function setTabStop(list: HTMLElement[], item?: HTMLElement): void {
  const stop = item && list.includes(item) ? item : list[0];
  for (const el of list) {
    const index = el === stop ? "0" : "-1";
    if (el.getAttribute("tabindex") !== index) el.setAttribute("tabindex", index);
  }
}
