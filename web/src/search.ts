// Binary search in ascending arrays: sample times, frame numbers, lap ends.

/** How many entries are at or before `v`. */
export function countAtOrBefore(arr: ArrayLike<number>, v: number): number {
  let lo = 0,
    hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the last entry at or before `v` (-1 before the first). */
export function lastAtOrBefore(arr: ArrayLike<number>, v: number): number {
  return countAtOrBefore(arr, v) - 1;
}
