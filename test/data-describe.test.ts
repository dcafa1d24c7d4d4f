/**
 * APT's weakness acquisition reads problems back (tier, kind, steps, digits) from their question
 * text alone, and makes fresh train-split problems like them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeProblem, describeQuestion } from '../models/train/generator/describe.ts';
import { generateLike, matches } from '../models/train/generator/like.ts';
import { generateSplit, splitOf } from '../models/train/generator/split.ts';

test('a question alone gives back the tier, kind and steps the generator gave it', () => {
  for (const tier of ['standard', 'hard'] as const) {
    const problems = [...generateSplit({ split: 'test', seed: 12, count: 400, tier })];
    let agree = 0;
    for (const p of problems) {
      const d = describeQuestion(p.question);
      if (d.tier === p.tier && d.kind === p.kind && d.steps === p.steps) agree++;
    }
    // A hard problem can read as standard (say 7 steps of small numbers with no hard-only sentence): rare.
    assert.ok(agree / problems.length > 0.97, `${tier}: ${agree}/${problems.length} described as generated`);
  }
});

test('acquisition: fresh train-split problems like a weakness case, deterministic in the seed', () => {
  const [weak] = [...generateSplit({ split: 'test', seed: 3, count: 30, tier: 'hard' })].filter((p) => p.kind === 'percent');
  assert.ok(weak, 'a percent problem to imitate');
  const like = generateLike(describeProblem(weak!), 12, 5);
  assert.equal(like.length, 12);
  for (const p of like) {
    assert.ok(matches(p, describeProblem(weak!)));
    assert.equal(splitOf(p.question), 'train');
    assert.notEqual(p.question, weak!.question);
  }
  assert.deepEqual(generateLike(describeProblem(weak!), 12, 5), like);
});
