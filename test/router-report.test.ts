import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffTable, evalPlot, evalTable, pairedDiffs, paretoFrontier, type EvalRow } from '../router/eval-report.ts';
import { formatDuration } from '../src/cli/progress.ts';
import { wilson } from '../src/util/intervals.ts';

const row = (label: string, n: number, maj: number, speedup: number | null, bits?: string): EvalRow => ({
  label, policy: label.split(' ')[0]!, n, problems: 100, maj: wilson(Math.round(maj * 100), 100), pass: wilson(Math.min(100, Math.round(maj * 100) + 10), 100),
  majBits: bits ?? '1'.repeat(Math.round(maj * 100)) + '0'.repeat(100 - Math.round(maj * 100)),
  uniqueAnswers: 1.5, answerEntropy: 0.4, distinct2: 0.31, pairwiseDistance: 0.2, planDistance: 0.1,
  reportedSpeedup: speedup, measuredSpeedup: speedup, reportedSameRequests: speedup, skippedCompute: speedup !== null && speedup > 1 ? 0.2 : 0,
});

test('markdown table has one line per row, sorted by N, with 95% intervals', () => {
  const rows = [row('vanilla', 8, 0.8, 1), row('greedy', 1, 0.7, 1), row('latency-budget 1.25x', 8, 0.785, 1.27)];
  const md = evalTable(rows).trim().split('\n');
  assert.equal(md.length, 2 + rows.length);
  assert.match(md[2]!, /^\| 1 \| greedy \| 70\.0 \[60\.4, 78\.1\] \| 80\.0 \[/);
  assert.match(md[4]!, /latency-budget 1\.25x \| 79\.0 \[.*\| 1\.27x \| 1\.27x \| 1\.27x \| 20\.0 \|$/);
});

test('paired differences use the per-problem bits of the same N', () => {
  const a = row('vanilla', 8, 0.5, 1, '1100'.repeat(25));
  const b = row('learned', 8, 0.75, 1, '1110'.repeat(25));
  const c = row('learned', 4, 0.75, 1, '1110'.repeat(25));
  const diffs = pairedDiffs([a, b, c], [['vanilla', 'learned'], ['vanilla', 'missing']]);
  assert.equal(diffs.length, 1, 'only pairs present at the same N');
  assert.equal(diffs[0]!.n, 8);
  assert.ok(Math.abs(diffs[0]!.diff.diff - 0.25) < 1e-12);
  assert.ok(diffs[0]!.diff.lo > 0);
  assert.ok(diffTable(diffs).includes('| 8 | learned - vanilla | +25.0 [+16.5, +33.5] points | above 0 |'));
});

test('the Pareto frontier keeps the points nothing beats on both axes', () => {
  const rows = [row('vanilla', 8, 0.8, 1), row('a', 8, 0.7, 1.3), row('b', 8, 0.6, 1.2), row('c', 8, 0.85, 0.95), row('d', 8, 0.5, 1.6), row('e', 8, 0.9, null)];
  assert.deepEqual(paretoFrontier(rows).map((r) => r.label), ['c', 'vanilla', 'a', 'd']);
});

test('SVG plot has a point per measured row, a legend per policy, the frontier, and escapes labels', () => {
  const rows = [row('vanilla', 4, 0.5, 1), row('vanilla', 8, 0.8, 1), row('a<b', 16, 0.6, 1.5), row('x', 8, 0.6, null)];
  const svg = evalPlot(rows);
  assert.ok(svg.startsWith('<svg'));
  assert.ok(svg.trim().endsWith('</svg>'));
  assert.equal((svg.match(/<g><title>/g) ?? []).length, 3, 'rows without a measured speedup are left out');
  assert.ok(svg.includes('a&lt;b'));
  assert.ok(!svg.includes('a<b'));
  assert.ok(svg.includes('N = 16'));
  assert.ok(svg.includes('Pareto frontier'));
  assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, 2, 'frontier line and its legend');
});

test('durations format as m:ss and h:mm:ss', () => {
  assert.equal(formatDuration(65), '1:05');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(Infinity), '--:--');
});
