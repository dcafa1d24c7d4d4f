import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractAnswer, normalizeAnswer, compileAnswerPattern } from '../src/engine/answers.ts';
import fc from 'fast-check';
import { rankCandidates, selectCandidate, SELECT_MODES } from '../src/engine/vote.ts';
import { diversity, distinctN, jaccardDistance } from '../src/engine/diversity.ts';
import { skipCore, planKey, coreKey, type SkipPlan } from '../src/plans/plan.ts';

test('default extraction: last \\boxed{} (balanced) else the number after "The answer is"', () => {
  assert.equal(extractAnswer('so \\boxed{1} no wait \\boxed{\\frac{1}{2}}'), '\\frac{1}{2}');
  assert.equal(extractAnswer('Tom has 3. The answer is 1,234.'), '1234');
  assert.equal(extractAnswer('The answer is 5. Actually the answer is -7.50'), '-7.5');
  assert.equal(extractAnswer('no answer here'), null);
  assert.equal(extractAnswer('Result: 42', compileAnswerPattern('Result: (\\d+)')), '42');
  assert.equal(extractAnswer('ANSWER=yes', compileAnswerPattern('yes|no')), 'yes');
  assert.equal(normalizeAnswer(' $12.0$. '), '12');
});

test('vote: majority wins, ties broken by mean logprob; logprob and none modes', () => {
  const c = [
    { answer: '4', meanLogprob: -2, tokens: 10 },
    { answer: '5', meanLogprob: -0.1, tokens: 10 },
    { answer: '4', meanLogprob: -1, tokens: 10 },
    { answer: null, meanLogprob: 0, tokens: 10 },
  ];
  assert.equal(selectCandidate(c, 'vote'), 2);
  assert.equal(selectCandidate(c, 'logprob'), 3);
  assert.equal(selectCandidate(c, 'none'), null);
  const tie = [
    { answer: '1', meanLogprob: -3, tokens: 4 },
    { answer: '2', meanLogprob: -0.5, tokens: 4 },
  ];
  assert.equal(selectCandidate(tie, 'vote'), 1);
  assert.equal(selectCandidate([{ answer: null, meanLogprob: -2, tokens: 3 }, { answer: null, meanLogprob: -1, tokens: 3 }], 'vote'), 1);
});

test('weighted vote: answers weigh by summed sequence probability, the likeliest candidate of the winner is returned', () => {
  // Two unlikely completions say 4 (each e^-20), one likely says 5 (e^-5): 5 wins by weight, 4 by count.
  const c = [
    { answer: '4', meanLogprob: -2, tokens: 10 },
    { answer: '5', meanLogprob: -0.5, tokens: 10 },
    { answer: '4', meanLogprob: -2, tokens: 10 },
  ];
  assert.equal(selectCandidate(c, 'vote'), 0);
  assert.equal(selectCandidate(c, 'weighted'), 1);
  // Sums, not means: a long answer's many tokens make it less probable than a short one with a worse mean.
  const lengths = [
    { answer: '7', meanLogprob: -0.2, tokens: 100 },
    { answer: '8', meanLogprob: -1, tokens: 5 },
  ];
  assert.equal(selectCandidate(lengths, 'weighted'), 1);
  // Equal answers add up: three at e^-12 (3e^-12) beat one at e^-11.
  const adds = [
    { answer: '1', meanLogprob: -1.2, tokens: 10 },
    { answer: '1', meanLogprob: -1.2, tokens: 10 },
    { answer: '1', meanLogprob: -1.2, tokens: 10 },
    { answer: '2', meanLogprob: -1.1, tokens: 10 },
  ];
  assert.equal(selectCandidate(adds, 'weighted'), 0);
  // Thousands of tokens do not underflow to a tie (log-sum-exp), and no answer falls back to logprob.
  const long = [
    { answer: '3', meanLogprob: -1, tokens: 5000 },
    { answer: '6', meanLogprob: -1.01, tokens: 5000 },
  ];
  assert.equal(selectCandidate(long, 'weighted'), 0);
  assert.equal(selectCandidate([{ answer: null, meanLogprob: -2, tokens: 3 }, { answer: null, meanLogprob: -1, tokens: 3 }], 'weighted'), 1);
});

test('ranking (best_of): groups by the rule, then by mean logprob, unanswered last; rank 0 is the selected candidate', () => {
  const c = [
    { answer: '5', meanLogprob: -0.5, tokens: 4 },
    { answer: '7', meanLogprob: -0.2, tokens: 4 },
    { answer: null, meanLogprob: -0.1, tokens: 4 },
    { answer: '5', meanLogprob: -0.3, tokens: 4 },
    { answer: '9', meanLogprob: -0.9, tokens: 4 },
  ];
  assert.deepEqual(rankCandidates(c, 'vote'), [3, 0, 1, 4, 2]);
  assert.deepEqual(rankCandidates(c, 'logprob'), [2, 1, 3, 0, 4]);
  assert.deepEqual(rankCandidates(c, 'none'), [2, 1, 3, 0, 4]);
  // weighted: '7' (one sequence at -0.8) outweighs '5' (two at -1.2 and -2.0: log-sum -0.83).
  assert.deepEqual(rankCandidates(c, 'weighted'), [1, 3, 0, 4, 2]);
  const cand = fc.record({ answer: fc.option(fc.constantFrom('1', '2', '3'), { nil: null }), meanLogprob: fc.oneof(fc.double({ min: -5, max: 0, noNaN: true }), fc.constant(-Infinity), fc.constantFrom(-1, -2)), tokens: fc.integer({ min: 0, max: 50 }) });
  fc.assert(
    fc.property(fc.array(cand, { minLength: 1, maxLength: 12 }), fc.constantFrom(...SELECT_MODES), (cs, mode) => {
      const r = rankCandidates(cs, mode);
      assert.deepEqual([...r].sort((a, b) => a - b), cs.map((_, i) => i));
      if (mode !== 'none') assert.equal(r[0], selectCandidate(cs, mode));
    }),
    { numRuns: 2000 },
  );
});

test('diversity figures', () => {
  const shape = { numLayers: 2, numHeads: 2 };
  const plans: SkipPlan[] = [
    { skipAttention: [], skipMlp: [], maskHeads: { 0: [1] } },
    { skipAttention: [], skipMlp: [], maskHeads: { 1: [0] } },
  ];
  const d = diversity(['4', '5'], [[1, 2, 3], [1, 2, 4]], plans, shape);
  assert.equal(d.uniqueAnswers, 1);
  assert.equal(d.answerEntropy, 1);
  assert.equal(d.majorityShare, 0.5);
  assert.equal(d.distinct2, 3 / 4);
  assert.equal(d.meanPairwiseDistance, 1 - 2 / 4);
  assert.equal(d.planDistance, 2 / 8);
  const same = diversity(['4', '4', null, '4'], [[1], [1], [1], [1]], [], shape);
  assert.equal(same.uniqueAnswers, 0.25);
  assert.equal(same.answerEntropy, 0);
  assert.equal(same.majorityShare, 0.75);
  assert.equal(distinctN([[1, 1, 1, 1]], 2), 1 / 3);
  assert.equal(jaccardDistance(new Set(), new Set()), 0);
});

test('skip core is what every plan shares', () => {
  const a = { skipAttention: [1, 3], skipMlp: [2], maskHeads: { 0: [0, 1], 2: [3] } };
  const b = { skipAttention: [3], skipMlp: [2, 4], maskHeads: { 0: [1] } };
  assert.deepEqual(skipCore([a, b]), { skipAttention: [3], skipMlp: [2], maskHeads: { 0: [1] } });
  assert.equal(planKey(a), planKey({ skipAttention: [3, 1], skipMlp: [2], maskHeads: { 2: [3], 0: [1, 0] } }));
  assert.equal(coreKey(a), coreKey({ ...a, maskHeads: {} }));
});
