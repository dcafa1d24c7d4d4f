/** Skip plan wire form, validation errors that name the bad index, normalization and FLOP cost. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FULL_PLAN, parsePlan, planCost, planKey, planToWire, planCore, skipCore, validatePlan, type SkipPlan } from '../src/plans/plan.ts';

const SHAPE = { numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, hiddenSize: 576, intermediateSize: 1536, vocabSize: 49152 };

describe('plan wire form', () => {
  it('parses the documented example', () => {
    const p = parsePlan({ skip_layers: [3], skip_attention: [5], skip_mlp: [7], mask_heads: { '2': [0, 4] } }, SHAPE);
    assert.deepEqual(p, { skipAttention: [3, 5], skipMlp: [3, 7], maskHeads: { 2: [0, 4] } });
  });

  it('round-trips through planToWire and normalizes order and duplicates', () => {
    const p = parsePlan({ skip_attention: [9, 1, 9, 4], skip_mlp: [4], mask_heads: { '0': [3, 1, 3], '5': [] } }, SHAPE);
    assert.deepEqual(p, { skipAttention: [1, 4, 9], skipMlp: [4], maskHeads: { 0: [1, 3] } });
    assert.deepEqual(planToWire(p), { skip_layers: [4], skip_attention: [1, 9], mask_heads: { '0': [1, 3] } });
    assert.deepEqual(parsePlan(planToWire(p), SHAPE), p);
    assert.deepEqual(planToWire(FULL_PLAN), {});
    assert.equal(planKey(p), planKey(parsePlan({ skip_layers: [4], skip_attention: [9, 1], mask_heads: { '0': [1, 3] } }, SHAPE)));
  });

  it('names the bad index in errors', () => {
    assert.throws(() => parsePlan({ skip_attention: [1, 40] }, SHAPE), /skip_attention\[1\]=40 out of range: model has 30 layers/);
    assert.throws(() => parsePlan({ skip_layers: [-1] }, SHAPE), /skip_layers\[0\]=-1 out of range/);
    assert.throws(() => parsePlan({ skip_mlp: [1.5] }, SHAPE), /skip_mlp\[0\]=1.5 is not an integer/);
    assert.throws(() => parsePlan({ mask_heads: { '2': [0, 9] } }, SHAPE), /mask_heads.2\[1\]=9 out of range: model has 9 heads/);
    assert.throws(() => parsePlan({ mask_heads: { '31': [0] } }, SHAPE), /mask_heads key "31" is not a layer index: model has 30 layers/);
    assert.throws(() => parsePlan({ mask_heads: { x: [0] } }, SHAPE), /mask_heads key "x"/);
    assert.throws(() => parsePlan({ skip_heads: [1] }, SHAPE), /unknown plan field skip_heads/);
    assert.throws(() => parsePlan({ skip_attention: 3 }, SHAPE), /skip_attention must be an array/);
    assert.throws(() => parsePlan([1], SHAPE), /plan must be a JSON object/);
    assert.throws(() => validatePlan({ skipAttention: [], skipMlp: [30], maskHeads: {} }, SHAPE), /skip_mlp\[0\]=30 out of range: model has 30 layers/);
  });
});

describe('plan cost', () => {
  it('counts projections and the lm_head; ideal speedup is 1/(1-f)', () => {
    const full = planCost(FULL_PLAN, SHAPE);
    const attn = 2 * 576 * 64 * (2 * 9 + 2 * 3);
    const mlp = 2 * 3 * 576 * 1536;
    assert.equal(full.totalFlops, 30 * (attn + mlp) + 2 * 576 * 49152);
    assert.equal(full.removedFraction, 0);
    assert.equal(full.idealSpeedup, 1);
    const p: SkipPlan = { skipAttention: [1, 2], skipMlp: [2], maskHeads: { 0: [1, 2, 3] } };
    const c = planCost(p, SHAPE);
    assert.equal(c.removedFlops, 2 * attn + mlp);
    assert.ok(Math.abs(c.idealSpeedup - 1 / (1 - c.removedFraction)) < 1e-12);
    assert.ok(Math.abs(c.maskedHeadFraction - 3 / 270) < 1e-12);
  });

  it('skip core is what every plan skips', () => {
    const core = skipCore([
      { skipAttention: [1, 2, 3], skipMlp: [4], maskHeads: { 0: [1] } },
      { skipAttention: [2, 3], skipMlp: [4, 5], maskHeads: {} },
    ]);
    assert.deepEqual(core, { skipAttention: [2, 3], skipMlp: [4], maskHeads: {} });
  });
});

describe('planCore', () => {
  it('is the sorted sublayer skips of a plan, and null for a plan that skips no sublayer', () => {
    assert.deepEqual(planCore({ skipAttention: [6, 2], skipMlp: [3], maskHeads: { 1: [0] } }), { attention: [2, 6], mlp: [3] });
    assert.equal(planCore({ skipAttention: [], skipMlp: [], maskHeads: { 1: [0] } }), null, 'head masks alone are no core');
    assert.equal(planCore(FULL_PLAN), null);
    assert.equal(planCore(null), null);
  });
});
