// The calibrated sub-network ensemble: choosing it from calibration records, reading its file, the
// `ensemble` policy, the `router ensemble` CLI on the default model's committed records, and the
// policy end to end through the real server with the openai client.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { buildEnsemble, type EnsembleSource } from '../router/ensemble-build.ts';
import { runEnsemble } from '../router/cli-ensemble.ts';
import type { PromptRecord } from '../router/calibrate.ts';
import { InvalidRequestError } from '../src/errors.ts';
import { planKey, planToWire, skipCore } from '../src/plans/plan.ts';
import { createEnsemblePolicy } from '../src/plans/policies/ensemble.ts';
import { createLatencyBudgetPolicy } from '../src/plans/policies/latency-budget.ts';
import type { PolicyContext, PolicyOptions } from '../src/plans/policies/policy.ts';
import { onCore } from '../src/plans/policies/sub-networks.ts';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import type { PlanCatalog } from '../src/router/catalog.ts';
import { readEnsemble, type EnsembleFile } from '../src/router/ensemble.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';
import { loadRouterResources } from '../src/router/resources.ts';
import { selectorFiles } from '../src/store/model-hash.ts';
import { info, profile, routerDir } from './helpers/router-fixture.ts';
import { copyDefaultModel } from './helpers/default-model-copy.ts';
import { startTestServer, testCheckpoint } from './helpers/start-server.ts';

const catalog: PlanCatalog = {
  version: 1,
  numLayers: 4,
  numHeads: 4,
  entries: [
    { id: 'full', kind: 'full', heads: [] },
    { id: 'a1+m2', kind: 'sublayer', heads: [], skipAttention: [1], skipMlp: [2] },
    { id: 'a2+a3', kind: 'sublayer', heads: [], skipAttention: [2, 3] },
    { id: 'h1.2', kind: 'single', heads: [[1, 2]] },
  ],
};
const src = (o: Partial<EnsembleSource> = {}): EnsembleSource => ({ catalogIds: catalog.entries.map((e) => e.id), samplesPerPlan: 1, temperature: 0, weights: 'w', recordsPath: 'r.jsonl', catalogPath: 'c.json', ...o });
const record = (id: string, correct: number[] | null): PromptRecord => ({ id, embedding: '', correct, fullCorrect: null, tf: null, seconds: 0 });

test('buildEnsemble: the plans right most often on their own, best first, ties to the earlier entry; wrong catalog and size are refused', () => {
  const records = [record('q1', [1, 1, 0, 1]), record('q2', [0, 1, 1, 0]), record('q3', [1, 1, 0, 1]), record('q4', null)];
  const f = buildEnsemble(records, catalog, src(), 3);
  assert.deepEqual(f.plans.map((p) => p.id), ['a1+m2', 'full', 'h1.2'], 'a1+m2 3/3; full and h1.2 2/3 (full earlier); a2+a3 1/3');
  assert.deepEqual(f.plans.map((p) => p.accuracy), [1, 0.6667, 0.6667]);
  assert.deepEqual(f.plans[0]!.plan, { skip_attention: [1], skip_mlp: [2] });
  assert.deepEqual(f.plans[2]!.plan, { mask_heads: { 1: [2] } });
  assert.match(f.chosenBy, /3 of 4 catalog plans .* over 3 calibration questions \(greedy answers\)/);
  assert.throws(() => buildEnsemble(records, catalog, src({ catalogIds: ['full', 'a2+a3', 'a1+m2', 'h1.2'] }), 2), /another catalog/);
  assert.throws(() => buildEnsemble(records, catalog, src(), 5), /--size must be an integer in \[1, 4\]/);
  assert.throws(() => buildEnsemble([record('q4', null)], catalog, src(), 2), /no calibration record/);
});

function ensembleFile(o: Partial<EnsembleFile> = {}): EnsembleFile {
  return {
    version: 1, numLayers: 4, numHeads: 4, weights: 'w', chosenBy: 'test',
    plans: [
      { id: 'a1+m2', accuracy: 0.7, plan: { skip_attention: [1], skip_mlp: [2] } },
      { id: 'full', accuracy: 0.6, plan: {} },
      { id: 'a2+a3', accuracy: 0.5, plan: { skip_attention: [3, 2] } },
    ],
    ...o,
  };
}

function ctx(n: number, options: PolicyOptions = {}): PolicyContext {
  return { info, n, seed: 1, promptTokens: [3, 4, 5], promptText: 'Q: x', options, embedPrompt: async () => new Float32Array(16) };
}

test('the ensemble policy: candidate i takes plan i; n beyond the list names n; fast mode puts every plan on the latency-budget core', async () => {
  const dir = routerDir(false);
  writeJsonAtomic(routerPaths(dir).ensemble, ensembleFile());
  assert.ok(selectorFiles(dir).includes('router/ensemble.json'), 'a selector version carries the ensemble with the other router files');
  const r = await loadRouterResources(info, dir, { profile: profile() });
  const pol = createEnsemblePolicy(r);
  assert.equal(pol.unavailableReason(), null);
  assert.equal(pol.defaultSelect, 'weighted');
  const two = await pol.choose(ctx(2));
  assert.deepEqual(two.plans, [{ skipAttention: [1], skipMlp: [2], maskHeads: {} }, { skipAttention: [], skipMlp: [], maskHeads: {} }]);
  assert.deepEqual(two.detail, { ensembleIds: ['a1+m2', 'full'] });
  assert.deepEqual((await pol.choose(ctx(3))).plans[2], { skipAttention: [2, 3], skipMlp: [], maskHeads: {} }, 'normalised (sorted)');
  await assert.rejects(pol.choose(ctx(4)), (e: unknown) => e instanceof InvalidRequestError && e.field === 'n' && /at most 3/.test(e.message));
  const core = (await createLatencyBudgetPolicy(r).choose(ctx(3, { targetSpeedup: 1.25 }))).plans[0]!;
  const fast = await pol.choose(ctx(3, { targetSpeedup: 1.25 }));
  assert.deepEqual(fast.plans, onCore((await pol.choose(ctx(3))).plans, core));
  assert.equal(planKey(skipCore(fast.plans)), planKey(core), 'the batch shares the core');
  assert.equal(fast.detail?.targetSpeedup, 1.25);
});

test('ensemble.json: missing, another shape or other weights make the policy unavailable with the reason; a bad plan names its field', async () => {
  const dir = routerDir(false);
  const path = routerPaths(dir).ensemble;
  const reason = async () => createEnsemblePolicy(await loadRouterResources(info, dir)).unavailableReason();
  assert.match((await reason())!, /ensemble\.json not found \(run: npx skipserve router ensemble/);
  writeJsonAtomic(path, ensembleFile({ numLayers: 6 }));
  assert.match((await reason())!, /is for 6 layers x 4 heads, the model has 4 x 4/);
  writeJsonAtomic(path, ensembleFile({ plans: [{ id: 'x', accuracy: 0.5, plan: { skip_mlp: [9] } }] }));
  assert.match((await reason())!, /plans\.0\.plan\.skip_mlp\[0\]: .*out of range/);
  writeFileSync(path, '{"version": 1');
  assert.match((await reason())!, /not valid JSON/);
  // Weights: checked against the checkpoint's fingerprint when the model directory exists.
  const ckpt = testCheckpoint({ seed: 31 });
  const real = { ...info, dir: ckpt };
  writeJsonAtomic(path, ensembleFile({ weights: 'another' }));
  assert.match(readEnsemble(path, real).missing!, /measured on weights another, the model's are [0-9a-f]{16}/);
  writeJsonAtomic(path, ensembleFile({ weights: modelFingerprint(ckpt) }));
  assert.equal(readEnsemble(path, real).missing, null);
});

test('router ensemble on the default model and its committed sub-network calibration: the 8 best are the calibrated static 8 of the README', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ensemble-cli-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const model = copyDefaultModel(tmp);
  const cards = 'models/train/cards/router-sub-networks-catalog';
  await runEnsemble(['--model', model, '--records', join(cards, 'calibration-records.jsonl'), '--catalog', join(cards, 'catalog.json'), '--size', '8']);
  const f = JSON.parse(readFileSync(routerPaths(model).ensemble, 'utf8')) as EnsembleFile;
  const ids = (JSON.parse(readFileSync(join(cards, 'catalog.json'), 'utf8')) as PlanCatalog).entries.map((e) => e.id);
  assert.deepEqual(f.plans.map((p) => ids.indexOf(p.id)), [1, 0, 3, 5, 21, 19, 15, 7]);
  assert.equal(f.weights, modelFingerprint(model));
  assert.equal(readEnsemble(routerPaths(model).ensemble, { ...info, numLayers: 16, numHeads: 8, dir: model }).missing, null);
  await assert.rejects(runEnsemble(['--model', model, '--records', join(cards, 'calibration-records.jsonl'), '--size', '8']), /another catalog/, 'the records and the model\'s own catalog differ');
  await assert.rejects(runEnsemble(['--model', model, '--records', join(cards, 'calibration-records.jsonl'), '--catalog', join(cards, 'catalog.json'), '--size', '0']), /--size must be an integer >= 1/);
});

test('end to end: the ensemble policy through the server with the openai client; n beyond the list is a 400 naming n', async () => {
  const ckpt = testCheckpoint({ seed: 32 });
  const model = mkdtempSync(join(tmpdir(), 'ensemble-e2e-'));
  after(() => rmSync(model, { recursive: true, force: true }));
  cpSync(ckpt, model, { recursive: true });
  writeJsonAtomic(routerPaths(model).ensemble, {
    version: 1, numLayers: 2, numHeads: 4, weights: modelFingerprint(model), chosenBy: 'test',
    plans: [{ id: 'full', accuracy: 0.5, plan: {} }, { id: 'm1', accuracy: 0.4, plan: { skip_mlp: [1] } }, { id: 'h1.0', accuracy: 0.3, plan: { mask_heads: { 1: [0] } } }],
  });
  const server = await startTestServer({ model });
  try {
    const client = new OpenAI({ baseURL: `${server.http}/v1`, apiKey: 'x', maxRetries: 0 });
    const body = { model: server.ctx.model.info.id, messages: [{ role: 'user' as const, content: 'What is 2+3?' }], max_tokens: 5, n: 3, temperature: 0, skip: { policy: 'ensemble' } };
    const r = (await client.chat.completions.create(body as never)) as unknown as OpenAI.ChatCompletion & { skip: { policy: string; policy_detail: { ensembleIds: string[] } } };
    assert.equal(r.skip.policy, 'ensemble');
    assert.deepEqual(r.skip.policy_detail.ensembleIds, ['full', 'm1', 'h1.0']);
    assert.deepEqual(r.choices.map((c) => (c as unknown as { skip_plan: unknown }).skip_plan), [{}, { skip_mlp: [1] }, planToWire({ skipAttention: [], skipMlp: [], maskHeads: { 1: [0] } })]);
    const models = (await (await fetch(`${server.http}/v1/models`)).json()) as { data: { skip_policies: { name: string; available: boolean }[] }[] };
    assert.equal(models.data[0]!.skip_policies.find((p) => p.name === 'ensemble')?.available, true);
    await assert.rejects(client.chat.completions.create({ ...body, n: 4 } as never), (e: unknown) => e instanceof OpenAI.BadRequestError && (e.error as { param?: string }).param === 'n' && /at most 3/.test(e.message));
  } finally {
    await server.close();
  }
});
