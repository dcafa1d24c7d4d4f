/**
 * 95% intervals for accuracy figures: Wilson score intervals for one proportion, and paired
 * differences (the same problems under two settings) with a normal interval on the per-problem
 * differences. An accuracy without an interval is an anecdote.
 */

const Z95 = 1.959963984540054;

/** A proportion with its 95% Wilson interval. */
export interface Proportion {
  k: number;
  n: number;
  p: number;
  lo: number;
  hi: number;
}

/** k successes out of n, with the Wilson score interval. */
export function wilson(k: number, n: number, z = Z95): Proportion {
  if (n === 0) return { k, n, p: 0, lo: 0, hi: 1 };
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { k, n, p, lo: Math.max(0, c - h), hi: Math.min(1, c + h) };
}

/** A paired difference b - a over the same problems, with its 95% interval. */
export interface PairedDiff {
  n: number;
  diff: number;
  lo: number;
  hi: number;
}

/** Mean of b_i - a_i (each 0/1 or a score) over paired items, with a normal 95% interval. */
export function pairedDiff(a: readonly number[], b: readonly number[], z = Z95): PairedDiff {
  if (a.length !== b.length) throw new Error(`paired difference over ${a.length} and ${b.length} items`);
  const n = a.length;
  if (n === 0) return { n, diff: 0, lo: 0, hi: 0 };
  const d = a.map((x, i) => b[i]! - x);
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const v = n > 1 ? d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1) : 0;
  const h = z * Math.sqrt(v / n);
  return { n, diff: mean, lo: mean - h, hi: mean + h };
}

/** "97.5% [96.6, 98.2]" (percent, one decimal). */
export function formatProportion(x: Proportion): string {
  return `${(100 * x.p).toFixed(1)}% [${(100 * x.lo).toFixed(1)}, ${(100 * x.hi).toFixed(1)}]`;
}

/** "+2.5 [+0.4, +4.6] points". */
export function formatDiff(x: PairedDiff): string {
  const s = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`;
  return `${s(x.diff)} [${s(x.lo)}, ${s(x.hi)}] points`;
}
