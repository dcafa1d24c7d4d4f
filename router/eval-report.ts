/**
 * Writers of the evaluation results: a markdown table (one row per policy and N, every accuracy
 * with its 95% interval), the paired differences between policies (with intervals), and an SVG
 * Pareto plot of majority-vote accuracy against measured end-to-end speedup, one point per policy
 * and N, the frontier drawn. No plotting dependency.
 */
import { formatDiff, pairedDiff, type PairedDiff, type Proportion } from '../src/util/intervals.ts';

/** One evaluated configuration: a policy (with its setting) at one N. */
export interface EvalRow {
  /** Display name, e.g. "latency-budget 1.25x". */
  label: string;
  policy: string;
  n: number;
  problems: number;
  /** Majority vote right, with its 95% Wilson interval. */
  maj: Proportion;
  /** Any candidate right (pass@N), with its interval. */
  pass: Proportion;
  /** Per problem, '1' when the vote was right (for paired differences). */
  majBits: string;
  /** Mean number of distinct extracted answers among the N. */
  uniqueAnswers: number;
  /** Mean Shannon entropy (bits) of the answers. */
  answerEntropy: number;
  distinct2: number;
  /** Mean Jaccard distance between the candidates' token sets. */
  pairwiseDistance: number;
  /** Mean normalised Hamming distance between the candidates' plans. */
  planDistance: number;
  /** Mean speedup the engine reported for the evaluation's requests (null: none measured). */
  reportedSpeedup: number | null;
  /** End-to-end: median wall time of the same requests on the full model / with the policy, alternated (null: not measured). */
  measuredSpeedup: number | null;
  /** Median speedup the engine reported for those alternated requests: the figure to hold against measuredSpeedup (null: not measured). */
  reportedSameRequests?: number | null;
  /** Fraction of per-token matmul FLOPs removed by the shared skip core (0 for masks only). */
  skippedCompute: number;
}

/** A paired difference b - a at one N. */
export interface DiffRow {
  n: number;
  a: string;
  b: string;
  diff: PairedDiff;
}

const pct = (x: number): string => (100 * x).toFixed(1);
const ci = (x: Proportion): string => `${pct(x.p)} [${pct(x.lo)}, ${pct(x.hi)}]`;
const speed = (x: number | null): string => (x === null ? '-' : `${x.toFixed(2)}x`);

/** Markdown table of the rows, grouped by N. */
export function evalTable(rows: readonly EvalRow[]): string {
  const head = `| N | policy | maj@N % [95% CI] | pass@N % [95% CI] | unique answers | answer entropy (bits) | distinct-2 | pairwise distance | plan distance | measured speedup (end to end) | reported, same requests | reported, evaluation's requests | skipped compute % |`;
  const sep = '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const sorted = [...rows].sort((a, b) => a.n - b.n);
  const lines = sorted.map(
    (r) =>
      `| ${r.n} | ${r.label} | ${ci(r.maj)} | ${ci(r.pass)} | ${r.uniqueAnswers.toFixed(2)} | ${r.answerEntropy.toFixed(2)} | ${r.distinct2.toFixed(3)} | ` +
      `${r.pairwiseDistance.toFixed(3)} | ${r.planDistance.toFixed(3)} | ${speed(r.measuredSpeedup)} | ${speed(r.reportedSameRequests ?? null)} | ${speed(r.reportedSpeedup)} | ${pct(r.skippedCompute)} |`,
  );
  return [head, sep, ...lines].join('\n') + '\n';
}

/** Paired differences b - a of the majority vote for each [a, b] pair of labels, at every N both have. */
export function pairedDiffs(rows: readonly EvalRow[], pairs: readonly [string, string][]): DiffRow[] {
  const out: DiffRow[] = [];
  const ns = [...new Set(rows.map((r) => r.n))].sort((x, y) => x - y);
  for (const n of ns) {
    for (const [a, b] of pairs) {
      const ra = rows.find((r) => r.n === n && r.label === a);
      const rb = rows.find((r) => r.n === n && r.label === b);
      if (!ra || !rb || ra.majBits.length !== rb.majBits.length) continue;
      out.push({ n, a, b, diff: pairedDiff([...ra.majBits].map(Number), [...rb.majBits].map(Number)) });
    }
  }
  return out;
}

/** Markdown table of paired differences (points, 95% interval; "above 0" when the whole interval is). */
export function diffTable(diffs: readonly DiffRow[]): string {
  const lines = diffs.map((d) => `| ${d.n} | ${d.b} - ${d.a} | ${formatDiff(d.diff)} | ${d.diff.lo > 0 ? 'above 0' : d.diff.hi < 0 ? 'below 0' : 'includes 0'} |`);
  return ['| N | difference of maj@N | points [95% CI] | interval |', '|---:|---|---:|---|', ...lines].join('\n') + '\n';
}

/** The rows no other row beats on both measured speedup and majority vote (the Pareto frontier), by speedup. */
export function paretoFrontier(rows: readonly EvalRow[]): EvalRow[] {
  const pts = rows.filter((r) => r.measuredSpeedup !== null);
  const dominated = (r: EvalRow): boolean =>
    pts.some((o) => o !== r && o.measuredSpeedup! >= r.measuredSpeedup! && o.maj.p >= r.maj.p && (o.measuredSpeedup! > r.measuredSpeedup! || o.maj.p > r.maj.p));
  return pts.filter((r) => !dominated(r)).sort((a, b) => a.measuredSpeedup! - b.measuredSpeedup!);
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#ad494a', '#637939', '#8c6d31', '#7b4173', '#000000', '#e6550d'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * SVG Pareto plot: x = measured end-to-end speedup, y = maj@N % with its 95% interval as a bar;
 * one point per row (colour = policy, marker = N); the frontier as a dashed line. Rows without a
 * measured speedup are left out.
 */
export function evalPlot(rows: readonly EvalRow[], title = 'maj@N against measured end-to-end speedup'): string {
  const shown = rows.filter((r) => r.measuredSpeedup !== null);
  const w = 820;
  const h = 500;
  const m = { l: 60, r: 250, t: 40, b: 50 };
  const xs = shown.map((r) => r.measuredSpeedup!);
  const ys = shown.flatMap((r) => [100 * r.maj.lo, 100 * r.maj.hi]);
  const xMin = Math.min(0.9, ...xs) - 0.05;
  const xMax = Math.max(1.2, ...xs) + 0.05;
  const yMin = Math.max(0, Math.floor((Math.min(...ys, 100) - 2) / 5) * 5);
  const yMax = Math.min(100, Math.ceil((Math.max(...ys, 0) + 2) / 5) * 5);
  const px = (x: number): number => m.l + ((x - xMin) / (xMax - xMin)) * (w - m.l - m.r);
  const py = (y: number): number => h - m.b - ((y - yMin) / Math.max(yMax - yMin, 1)) * (h - m.t - m.b);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="DejaVu Sans, sans-serif" font-size="12">`);
  out.push(`<rect width="${w}" height="${h}" fill="white"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="15">${esc(title)}</text>`);
  const yStep = yMax - yMin > 40 ? 10 : 5;
  for (let y = yMin; y <= yMax; y += yStep) {
    out.push(`<line x1="${m.l}" x2="${w - m.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 8}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  const step = xMax - xMin > 1.5 ? 0.5 : 0.1;
  for (let x = Math.ceil(xMin / step) * step; x <= xMax + 1e-9; x += step) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${m.t}" y2="${h - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${h - m.b + 16}" text-anchor="middle">${x.toFixed(1)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${w - m.l - m.r}" height="${h - m.t - m.b}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(m.l + w - m.r) / 2}" y="${h - 12}" text-anchor="middle">measured end-to-end speedup (full-model request time / policy request time)</text>`);
  out.push(`<text transform="translate(16 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">maj@N accuracy (%), 95% interval</text>`);
  const frontier = paretoFrontier(shown);
  if (frontier.length > 1) {
    const d = frontier.map((r, i) => `${i ? 'L' : 'M'}${px(r.measuredSpeedup!).toFixed(1)} ${py(100 * r.maj.p).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="#444" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  }
  const labels = [...new Set(shown.map((r) => r.label))];
  const ns = [...new Set(shown.map((r) => r.n))].sort((a, b) => a - b);
  const marker = (n: number, x: number, y: number, colour: string): string => {
    const k = ns.indexOf(n) % 4;
    if (k === 0) return `<circle cx="${x}" cy="${y}" r="5" fill="${colour}"/>`;
    if (k === 1) return `<rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${colour}"/>`;
    if (k === 2) return `<path d="M${x} ${y - 6} L${x + 6} ${y + 5} L${x - 6} ${y + 5} Z" fill="${colour}"/>`;
    return `<path d="M${x} ${y - 6} L${x + 6} ${y} L${x} ${y + 6} L${x - 6} ${y} Z" fill="${colour}"/>`;
  };
  shown.forEach((r) => {
    const colour = COLOURS[labels.indexOf(r.label) % COLOURS.length]!;
    const x = px(r.measuredSpeedup!);
    const bar = `<line x1="${x}" x2="${x}" y1="${py(100 * r.maj.lo)}" y2="${py(100 * r.maj.hi)}" stroke="${colour}" stroke-opacity="0.6"/>`;
    const tip = `${r.label}, N=${r.n}: maj ${pct(r.maj.p)}% [${pct(r.maj.lo)}, ${pct(r.maj.hi)}], ${r.measuredSpeedup!.toFixed(2)}x${frontier.includes(r) ? ' (frontier)' : ''}`;
    out.push(`<g><title>${esc(tip)}</title>${bar}${marker(r.n, x, py(100 * r.maj.p), colour)}</g>`);
  });
  labels.forEach((label, i) => {
    const y = m.t + 10 + i * 18;
    out.push(`<rect x="${w - m.r + 15}" y="${y - 8}" width="10" height="10" fill="${COLOURS[i % COLOURS.length]}"/>`);
    out.push(`<text x="${w - m.r + 31}" y="${y + 1}">${esc(label)}</text>`);
  });
  ns.forEach((n, i) => {
    const y = m.t + 20 + (labels.length + i) * 18;
    out.push(marker(n, w - m.r + 20, y - 3, '#555'));
    out.push(`<text x="${w - m.r + 31}" y="${y + 1}">N = ${n}</text>`);
  });
  const fy = m.t + 30 + (labels.length + ns.length) * 18;
  out.push(`<path d="M${w - m.r + 12} ${fy - 4} L${w - m.r + 28} ${fy - 4}" stroke="#444" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${w - m.r + 31}" y="${fy}">Pareto frontier</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
