/**
 * Writers of the evaluation results: a markdown table (one row per policy and N) and an SVG
 * scatter plot of majority-vote accuracy against measured speedup. No plotting dependency.
 */

/** One evaluated configuration: a policy (with its setting) at one N. */
export interface EvalRow {
  /** Display name, e.g. "latency-budget 1.25x". */
  label: string;
  policy: string;
  n: number;
  problems: number;
  /** Majority-vote accuracy (fraction). */
  majAtN: number;
  /** Any-candidate-correct accuracy (fraction). */
  passAtN: number;
  /** Mean number of distinct extracted answers among the N. */
  uniqueAnswers: number;
  /** Mean Shannon entropy (bits) of the answers. */
  answerEntropy: number;
  distinct2: number;
  /** Dense decode-step time / this configuration's decode-step time, both measured, same batch shape. */
  speedup: number;
  /** Fraction of per-token matmul FLOPs removed by the shared skip core (0 for masks only). */
  skippedCompute: number;
}

const pct = (x: number): string => (100 * x).toFixed(1);

/** Markdown table of the rows, grouped by N. */
export function evalTable(rows: readonly EvalRow[]): string {
  const head = '| N | policy | maj@N % | pass@N % | unique answers | answer entropy (bits) | distinct-2 | measured speedup | skipped compute % |';
  const sep = '|---:|---|---:|---:|---:|---:|---:|---:|---:|';
  const sorted = [...rows].sort((a, b) => a.n - b.n);
  const lines = sorted.map(
    (r) =>
      `| ${r.n} | ${r.label} | ${pct(r.majAtN)} | ${pct(r.passAtN)} | ${r.uniqueAnswers.toFixed(2)} | ${r.answerEntropy.toFixed(2)} | ${r.distinct2.toFixed(3)} | ${r.speedup.toFixed(2)}x | ${pct(r.skippedCompute)} |`,
  );
  return [head, sep, ...lines].join('\n') + '\n';
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** SVG plot: x = measured speedup, y = maj@N %, one point per row; colour = policy, marker = N. */
export function evalPlot(rows: readonly EvalRow[], title = 'maj@N accuracy against measured speedup'): string {
  const w = 760;
  const h = 460;
  const m = { l: 60, r: 220, t: 40, b: 50 };
  const xs = rows.map((r) => r.speedup);
  const ys = rows.map((r) => 100 * r.majAtN);
  const xMin = Math.min(0.9, ...xs) - 0.05;
  const xMax = Math.max(1.2, ...xs) + 0.05;
  const yMin = Math.max(0, Math.floor((Math.min(...ys, 100) - 5) / 10) * 10);
  const yMax = Math.min(100, Math.ceil((Math.max(...ys, 0) + 5) / 10) * 10);
  const px = (x: number): number => m.l + ((x - xMin) / (xMax - xMin)) * (w - m.l - m.r);
  const py = (y: number): number => h - m.b - ((y - yMin) / Math.max(yMax - yMin, 1)) * (h - m.t - m.b);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${w}" height="${h}" fill="white"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="15">${esc(title)}</text>`);
  for (let y = yMin; y <= yMax; y += 10) {
    out.push(`<line x1="${m.l}" x2="${w - m.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 8}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  const step = xMax - xMin > 1.5 ? 0.5 : 0.1;
  for (let x = Math.ceil(xMin / step) * step; x <= xMax + 1e-9; x += step) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${m.t}" y2="${h - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${h - m.b + 16}" text-anchor="middle">${x.toFixed(1)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${w - m.l - m.r}" height="${h - m.t - m.b}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(m.l + w - m.r) / 2}" y="${h - 12}" text-anchor="middle">measured speedup (dense step time / plan step time)</text>`);
  out.push(`<text transform="translate(16 ${(m.t + h - m.b) / 2}) rotate(-90)" text-anchor="middle">maj@N accuracy (%)</text>`);
  const labels = [...new Set(rows.map((r) => r.label))];
  const ns = [...new Set(rows.map((r) => r.n))].sort((a, b) => a - b);
  const marker = (n: number, x: number, y: number, colour: string): string => {
    const k = ns.indexOf(n);
    if (k === 0) return `<circle cx="${x}" cy="${y}" r="5" fill="${colour}"/>`;
    if (k === 1) return `<rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${colour}"/>`;
    return `<path d="M${x} ${y - 6} L${x + 6} ${y + 5} L${x - 6} ${y + 5} Z" fill="${colour}"/>`;
  };
  rows.forEach((r) => {
    const colour = COLOURS[labels.indexOf(r.label) % COLOURS.length]!;
    out.push(`<g><title>${esc(`${r.label}, N=${r.n}: maj ${pct(r.majAtN)}%, ${r.speedup.toFixed(2)}x`)}</title>${marker(r.n, px(r.speedup), py(100 * r.majAtN), colour)}</g>`);
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
  out.push('</svg>');
  return out.join('\n') + '\n';
}
