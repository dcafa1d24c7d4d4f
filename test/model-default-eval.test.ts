/**
 * The evaluation helpers behind `skipserve eval`: scoring (pass@n, majority vote, distinct answers,
 * breakdown by steps and kind) and the skip suite (every head, every sublayer, random cores near
 * 25% / 50% of the sublayer FLOPs, layer 0 spared).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakdown, figures, majority, scoreProblem } from '../models/train/eval/scoring.ts';
import { removedSublayerFraction, suitePlans } from '../models/train/eval/skip-suite.ts';
import type { Problem } from '../models/train/generator/problems.ts';
import type { ModelInfo } from '../src/model/model-info.ts';

const problem = (answer: number, steps: number, kind: Problem['kind']): Problem => ({
  id: `p${answer}`, question: 'q', solution: `The answer is ${answer}.`, answer, steps, ops: ['+'], kind, tier: 'standard',
});

test('majority vote, pass@n and distinct answers', () => {
  assert.equal(majority(['3', null, '4', '4', '3', '4']), '4');
  assert.equal(majority(['5', '6']), '5', 'ties go to the answer reached first');
  assert.equal(majority([null, null]), null);
  const a = scoreProblem(problem(12, 1, 'add-sub'), ['1+11=12. The answer is 12.', 'The answer is 13.', 'The answer is 13.', 'no answer']);
  assert.deepEqual(a.answers, ['12', '13', '13', null]);
  assert.deepEqual(a.correct, [true, false, false, false]);
  const b = scoreProblem(problem(7, 6, 'mixed'), ['The answer is 7.', 'The answer is 7.', 'The answer is 2.', 'The answer is 7.']);
  const f = figures([a, b]);
  assert.equal(f.sampleAcc, (0.25 + 0.75) / 2);
  assert.equal(f.passAtN, 1);
  assert.equal(f.majorityAtN, 0.5);
  assert.equal(f.distinctAnswers, (2 + 2) / 2);
  const g = breakdown([a, b]);
  assert.deepEqual(Object.keys(g), ['all', 'steps=1', 'steps=6', 'kind=add-sub', 'kind=mixed']);
  assert.equal(g['steps=6']!.majorityAtN, 1);
});

test('with logprobs the vote is the server\'s: a tie goes to the likelier answer', () => {
  const texts = ['The answer is 5.', 'The answer is 6.', 'The answer is 5.', 'The answer is 6.'];
  assert.equal(scoreProblem(problem(6, 2, 'add-sub'), texts).voted, '5', 'without logprobs: first reached');
  const r = scoreProblem(problem(6, 2, 'add-sub'), texts, [-0.9, -0.1, -0.8, -0.2]);
  assert.equal(r.voted, '6');
  assert.equal(figures([r]).majorityAtN, 1);
  assert.equal(scoreProblem(problem(6, 2, 'add-sub'), [...texts, 'The answer is 5.'], [-0.9, -0.1, -0.8, -0.2, -3]).voted, '5', 'a majority beats likelihood');
});

test('the skip suite covers every head and sublayer, and random cores hit their FLOP targets', () => {
  const info: ModelInfo = {
    id: 'm', dir: '.', architecture: 'LlamaForCausalLM', numLayers: 6, numHeads: 8, numKvHeads: 2, headDim: 20,
    hiddenSize: 160, intermediateSize: 384, vocabSize: 384, maxPositions: 512, eosTokenIds: [2],
  };
  const plans = suitePlans(info, 4, 9);
  assert.equal(plans.filter((p) => p.group === 'head').length, 48);
  assert.equal(plans.filter((p) => p.group === 'sublayer').length, 12);
  for (const group of ['core25', 'core50'] as const) {
    const cores = plans.filter((p) => p.group === group);
    assert.equal(cores.length, 4);
    const target = group === 'core25' ? 0.25 : 0.5;
    for (const c of cores) {
      assert.ok(Math.abs(c.removed - target) < 0.1, `${c.name} removes ${c.removed}`);
      assert.equal(c.removed, removedSublayerFraction(c.plan, info));
      assert.ok(![...c.plan.skipAttention, ...c.plan.skipMlp].includes(0), 'layer 0 is spared');
    }
  }
  assert.deepEqual(suitePlans(info, 4, 9), plans, 'same seed, same cores');
});
