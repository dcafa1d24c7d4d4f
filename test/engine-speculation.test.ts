// The engine's side of speculative decoding, unit by unit (src/engine/speculation.ts): which
// requests speculate (greedy or sampled, on the full model or a shared skip core, head masks free
// per candidate), a core's draft (the draft's sublayers besides the core's), the
// group keys, and what the full model's draft costs against a core's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allFullPlans, coreOfSpeculativeGroup, CoreDrafts, cycleKind, draftOnCore, draftRatio, eligibleForSpeculation, FullModelCycles, speculativeGroupKey } from '../src/engine/speculation.ts';
import type { GenerationRequest } from '../src/engine/types.ts';
import { coreKey, FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';

const plan = (o: Partial<SkipPlan>): SkipPlan => ({ skipAttention: [], skipMlp: [], maskHeads: {}, ...o });
const request = (sampling: Partial<GenerationRequest['sampling']> = {}, more: Partial<GenerationRequest> = {}): GenerationRequest =>
  ({ sampling: { temperature: 0, topP: 1, topK: 0, ...sampling }, ...more }) as GenerationRequest;

test('which requests speculate: greedy or sampled (temperature, top-p, top-k), on the full model or a shared skip core, head masks per candidate', () => {
  const core = plan({ skipAttention: [2, 3], skipMlp: [2] });
  const masked = (l: number) => plan({ maskHeads: { [l]: [1] } });
  assert.ok(eligibleForSpeculation(request(), [FULL_PLAN, FULL_PLAN]));
  assert.ok(eligibleForSpeculation(request({ temperature: 0.7 }), [FULL_PLAN]));
  assert.ok(eligibleForSpeculation(request({ temperature: 0.7 }), [masked(0), masked(1)]), 'head masks alone keep the full model\'s core');
  assert.ok(eligibleForSpeculation(request(), [core, { ...core, maskHeads: { 5: [0] } }]), 'greedy candidates sharing a core');
  assert.ok(eligibleForSpeculation(request({ temperature: 0.7 }), [core, core]), 'sampled candidates sharing a core');
  assert.ok(!eligibleForSpeculation(request(), [core, plan({ skipMlp: [4] })]), 'candidates on different cores');
  assert.ok(eligibleForSpeculation(request({ temperature: 0.7, topP: 0.9, topK: 5 }), [FULL_PLAN]), 'top-p and top-k: under the distribution they cut');
  assert.ok(!eligibleForSpeculation(request({ temperature: 0.7, minP: 0.1 }), [FULL_PLAN]), 'min-p is a logit processor');
  assert.ok(!eligibleForSpeculation(request({ presencePenalty: 0.5 }), [FULL_PLAN]));
  assert.ok(!eligibleForSpeculation(request({}, { minTokens: 3 }), [FULL_PLAN]));
  assert.ok(!eligibleForSpeculation(request({}, { beam: { lengthPenalty: 1 } } as Partial<GenerationRequest>), [FULL_PLAN]));
});

test("a core's draft skips the draft's sublayers besides the core's, without head masks; group keys name the core", () => {
  const draft = plan({ skipAttention: [4, 5, 6], skipMlp: [4, 5, 6] });
  assert.deepEqual(draftOnCore(draft, plan({ skipAttention: [2, 5], skipMlp: [9], maskHeads: { 1: [0] } })), plan({ skipAttention: [2, 4, 5, 6], skipMlp: [4, 5, 6, 9] }));
  const key = coreKey(plan({ skipAttention: [2] }));
  assert.equal(coreOfSpeculativeGroup(speculativeGroupKey(key)), key);
  assert.equal(coreOfSpeculativeGroup(key), null);
});

test("the full model's draft against a core's: 1 when the core lies inside the draft's layers, else its FLOPs as far as the core's measured saving realises its own", () => {
  // MLP and attention of equal FLOPs per layer, no head: each sublayer is 1/8 of 4 layers.
  const shape = { numLayers: 4, numHeads: 2, numKvHeads: 2, headDim: 2, hiddenSize: 4, intermediateSize: 4, vocabSize: 1e-9 };
  const draft = plan({ skipAttention: [1, 2], skipMlp: [1, 2] }); // keeps 4 of 8 sublayers
  assert.equal(draftRatio(draft, plan({ skipAttention: [2], skipMlp: [1] }), shape, 1.3), 1, 'inside the draft');
  const core = plan({ skipAttention: [3], skipMlp: [3] }); // keeps 6 of 8: ideal 8/6; with it the draft keeps 2
  assert.ok(Math.abs(draftRatio(draft, core, shape, 8 / 6) - 2) < 1e-9, 'the ideal realised in full: 4 / 2 sublayers');
  assert.ok(Math.abs(draftRatio(draft, core, shape, 1 + (8 / 6 - 1) / 2) - 1.5) < 1e-9, 'half the ideal saving realised');
  assert.equal(draftRatio(draft, core, shape, 0.9), 1, 'a core measured slower saves nothing');
});

test("the full model's cycles per token: the median of its recent requests per kind (greedy; sampled by n and temperature); only unmasked full plans are its own", () => {
  const c = new FullModelCycles();
  assert.equal(c.perToken('greedy'), null);
  c.record('greedy', 4, 10, 40, 100);
  c.record('greedy', 4, 12, 40, 100);
  c.record('greedy', 4, 20, 40, 100);
  assert.equal(c.perToken('greedy'), 0.3);
  c.record('greedy', 4, 0, 40, 100);
  assert.equal(c.perToken('greedy'), 0.3, 'a request that never cycled is not a sample');
  for (let i = 0; i < 16; i++) c.record('greedy', 4, 4, 40, 100);
  assert.equal(c.perToken('greedy'), 0.1, 'the last 16');
  assert.equal(c.perToken('n8@0.7'), null);
  assert.equal(cycleKind(request()), 'greedy');
  assert.equal(cycleKind({ ...request({ temperature: 0.74 }), n: 8 }), 'n8@0.7');
  assert.ok(allFullPlans([FULL_PLAN, plan({})]));
  assert.ok(!allFullPlans([FULL_PLAN, plan({ maskHeads: { 0: [1] } })]));
  assert.ok(!allFullPlans([plan({ skipMlp: [2] })]));
});

test("the full model's decode time for a request's tokens: its own requests' time per token, per kind and n", () => {
  const c = new FullModelCycles();
  assert.equal(c.decodeMs('greedy', 4, 40), null);
  c.record('greedy', 4, 10, 40, 400); // 10 ms per token
  c.record('greedy', 4, 10, 20, 300); // 15
  c.record('greedy', 8, 10, 40, 800);
  assert.equal(c.decodeMs('greedy', 4, 10), 125, 'the median of 10 and 15 ms per token, times 10 tokens');
  assert.equal(c.decodeMs('greedy', 8, 10), 200, 'per n');
  assert.equal(c.decodeMs('greedy', 2, 10), null, 'an n never measured');
  assert.equal(c.decodeMs('n4@0.8', 4, 10), null, 'another kind never measured');
});

test("a core's speculative config is one object per core (the runner names plans by identity), the most recent cores kept", () => {
  const base = { draft: plan({ skipAttention: [4, 5], skipMlp: [4, 5] }), tokens: 3 };
  const cores = new CoreDrafts(base, 2);
  const a = plan({ skipAttention: [2] });
  const b = plan({ skipMlp: [3] });
  const c = plan({ skipMlp: [6] });
  const first = cores.config(coreKey(a), a);
  assert.deepEqual(first, { ...base, draft: draftOnCore(base.draft, a) });
  assert.equal(cores.config(coreKey(a), a), first, 'the same object on every cycle');
  assert.equal(cores.config(coreKey(a), { ...a, maskHeads: { 1: [0] } }), first, 'head masks share the core');
  const second = cores.config(coreKey(b), b);
  assert.equal(cores.config(coreKey(a), a), first, 'a used again: now the most recent');
  cores.config(coreKey(c), c);
  assert.equal(cores.config(coreKey(a), a), first, 'kept: b was the least recent');
  assert.notEqual(cores.config(coreKey(b), b), second, 'b dropped and made anew');
});
