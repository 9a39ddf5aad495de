// The one DOM helper: the element a selector names, which the page's HTML guarantees.

export const $ = <T extends HTMLElement = HTMLElement>(
  sel: string,
  root: ParentNode = document,
): T => root.querySelector<T>(sel)!;
