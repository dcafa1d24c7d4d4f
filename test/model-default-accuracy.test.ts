/**
 * CI floor on the committed default model, through the server's engine (chat template, tokenizer,
 * ONNX graph, worker runner, answer extraction, the vote): greedy accuracy on 50 fixed standard-tier test
 * problems, in full and under a head mask and a 25% skip core, and on 50 fixed hard-tier ones. A broken runtime, export or model cannot land silently.
 * The floors sit well below the measured figures (models/default/MODEL_CARD.md) so they only
 * catch breakage, not noise.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openLocalEngine, type LocalEngine } from '../src/engine/local-engine.ts';
import { FULL_PLAN, planToWire, type SkipPlan } from '../src/plans/plan.ts';
import { generateSplit } from '../models/train/generator/split.ts';
import { greedyResults } from '../models/train/eval/run-requests.ts';
import { scoreResult } from '../models/train/eval/scoring.ts';
import { removedSublayerFraction } from '../models/train/eval/skip-suite.ts';

const DIR = 'models/default';
/**
 * Measured on these problems when the 16-layer phase-6 model was committed (MODEL_CARD.md): standard 92% full,
 * 92% with L2H5 masked, 92% under the core attn[2,6,10,12,13] mlp[2,4,12,15] (26.6% of the sublayer FLOPs);
 * hard tier 66% full (phase 5c: 96 / 96 / 94 under attn[6] mlp[2,5,6] / 68; phase 5: 92 / 92 / 94 / 50).
 */
const FLOORS = { full: 0.8, head: 0.8, core25: 0.8, hard: 0.5 };
const problems = [...generateSplit({ split: 'test', seed: 1, count: 50 })];
const hardProblems = [...generateSplit({ split: 'test', seed: 1, count: 50, tier: 'hard' })];
let local: LocalEngine;

before(async () => {
  local = await openLocalEngine({ modelDir: DIR, threads: 2, maxBatch: 50, maxQueue: 1000, measureSpeedup: false });
});
after(async () => {
  await local?.close();
});

async function accuracy(plan: SkipPlan, set = problems, maxTokens = 160): Promise<number> {
  const results = await greedyResults({ local, problems: set, seed: 1, maxTokens }, { policy: 'explicit', plan: planToWire(plan) });
  return set.filter((p, i) => scoreResult(p, results[i]!).correct[0]).length / set.length;
}

test('the committed model is a 16-layer grouped-query Llama with tied embeddings', () => {
  assert.equal(local.info.architecture, 'LlamaForCausalLM');
  assert.equal(local.info.numLayers, 16);
  assert.ok(local.info.numKvHeads < local.info.numHeads);
  assert.deepEqual(local.info.eosTokenIds, [2]);
});

test(`greedy accuracy on 50 fixed test problems is at least ${FLOORS.full * 100}%`, async () => {
  const acc = await accuracy(FULL_PLAN);
  assert.ok(acc >= FLOORS.full, `greedy accuracy ${acc}`);
});

test(`with one head masked it stays at least ${FLOORS.head * 100}%`, async () => {
  const acc = await accuracy({ skipAttention: [], skipMlp: [], maskHeads: { 2: [5] } });
  assert.ok(acc >= FLOORS.head, `accuracy with head L2H5 masked ${acc}`);
});

test(`under a skip core removing about 25% of sublayer FLOPs it stays at least ${FLOORS.core25 * 100}%`, async () => {
  const plan: SkipPlan = { skipAttention: [2, 6, 10, 12, 13], skipMlp: [2, 4, 12, 15], maskHeads: {} };
  const removed = removedSublayerFraction(plan, local.info);
  assert.ok(removed > 0.15 && removed < 0.35, `core removes ${removed}`);
  const acc = await accuracy(plan);
  assert.ok(acc >= FLOORS.core25, `accuracy under the 25% core ${acc}`);
});

test(`on 50 fixed hard-tier test problems greedy accuracy is at least ${FLOORS.hard * 100}%`, async () => {
  const acc = await accuracy(FULL_PLAN, hardProblems, 360);
  assert.ok(acc >= FLOORS.hard, `hard-tier greedy accuracy ${acc}`);
});
