// K-fold cross-validation of plan sets (router train --cross-validate): where the prompt decides
// which plans answer, the selector's per-prompt sets beat every static set; where one fixed group of
// plans answers every question, the static sets find it. Also the two set rules on their own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeEmbedding, type PromptRecord } from '../router/calibrate.ts';
import { answerAgreement, crossValidate, diverseTopN, voteSet } from '../router/selector/cross-validate.ts';
import { Rng } from '../src/util/rng.ts';

const M = 16;
const opts = { seed: 2, epochs: 30, hiddenDim: 16, embedDim: 8, learningRate: 1e-2, n: 4 };

/** 16 plans; a plan that answers gives the truth, the others one shared wrong answer (so a vote needs most plans right). */
function records(count: number, good: (kind: number, j: number) => boolean): PromptRecord[] {
  const rng = new Rng(5);
  const centres = [0, 1].map(() => Float32Array.from({ length: 10 }, () => rng.normal()));
  return Array.from({ length: count }, (_, i) => {
    const kind = i % 2;
    const e = Float32Array.from(centres[kind]!, (c) => c + 0.3 * rng.normal());
    const right = Array.from({ length: M }, (_, j) => (rng.next() < (good(kind, j) ? 0.95 : 0.05) ? 1 : 0));
    const answers = right.map((r) => (r ? '42' : '7'));
    return { id: `q${i}`, kind: kind ? 'b' : 'a', embedding: encodeEmbedding(e), answer: '42', answers, correct: right, fullCorrect: 1, tf: null, seconds: 0 } as PromptRecord;
  });
}

test('per-prompt structure: the selector top N beats the static sets and random', () => {
  const cv = crossValidate(records(160, (kind, j) => (kind === 0 ? j < 4 : j >= 4 && j < 8)), M, 1, opts, 4);
  assert.equal(cv.questions, 160);
  const fig = (prefix: string) => cv.figures.find((f) => f.choice.startsWith(prefix))!;
  assert.ok(fig('selector top').maj > 0.9, `selector ${fig('selector top').maj}`);
  for (const f of cv.figures.filter((x) => x.choice.startsWith('static'))) assert.ok(f.maj < fig('selector top').maj - 0.15, `${f.choice}: ${f.maj}`);
  assert.ok(fig('selector top').minusRandom.lo > 0);
  assert.equal(cv.figures.length, 5);
});

test('one fixed group answers everything: the static sets find it', () => {
  const cv = crossValidate(records(120, (_k, j) => j >= 12), M, 1, opts, 3);
  for (const f of cv.figures.filter((x) => x.choice.startsWith('static'))) assert.ok(f.maj > 0.9, `${f.choice}: ${f.maj}`);
  assert.ok(cv.figures.find((f) => f.choice.startsWith('random'))!.maj < 0.5);
});

test('voteSet and diverseTopN', () => {
  const rs = records(60, (_k, j) => j >= 12) as Parameters<typeof voteSet>[0];
  assert.deepEqual([...voteSet(rs, M, 4)].sort((a, b) => a - b), [12, 13, 14, 15]);
  // Plans 0 and 1 always agree; with a diversity penalty the second pick is not the twin of the first.
  const agree = answerAgreement(rs, M);
  assert.equal(agree[12]![12], 1, 'a plan agrees with itself');
  assert.ok(agree[12]![0]! < 0.2 && agree[0]![1]! > 0.8, 'a mostly right plan rarely agrees with a mostly wrong one; two mostly wrong ones do');
  const twins = Array.from({ length: M }, (_, i) => Float64Array.from({ length: M }, (_, j) => (i === j || (i < 2 && j < 2) ? 1 : 0)));
  const scores = Float32Array.from({ length: M }, (_, j) => (j === 0 ? 3 : j === 1 ? 2.9 : j === 2 ? 2.5 : 0));
  assert.deepEqual(diverseTopN(scores, twins, 2, 0), [0, 1], 'no penalty: by score');
  assert.deepEqual(diverseTopN(scores, twins, 2, 5), [0, 2], 'the twin is passed over');
});
