import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runEval, runsByCore, type EvalConfig } from '../router/eval.ts';
import { planToWire } from '../src/plans/plan.ts';
import { measureEndToEnd, median } from '../router/eval-speed.ts';
import { generatedProblems } from '../router/problems.ts';
import { openLocalEngine, type LocalEngine } from '../src/engine/local-engine.ts';
import { makeCheckpoint } from '../testkit/make-checkpoint.ts';

let dir: string;
let local: LocalEngine;

before(async () => {
  dir = makeCheckpoint({ layers: 3, heads: 4, kvHeads: 2, hidden: 32, maxPositions: 512, seed: 6 });
  local = await openLocalEngine({ modelDir: dir, threads: 1, maxBatch: 8, maxQueue: 1000, measureSpeedup: true });
});
after(async () => {
  await local.close();
});

const configs: EvalConfig[] = [
  { label: 'vanilla', skip: { policy: 'none' }, ns: [2, 4] },
  { label: 'random-heads k=1', skip: { policy: 'random-heads', k: 1 }, ns: [2, 4] },
];
const settings = { seed: 1, temperature: 0.8, topP: 1, maxTokens: 6 };

test('evaluation: one row per policy and N with 95% intervals; an interrupted run resumes', async () => {
  const problems = generatedProblems('test', 3, 3);
  const path = join(dir, 'router', 'eval-records.jsonl');
  const header = { model: 'x', count: 3 };
  let asked = 0;
  const rows = await runEval(local, problems, configs, settings, { onProblem: () => asked++ }, { path, header });
  assert.equal(asked, 3 * 4);
  assert.deepEqual(rows.map((r) => `${r.label}@${r.n}`), ['vanilla@4', 'vanilla@2', 'random-heads k=1@4', 'random-heads k=1@2']);
  for (const r of rows) {
    assert.equal(r.problems, 3);
    assert.equal(r.majBits.length, 3);
    assert.ok(r.maj.lo <= r.maj.p + 1e-12 && r.maj.p <= r.maj.hi + 1e-12 && r.pass.p >= r.maj.p);
    assert.ok(r.planDistance >= 0 && r.uniqueAnswers >= 0);
  }
  assert.ok(rows.filter((r) => r.label === 'vanilla').every((r) => r.planDistance === 0 && r.skippedCompute === 0));
  assert.ok(rows.filter((r) => r.label !== 'vanilla').every((r) => r.planDistance > 0));
  // Resume: nothing is asked again, the rows are the same; a new N only runs what is missing.
  asked = 0;
  assert.deepEqual(await runEval(local, problems, configs, settings, { onProblem: () => asked++ }, { path, header }), rows);
  assert.equal(asked, 0);
  await runEval(local, problems, [{ ...configs[0]!, ns: [2, 3] }], settings, { onProblem: () => asked++ }, { path, header });
  assert.equal(asked, 3);
  assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 1 + 15);
  await assert.rejects(runEval(local, problems, configs, { ...settings, seed: 2 }, {}, { path, header: { ...header, seed: 2 } }), /other settings/);
});

test('evaluation with prefixes: one request at the largest N scores every N, as separate requests would', async () => {
  const problems = generatedProblems('test', 5, 3);
  const path = join(dir, 'router', 'eval-prefix-records.jsonl');
  const header = { model: 'x', count: 3, prefixes: true };
  const separate = await runEval(local, problems, configs, settings);
  let asked = 0;
  const prefixed = await runEval(local, problems, configs.map((c) => ({ ...c, prefixes: true })), settings, { onProblem: () => asked++ }, { path, header });
  assert.equal(asked, 2 * 3, 'one request per problem and configuration');
  const strip = (r: (typeof separate)[number]) => ({ label: r.label, n: r.n, maj: r.majBits, pass: r.pass.k, unique: r.uniqueAnswers, planDistance: r.planDistance, distinct2: r.distinct2 });
  assert.deepEqual(prefixed.map(strip), separate.map(strip));
  // A versioned configuration (the learned policy's selector) reruns only its own stale results.
  const versioned = configs.map((c, j) => ({ ...c, prefixes: true, version: j === 1 ? 'selector-b' : undefined }));
  asked = 0;
  await runEval(local, problems, versioned, settings, { onProblem: () => asked++ }, { path, header });
  assert.equal(asked, 3);
  asked = 0;
  await runEval(local, problems, versioned, settings, { onProblem: () => asked++ }, { path, header });
  assert.equal(asked, 0);
});

test('evaluation by shared core: N with the same skip core run as one request, as separate requests would', async () => {
  const problems = generatedProblems('test', 9, 3);
  const core = { policy: 'explicit' as const, plan: planToWire({ skipAttention: [1], skipMlp: [2], maskHeads: {} }) };
  const cfg: EvalConfig = { label: 'core', skip: core, ns: [2, 3, 4] };
  const separate = await runEval(local, problems, [cfg], settings);
  assert.deepEqual(await runsByCore([2, 3, 4], async (n) => (n >= 3 ? 'a' : 'b')), [{ n: 4, scores: [4, 3] }, { n: 2, scores: [2] }]);
  let asked = 0;
  const grouped = await runEval(local, problems, [{ ...cfg, sharedCore: async (n) => (n >= 3 ? 'a' : 'b') }], settings, { onProblem: () => asked++ });
  assert.equal(asked, 2 * 3, 'one request per core group and problem');
  const strip = (r: (typeof separate)[number]) => ({ label: r.label, n: r.n, maj: r.majBits, pass: r.pass.k, unique: r.uniqueAnswers, distinct2: r.distinct2, skipped: r.skippedCompute });
  assert.deepEqual(grouped.map(strip), separate.map(strip));
});

test('end-to-end speed alternates the same request on the full model and reports both figures', async () => {
  const problems = generatedProblems('test', 4, 2);
  const core: EvalConfig = { label: 'core', skip: { policy: 'explicit', plan: { skip_mlp: [1, 2] } }, ns: [4] };
  const e = await measureEndToEnd(local, problems, core, 4, { seed: 1, temperature: 0.8, maxTokens: 8, rounds: 2 });
  assert.equal(e.pairs, 4);
  assert.ok(e.speedup > 0 && e.policyMs > 0 && e.fullMs > 0);
  assert.ok(e.reported !== null && e.reported > 0, 'the engine measured the core with dense probes');
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});
