// DOM helpers: the element a selector names (which the page's HTML guarantees), and the
// small panels' disclosure and status line.

export const $ = <T extends HTMLElement = HTMLElement>(
  sel: string,
  root: ParentNode = document,
): T => root.querySelector<T>(sel)!;

/** Open or close a panel and say so on the button that toggles it. */
export function disclose(panel: HTMLElement, toggle: HTMLElement, open: boolean): void {
  panel.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
}

/** A panel's status line; `problem` styles it as something the viewer must fix. */
export function sayStatus(status: HTMLElement, text: string, problem = false): void {
  status.textContent = text;
  status.classList.toggle("problem", problem);
}
