import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evalPlot, evalTable, type EvalRow } from '../router/eval-report.ts';
import { formatDuration } from '../src/cli/progress.ts';

const row = (label: string, n: number, maj: number, speedup: number): EvalRow => ({
  label, policy: label.split(' ')[0]!, n, problems: 100, majAtN: maj, passAtN: Math.min(1, maj + 0.1),
  uniqueAnswers: 1.5, answerEntropy: 0.4, distinct2: 0.31, speedup, skippedCompute: speedup > 1 ? 0.2 : 0,
});

test('markdown table has one line per row, sorted by N, with percentages', () => {
  const rows = [row('vanilla', 8, 0.8, 1), row('greedy', 1, 0.7, 1), row('latency-budget 1.25x', 8, 0.785, 1.27)];
  const md = evalTable(rows).trim().split('\n');
  assert.equal(md.length, 2 + rows.length);
  assert.match(md[2]!, /^\| 1 \| greedy \| 70\.0 \| 80\.0 \|/);
  assert.match(md[4]!, /latency-budget 1\.25x \| 78\.5 \| .* \| 1\.27x \| 20\.0 \|$/);
});

test('SVG plot has a point per row, a legend per policy and escapes labels', () => {
  const rows = [row('vanilla', 1, 0.5, 1), row('vanilla', 8, 0.8, 1), row('a<b', 4, 0.6, 1.5)];
  const svg = evalPlot(rows);
  assert.ok(svg.startsWith('<svg'));
  assert.ok(svg.trim().endsWith('</svg>'));
  assert.equal((svg.match(/<g><title>/g) ?? []).length, 3);
  assert.ok(svg.includes('a&lt;b'));
  assert.ok(!svg.includes('a<b'));
  assert.ok(svg.includes('N = 8'));
});

test('durations format as m:ss and h:mm:ss', () => {
  assert.equal(formatDuration(65), '1:05');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(Infinity), '--:--');
});
