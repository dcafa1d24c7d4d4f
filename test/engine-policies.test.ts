import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyRegistry, POLICIES, PolicyRegistry } from '../src/plans/policies/registry.ts';
import { InvalidRequestError } from '../src/errors.ts';
import type { ModelInfo } from '../src/model/model-info.ts';
import type { PolicyContext } from '../src/plans/policies/policy.ts';
import { SUB_NETWORK_FRACTION, subNetworkPlans } from '../src/plans/policies/sub-networks.ts';
import { planCost } from '../src/plans/cost.ts';

const info: ModelInfo = { id: 't', dir: '/nowhere', architecture: 'LlamaForCausalLM', numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 8, hiddenSize: 32, intermediateSize: 64, vocabSize: 300, maxPositions: 128, eosTokenIds: [1] };
const deps = { info, modelDir: '/nowhere', defaults: { k: 2, targetSpeedup: 1.25 } };
const registry = () => createPolicyRegistry(deps);
const ctx = (over: Partial<PolicyContext> = {}): PolicyContext => ({ info, n: 4, seed: 10, promptTokens: [1, 2], promptText: 'hi', options: {}, embedPrompt: async () => new Float32Array(4), ...over });

test('none: n full plans', async () => {
  const r = await (await registry()).get('none')!.choose(ctx());
  assert.equal(r.plans.length, 4);
  for (const p of r.plans) assert.deepEqual(p, { skipAttention: [], skipMlp: [], maskHeads: {} });
});

test('random-heads: k heads each, distinct, seeded, at least one head kept per layer', async () => {
  const p = (await registry()).get('random-heads')!;
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
  await assert.rejects(p.choose(ctx({ options: { k: 10 } })), (e: InvalidRequestError) => e.field === 'k');
});

test('sub-networks: the full model first, then the fixed seeded list, the same for every request', async () => {
  const p = (await registry()).get('sub-networks')!;
  const big: ModelInfo = { ...info, numLayers: 16, numHeads: 8, hiddenSize: 160, headDim: 20, intermediateSize: 384 };
  const a = await p.choose(ctx({ info: big, n: 8 }));
  const b = await p.choose(ctx({ info: big, n: 4, seed: 99, promptText: 'another prompt' }));
  assert.deepEqual(a.plans[0], { skipAttention: [], skipMlp: [], maskHeads: {} });
  assert.equal(p.defaultSelect, 'weighted', 'its requests pick by the weighted vote unless they say otherwise');
  assert.deepEqual(a.plans, subNetworkPlans(big, 8), 'the list router vote-rules measures');
  assert.deepEqual(b.plans, a.plans.slice(0, 4), 'whatever the seed and prompt, candidate i gets sub-network i');
  assert.equal(new Set(a.plans.map((x) => JSON.stringify(x))).size, 8, 'distinct sub-networks');
  for (const plan of a.plans.slice(1)) {
    assert.ok(!plan.skipAttention.includes(0) && !plan.skipMlp.includes(0), 'layer 0 kept');
    assert.ok(Math.abs(planCost(plan, big).sublayerFraction - SUB_NETWORK_FRACTION) < 0.03);
  }
  const one = await (await registry()).get('sub-networks')!.choose(ctx({ info: { ...info, numLayers: 1 }, n: 2 }));
  assert.deepEqual(one.plans, [{ skipAttention: [], skipMlp: [], maskHeads: {} }, { skipAttention: [], skipMlp: [], maskHeads: {} }], 'a one-layer model has no sub-networks');
});

test('explicit: one plan for all or exactly n plans', async () => {
  const p = (await registry()).get('explicit')!;
  const plan = { skip_attention: [1] };
  const r = await p.choose(ctx({ options: { plan } }));
  assert.equal(r.plans.length, 4);
  assert.deepEqual(r.plans[0], { skipAttention: [1], skipMlp: [], maskHeads: {} });
  await assert.rejects(p.choose(ctx({ options: { plans: [plan, plan, { skip_mlp: [7] }, plan] } })), (e: InvalidRequestError) => e.field === 'plans[2].skip_mlp[0]' && /out of range: model has 3 layers/.test(e.message));
  await assert.rejects(p.choose(ctx({ options: { plans: [plan] } })), (e: InvalidRequestError) => e.field === 'plans');
  await assert.rejects(p.choose(ctx()), (e: InvalidRequestError) => e.field === 'plan');
});

test('registry: the static list, duplicates refused, every policy reports its availability', async () => {
  const reg = new PolicyRegistry();
  const full = await registry();
  const none = full.get('none')!;
  reg.register(none);
  assert.throws(() => reg.register(none), /twice/);
  assert.deepEqual(full.names(), POLICIES.map((p) => p.name));
  for (const p of full.list()) assert.equal(typeof p.unavailableReason(), p.unavailableReason() === null ? 'object' : 'string');
});
