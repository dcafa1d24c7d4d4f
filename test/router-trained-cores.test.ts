/**
 * Skip cores a model declares it was trained for (skip_cores.json): latency-budget and learned fast
 * mode take the smallest that reaches the target; the calibrated search only when none does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLatencyBudgetPolicy } from '../src/plans/policies/latency-budget.ts';
import { createLearnedPolicy } from '../src/plans/policies/learned.ts';
import { loadRouterResources } from '../src/router/resources.ts';
import { sublayerKey, type LatencyTable } from '../src/router/skip-core-search.ts';
import { readTrainedCores, trainedCoreFor, TRAINED_CORES_FILE } from '../src/router/trained-cores.ts';
import { axis, info, profile, routerDir } from './helpers/router-fixture.ts';

function modelDir(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'trained-cores-'));
  writeFileSync(join(dir, TRAINED_CORES_FILE), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

const cores = { version: 1, cores: [{ name: 'faster', skip_attention: [3, 1], skip_mlp: [2, 3] }, { name: 'fast', skip_attention: [3], skip_mlp: [] }] };

test('skip_cores.json is read and checked, errors name the file and the field', () => {
  const got = readTrainedCores(modelDir(cores), 4);
  assert.deepEqual(got.map((c) => [c.name, c.core.map(sublayerKey)]), [
    ['faster', ['attention.1', 'attention.3', 'mlp.2', 'mlp.3']],
    ['fast', ['attention.3']],
  ]);
  assert.deepEqual(readTrainedCores(mkdtempSync(join(tmpdir(), 'no-cores-')), 4), [], 'no file: no trained cores');
  assert.throws(() => readTrainedCores(modelDir('{'), 4), /skip_cores\.json: not valid JSON/);
  assert.throws(() => readTrainedCores(modelDir({ version: 1, cores: [{ name: 'x', skip_attention: [4] }] }), 4), /cores\.0: layer 4 out of range \(the model has 4 layers\)/);
  assert.throws(() => readTrainedCores(modelDir({ version: 1, cores: [{ name: 'x' }] }), 4), /cores\.0: skips nothing/);
  assert.throws(() => readTrainedCores(modelDir({ version: 1, cores: [{ name: 'x', skip_attention: [1], heads: [] }] }), 4), /cores\.0: Unrecognized key/);
  assert.throws(() => readTrainedCores(modelDir({ version: 2, cores: [] }), 4), /skip_cores\.json: version:/);
});

test('the smallest trained core that reaches the target wins; none reaching it gives null', () => {
  const table: LatencyTable = { denseMs: 10, attentionMs: [1, 1, 1, 1], mlpMs: [1.5, 1.5, 1.5, 1.5] };
  const got = readTrainedCores(modelDir(cores), 4);
  assert.equal(trainedCoreFor(got, table, 1.1)!.name, 'fast'); // 10 / 9 = 1.11
  assert.equal(trainedCoreFor(got, table, 1.5)!.name, 'faster'); // 10 / 5 = 2
  assert.equal(trainedCoreFor(got, table, 2.5), null);
  assert.equal(trainedCoreFor([], table, 1.1), null);
});

test('latency-budget and learned fast mode serve the trained core, the calibrated search beyond it', async () => {
  const dir = routerDir(true);
  writeFileSync(join(dir, TRAINED_CORES_FILE), JSON.stringify(cores));
  const r = await loadRouterResources({ ...info, dir }, dir, { profile: profile() });
  assert.equal(r.trainedCores.length, 2);
  const lb = createLatencyBudgetPolicy(r);
  const ctx = (n: number, targetSpeedup: number) => ({ info, n, seed: 1, promptTokens: [5, 6], promptText: 'Q: x', options: { targetSpeedup }, embedPrompt: async () => Float32Array.from(axis(0)) });
  const fast = await lb.choose(ctx(2, 1.05));
  assert.equal(fast.detail!.trainedCore, 'fast');
  assert.deepEqual(fast.plans[0], { skipAttention: [3], skipMlp: [], maskHeads: {} });
  const beyond = await lb.choose(ctx(2, 7));
  assert.equal(beyond.detail!.trainedCore, undefined, 'no trained core reaches 7x: the calibrated search decides');
  const learned = await createLearnedPolicy(r).choose(ctx(2, 1.05));
  assert.equal(learned.detail!.trainedCore, 'fast');
  for (const p of learned.plans) assert.deepEqual([p.skipAttention, p.skipMlp], [[3], []]);
});
