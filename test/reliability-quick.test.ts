// The reliability harness in its CI size (`npm run reliability -- --quick`, run programmatically):
// every part runs against the real server started from the CLI on loopback, and the safety figures
// (server crashes, 5xx / INTERNAL answers, hangs) are zero. Gaps of the current server that the
// harness finds are listed in KNOWN_GAPS: they run as `todo` tests, so they stay visible in the
// output without failing CI; remove an entry once its fix lands.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PARTS, runReliability } from '../load-tests/reliability/main.ts';
import { table, type Report } from '../load-tests/reliability/report.ts';

/** part: figure -> where the fix goes (see docs-draft/reliability.md). */
const KNOWN_GAPS: Record<string, string> = {};

let report: Report;
const dir = mkdtempSync(join(tmpdir(), 'skipserve-reliability-'));

before(async () => {
  const out = join(dir, 'reliability.json');
  report = await runReliability({ quick: true, parts: [...PARTS], model: 'models/default', seed: 42, out, log: () => {} });
  console.log(table(report.rows));
  assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).rows.length, report.rows.length);
  rmSync(dir, { recursive: true, force: true });
});

describe('reliability harness (quick)', () => {
  it('every part ran and reported figures', () => {
    for (const p of PARTS) assert.ok(report.rows.some((r) => r.part === p), `no figures from ${p}`);
    assert.ok(report.rows.find((r) => r.part === 'fuzz-http' && r.figure === 'requests sent')?.pass, 'the HTTP fuzz sent every case');
    assert.ok(report.rows.find((r) => r.part === 'disconnect-storm' && r.figure === 'clients that vanished')?.pass, 'the storm ran every client');
  });

  for (const p of PARTS) {
    it(`${p}: zero crashes, zero 5xx, zero hangs`, (t) => {
      const rows = report.rows.filter((r) => r.part === p && r.safety);
      assert.ok(rows.length > 0);
      const gaps: string[] = [];
      for (const r of rows) {
        const gap = Object.entries(KNOWN_GAPS).find(([k]) => `${r.part}: ${r.figure}`.startsWith(k))?.[1];
        if (gap && !r.pass) gaps.push(`${r.figure} = ${r.value}: ${gap}`);
        else assert.equal(r.value, '0', `${r.part}: ${r.figure}`);
      }
      // Only after every other figure passed: a known gap turns the test into a visible todo.
      if (gaps.length) t.todo(`known gap(s): ${gaps.join('; ')}`);
    });
  }

  it('the drain finishes in-flight work and exits 0', () => {
    const drain = report.rows.filter((r) => r.part === 'drain');
    for (const f of ['in-flight requests finished with every token', 'exit code']) assert.equal(drain.find((r) => r.figure === f)?.pass, true, f);
  });
});
