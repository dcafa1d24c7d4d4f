/**
 * CI floor on the committed default model, through the project's runtime (tokenizer, ONNX graph,
 * worker runner, answer extraction): greedy accuracy on 50 fixed test problems, in full and under a
 * head mask and a 25% skip core. A broken runtime, export or model cannot land silently.
 * The floors sit well below the measured figures (models/default/MODEL_CARD.md) so they only
 * catch breakage, not noise.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { loadRunner } from '../src/model/runner.ts';
import type { ModelRunner } from '../src/model/runner-types.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { argmax } from '../src/sampling/sampler.ts';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { extractAnswer } from '../src/engine/answers.ts';
import { generateSplit } from '../models/train/generator/split.ts';
import { generateMany } from '../models/train/eval/batch-generate.ts';
import { removedSublayerFraction } from '../models/train/eval/skip-suite.ts';

const DIR = 'models/default';
/** Measured on these 50 problems when the model was committed: 98% full, 98% with L2H5 masked, 96% under the core (MODEL_CARD.md). */
const FLOORS = { full: 0.86, head: 0.86, core25: 0.84 };
const problems = [...generateSplit({ split: 'test', seed: 1, count: 50 })];
const tok = TextTokenizer.load(DIR);
let runner: ModelRunner;

before(async () => {
  runner = await loadRunner({ modelDir: DIR, threads: 2, maxBatch: 50 });
});
after(async () => {
  await runner?.close();
});

async function accuracy(plan: SkipPlan): Promise<number> {
  const jobs = problems.map((p) => ({ prompt: tok.encode(`Q: ${p.question}\nA:`), plan, pick: argmax }));
  const outs = await generateMany(runner, jobs, { maxTokens: 160, eosTokenIds: runner.info.eosTokenIds, maxBatch: 50 });
  return outs.filter((ids, i) => extractAnswer(tok.decode(ids)) === String(problems[i]!.answer)).length / problems.length;
}

test('the committed model is a 6+ layer grouped-query Llama with tied embeddings', () => {
  assert.equal(runner.info.architecture, 'LlamaForCausalLM');
  assert.ok(runner.info.numLayers >= 6);
  assert.ok(runner.info.numKvHeads < runner.info.numHeads);
  assert.deepEqual(runner.info.eosTokenIds, [tok.eosTokenId]);
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
  const plan: SkipPlan = { skipAttention: [3, 5], skipMlp: [4], maskHeads: {} };
  const removed = removedSublayerFraction(plan, runner.info);
  assert.ok(removed > 0.15 && removed < 0.35, `core removes ${removed}`);
  const acc = await accuracy(plan);
  assert.ok(acc >= FLOORS.core25, `accuracy under the 25% core ${acc}`);
});
