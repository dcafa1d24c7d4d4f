import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinRegistry, discoverPolicies, PolicyRegistry } from '../src/plans/policies/registry.ts';
import { InvalidRequestError } from '../src/errors.ts';
import type { ModelInfo } from '../src/model/model-info.ts';
import type { PolicyContext } from '../src/plans/policies/policy.ts';

const info: ModelInfo = { id: 't', dir: '/nowhere', architecture: 'LlamaForCausalLM', numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 8, hiddenSize: 32, intermediateSize: 64, vocabSize: 300, maxPositions: 128, eosTokenIds: [1] };
const deps = { info, modelDir: '/nowhere', defaults: { k: 2 } };
const ctx = (over: Partial<PolicyContext> = {}): PolicyContext => ({ info, n: 4, seed: 10, promptTokens: [1, 2], promptText: 'hi', options: {}, embedPrompt: async () => new Float32Array(4), ...over });

test('none: n full plans', async () => {
  const r = await builtinRegistry(deps).get('none')!.choose(ctx());
  assert.equal(r.plans.length, 4);
  for (const p of r.plans) assert.deepEqual(p, { skipAttention: [], skipMlp: [], maskHeads: {} });
});

test('random-heads: k heads each, distinct, seeded, at least one head kept per layer', async () => {
  const p = builtinRegistry(deps).get('random-heads')!;
  const a = await p.choose(ctx({ options: { k: 3 } }));
  const b = await p.choose(ctx({ options: { k: 3 } }));
  const c = await p.choose(ctx({ options: { k: 3 }, seed: 11 }));
  assert.deepEqual(a.plans, b.plans, 'same seed, same plans');
  assert.notDeepEqual(a.plans, c.plans);
  assert.equal(new Set(a.plans.map((x) => JSON.stringify(x.maskHeads))).size, 4);
  for (const plan of a.plans) {
    assert.equal(Object.values(plan.maskHeads).flat().length, 3);
    for (const heads of Object.values(plan.maskHeads)) assert.ok(heads.length < info.numHeads);
  }
  assert.equal(Object.values((await p.choose(ctx({ n: 1 }))).plans[0]!.maskHeads).flat().length, 2, 'server default k');
  await assert.rejects(p.choose(ctx({ options: { k: 10 } })), (e: InvalidRequestError) => e.param === 'skip.k');
});

test('explicit: one plan for all or exactly n plans', async () => {
  const p = builtinRegistry(deps).get('explicit')!;
  const plan = { skipAttention: [1], skipMlp: [], maskHeads: {} };
  assert.equal((await p.choose(ctx({ options: { plan } }))).plans.length, 4);
  await assert.rejects(p.choose(ctx({ options: { plans: [plan] } })), (e: InvalidRequestError) => e.param === 'skip.plans');
  await assert.rejects(p.choose(ctx()), (e: InvalidRequestError) => e.param === 'skip.plan');
});

test('registry: duplicates refused; plug-in modules in the folder are discovered', async () => {
  const reg = new PolicyRegistry();
  const none = builtinRegistry(deps).get('none')!;
  reg.register(none);
  assert.throws(() => reg.register(none), /twice/);
  const full = builtinRegistry(deps);
  const failures: string[] = [];
  await discoverPolicies(full, deps, (file) => failures.push(file));
  assert.deepEqual(failures, []);
  assert.ok(full.names().length > 3, `plug-ins found: ${full.names().join(', ')}`);
  for (const p of full.list()) assert.equal(typeof p.unavailableReason(), p.unavailableReason() === null ? 'object' : 'string');
});
