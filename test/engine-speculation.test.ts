// The engine's side of speculative decoding, unit by unit (src/engine/speculation.ts): which
// requests speculate (greedy or sampled, on the full model or a shared skip core, head masks free
// per candidate), a core's draft (the draft's sublayers besides the core's), the
// group keys, and the plain-step clock a speculating request's speedup is measured against.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AroundClock, coreOfSpeculativeGroup, draftOnCore, eligibleForSpeculation, PlainStepClock, speculativeGroupKey } from '../src/engine/speculation.ts';
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

test('the plain-step clock: three plain turns at a new batch size, then one in 16; the median of its steps, else the dense run and the time around a step', () => {
  const around = new AroundClock(() => 9);
  const clock = new PlainStepClock(around);
  assert.equal(clock.measured(), false);
  assert.equal(clock.stepMs(8, () => 5), 5 + 9, 'nothing measured: the dense run and the fallback around');
  around.record(8, 1);
  around.record(8, 3);
  assert.equal(clock.stepMs(8, () => 5), 5 + 2, 'the median around of plain steps at the nearest batch size');
  const due = Array.from({ length: 40 }, () => {
    const d = clock.due(8);
    if (d) clock.record(8, 6);
    return d;
  });
  assert.deepEqual(due.flatMap((d, i) => (d ? [i + 1] : [])), [1, 2, 3, 16, 32]);
  clock.record(8, 10);
  clock.record(8, 12);
  assert.equal(clock.measured(), true);
  assert.equal(clock.stepMs(8, () => 5), 6, 'the median of 6, 6, 6, 6, 6, 10, 12');
  clock.record(8, 14);
  clock.record(8, 16);
  assert.equal(clock.stepMs(8, () => 5), 8, 'the last 8 (6, 6, 6, 6, 10, 12, 14, 16): the mean of the middle two');
  assert.equal(clock.stepMs(6, () => 5), 8, 'the nearest batch size measured');
});
