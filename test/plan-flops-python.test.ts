/**
 * The Python trainer draws random skip cores by FLOP fraction (models/train/flops.py); it must count
 * FLOPs exactly as src/plans/cost.ts does, or training and evaluation disagree on what "a 25% core" is.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { planCost } from '../src/plans/cost.ts';
import type { SkipPlan } from '../src/plans/plan.ts';

const shapes = [
  { numLayers: 10, numHeads: 8, numKvHeads: 2, headDim: 20, hiddenSize: 160, intermediateSize: 384, vocabSize: 384 },
  { numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, hiddenSize: 576, intermediateSize: 1536, vocabSize: 49152 },
];
const plans: SkipPlan[] = [
  { skipAttention: [1, 4], skipMlp: [3], maskHeads: {} },
  { skipAttention: [], skipMlp: [1, 2, 5, 7], maskHeads: { 0: [1] } },
  { skipAttention: [9, 9, 2], skipMlp: [], maskHeads: {} },
];

test('python flops.py and src/plans/cost.ts give the same removed sublayer fractions', () => {
  const cases = shapes.flatMap((s) =>
    plans.map((plan) => ({
      cfg: { hidden_size: s.hiddenSize, num_attention_heads: s.numHeads, num_key_value_heads: s.numKvHeads, head_dim: s.headDim, intermediate_size: s.intermediateSize, num_hidden_layers: s.numLayers },
      plan,
      want: planCost(plan, s).sublayerFraction,
    })),
  );
  const got = JSON.parse(execFileSync('python3', ['models/train/flops.py', JSON.stringify(cases)], { encoding: 'utf8' })) as number[];
  cases.forEach((c, i) => assert.ok(Math.abs(got[i]! - c.want) < 1e-12, `case ${i}: python ${got[i]} vs ts ${c.want}`));
});
