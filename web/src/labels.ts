// Car labels on the map that never cover each other: most important first, each takes
// the first free spot around its car (right, above-right, below-right, then the same on
// the left). A label with no free spot is not drawn: in a tight pack (the grid, a
// Safety Car queue) the cars keep their colours and the leaderboard names them.

export interface LabelBox {
  x: number; // left edge, CSS pixels
  y: number; // vertical centre
  w: number;
  h: number;
}

const SPOTS: readonly [side: 1 | -1, row: number][] = [
  [1, 0],
  [1, -1],
  [1, 1],
  [-1, 0],
  [-1, -1],
  [-1, 1],
];

/**
 * Where to draw each label (null: nowhere), for cars given most important first.
 * `gap` is the space between a car marker of radius `r` and its label.
 */
export function placeLabels(
  cars: readonly { x: number; y: number; r: number; w: number }[],
  h: number,
  gap = 3,
): (LabelBox | null)[] {
  const placed: LabelBox[] = [];
  return cars.map((car) => {
    for (const [side, row] of SPOTS) {
      const box = {
        x: side > 0 ? car.x + car.r + gap : car.x - car.r - gap - car.w,
        y: car.y + row * h,
        w: car.w,
        h,
      };
      if (!placed.some((p) => overlaps(p, box))) {
        placed.push(box);
        return box;
      }
    }
    return null;
  });
}

export function overlaps(a: LabelBox, b: LabelBox): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && Math.abs(a.y - b.y) < (a.h + b.h) / 2;
}
