/**
 * Markdown table of driver JSON summaries, one row per scenario and arm (what load-tests/README.md
 * shows for the measured runs):
 *   node --import tsx load-tests/driver/report.ts load-tests/out/long-*.json
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ArmSummary, Summary } from './summary.ts';

const f = (v: number | null | undefined, d = 2) => (v === null || v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
const ms = (v: number | null) => (v === null ? '-' : (v * 1000).toFixed(0));

/** The markdown table for the given summaries. */
export function markdownReport(summaries: Summary[]): string {
  const head = '| scenario | arm | requests | req/s | errors | 5xx | p50 ms | p95 ms | p99 ms | p50 vs none | TTFT p50 ms | TTFT p95 ms | ITL p50 ms | ITL p95 ms | tokens/s | speedup | unique answers | entropy bits | accuracy |';
  const rows = [head, `|${'---|'.repeat(19)}`];
  const row = (s: Summary, a: ArmSummary) =>
    `| ${s.scenario} | ${a.arm} | ${a.requests} | ${f(a.requestsPerSecond)} | ${f(a.errorRate * 100, 1)}% | ${a.serverErrors} | ${ms(a.latency.p50)} | ${ms(a.latency.p95)} | ${ms(a.latency.p99)} | ${f(a.p50VsNone)} | ${ms(a.ttft.p50)} | ${ms(a.ttft.p95)} | ${ms(a.interTokenLatency.p50)} | ${ms(a.interTokenLatency.p95)} | ${f(a.tokensPerSecond, 1)} | ${f(a.meanSpeedup)} | ${f(a.meanUniqueAnswers)} | ${f(a.meanAnswerEntropy)} | ${f(a.accuracy)} |`;
  for (const s of summaries) {
    for (const a of s.arms) rows.push(row(s, a));
    if (s.arms.length > 1) rows.push(row(s, { ...s.total, arm: '**all**' }));
  }
  return rows.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const files = process.argv.slice(2);
  if (!files.length) {
    process.stderr.write('usage: report.ts SUMMARY.json...\n');
    process.exit(2);
  }
  process.stdout.write(`${markdownReport(files.map((p) => JSON.parse(readFileSync(p, 'utf8')) as Summary))}\n`);
}
