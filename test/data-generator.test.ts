/**
 * The problem generator: same seed -> same problems; splits decided by the question text alone
 * (no question of any seed's test split appears in any seed's train split); every worked solution
 * recomputes to its answer; the difficulty range (steps, kinds, ops, digits) is covered.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { generateSplit, splitOf, type Split } from '../models/train/generator/split.ts';
import type { Problem } from '../models/train/generator/problems.ts';
import { fnv1a } from '../src/util/rng.ts';

const take = (split: Split, seed: number, count: number): Problem[] => [...generateSplit({ split, seed, count })];

test('the same seed gives the same problems, another seed different ones', () => {
  const a = take('train', 5, 300);
  const b = take('train', 5, 300);
  assert.deepEqual(a, b);
  const c = take('train', 6, 300);
  assert.notDeepEqual(a.map((p) => p.question), c.map((p) => p.question));
});

test('splits are decided by the question text and never overlap across seeds', () => {
  const train = new Set<string>();
  for (const seed of [1, 2, 3]) for (const p of take('train', seed, 4000)) train.add(p.question);
  for (const seed of [1, 2, 3, 4]) {
    for (const split of ['test', 'dev'] as const) {
      for (const p of take(split, seed, 500)) {
        assert.equal(splitOf(p.question), split);
        assert.ok(!train.has(p.question), `${split} question of seed ${seed} found in train: ${p.question}`);
      }
    }
  }
  const test1 = new Set(take('test', 1, 500).map((p) => p.question));
  assert.ok(take('dev', 1, 500).every((p) => !test1.has(p.question)));
});

test('each worked solution recomputes to the answer, values stay in 1..999 and divisions are exact', () => {
  const problems = take('train', 11, 3000);
  for (const p of problems) {
    const steps = [...p.solution.matchAll(/(\d+)([+\-*/])(\d+)=(\d+)\./g)];
    assert.equal(steps.length, p.steps, p.solution);
    assert.deepEqual(steps.map((m) => m[2]), p.ops);
    let cur: number | null = null;
    for (const [, a, op, b, r] of steps) {
      const x = Number(a), y = Number(b), z = Number(r);
      if (cur !== null) assert.equal(x, cur, `chain broken in ${p.solution}`);
      const want = op === '+' ? x + y : op === '-' ? x - y : op === '*' ? x * y : x / y;
      assert.equal(z, want, p.solution);
      assert.ok(Number.isInteger(z) && z >= 1 && z <= 999, `value out of range in ${p.solution}`);
      cur = z;
    }
    assert.equal(cur, p.answer);
    assert.ok(p.solution.endsWith(`The answer is ${p.answer}.`));
    assert.ok(p.question.endsWith('have now?'));
  }
  const kinds = new Set(problems.map((p) => p.kind));
  assert.deepEqual([...kinds].sort(), ['add-sub', 'distractor', 'mixed', 'mul-div']);
  for (let s = 1; s <= 6; s++) assert.ok(problems.some((p) => p.steps === s), `no ${s}-step problem`);
  const ops = new Set(problems.flatMap((p) => p.ops));
  assert.deepEqual([...ops].sort(), ['*', '+', '-', '/']);
  const digits = new Set(problems.map((p) => String(p.answer).length));
  assert.deepEqual([...digits].sort(), [1, 2, 3]);
});

/** Evaluates `a op b op c ...` with * and / before + and - (the solutions' arithmetic). */
function evaluate(expr: string): number {
  const terms = expr.split(/(?=[+-])/).map((t) => t.replace(/^\+/, ''));
  return terms.reduce((sum, t) => {
    const sign = t.startsWith('-') ? -1 : 1;
    const factors = t.replace(/^-/, '').split(/([*/])/);
    let v = Number(factors[0]);
    for (let i = 1; i < factors.length; i += 2) v = factors[i] === '*' ? v * Number(factors[i + 1]) : v / Number(factors[i + 1]);
    return sum + sign * v;
  }, 0);
}

test('hard tier: 7-12 steps, every equation holds, values in 1..9999, the chain reaches the answer', () => {
  const problems = [...generateSplit({ split: 'train', seed: 11, count: 3000, tier: 'hard' })];
  for (const p of problems) {
    assert.equal(p.tier, 'hard');
    assert.ok(p.steps >= 7 && p.steps <= 12, `${p.steps} steps`);
    const sentences = p.solution.replace(/ The answer is \d+\.$/, '').split(/(?<=\.) /);
    let last = NaN;
    for (const sentence of sentences) {
      const sides = sentence.replace(/\.$/, '').split('=');
      assert.ok(sides.length >= 2, sentence);
      for (const side of sides.slice(1)) assert.equal(evaluate(side), evaluate(sides[0]!), `${sentence} in ${p.solution}`);
      last = Number(sides.at(-1));
      assert.ok(Number.isInteger(last) && last >= 1 && last <= 9999, `value out of range in ${p.solution}`);
      for (const n of sentence.match(/\d+/g)!) assert.ok(Number(n) <= 9999 || sentence.includes('/100'), sentence);
    }
    assert.equal(last, p.answer);
    assert.ok(p.solution.endsWith(`The answer is ${p.answer}.`));
  }
  const kinds = new Set(problems.map((p) => p.kind));
  for (const k of ['percent', 'nested', 'compare', 'distractor']) assert.ok(kinds.has(k as Problem['kind']), `no ${k} problem`);
  for (let s = 7; s <= 12; s++) assert.ok(problems.some((p) => p.steps === s), `no ${s}-step problem`);
  assert.ok(problems.some((p) => /\d+\*\d\d=\d+\*\d0\+/.test(p.solution)), 'no worked two-digit multiplication');
  assert.ok(problems.some((p) => /\d+\/\d\d=/.test(p.solution)), 'no two-digit division');
  assert.ok(problems.some((p) => String(p.answer).length === 4), 'no four-digit answer');
});

test('tiers: standard is unchanged, mixed holds both, and no test question of any tier is in any train split', () => {
  assert.ok(take('test', 3, 50).every((p) => p.tier === 'standard'));
  // The standard tier's first 200 test problems of seed 1, as generated before tiers existed.
  const standard = take('test', 1, 200).map((p) => p.id + p.question + p.solution + p.answer + p.kind).join('|');
  assert.equal(fnv1a(standard), 2222245296);
  const mixed = [...generateSplit({ split: 'dev', seed: 2, count: 400, tier: 'mixed' })];
  const hard = mixed.filter((p) => p.tier === 'hard').length;
  assert.ok(hard > 150 && hard < 250, `${hard} of 400 mixed problems are hard`);
  const train = new Set<string>();
  for (const tier of ['standard', 'hard', 'mixed'] as const) {
    for (const seed of [1, 2]) for (const p of generateSplit({ split: 'train', seed, count: 3000, tier })) train.add(p.question);
  }
  for (const tier of ['standard', 'hard', 'mixed'] as const) {
    for (const p of generateSplit({ split: 'test', seed: 5, count: 300, tier })) {
      assert.equal(splitOf(p.question), 'test');
      assert.ok(!train.has(p.question), `test question in train: ${p.question}`);
    }
  }
});

test('the data CLI writes the same JSONL as the library and rejects bad flags by name', () => {
  const out = execFileSync('node', ['bin/skipserve.mjs', 'data', 'generate', '--split', 'test', '--seed', '3', '--count', '50'], { encoding: 'utf8' });
  const rows = out.trim().split('\n').map((l) => JSON.parse(l) as Problem);
  assert.deepEqual(rows, take('test', 3, 50));
  assert.throws(
    () => execFileSync('node', ['bin/skipserve.mjs', 'data', 'generate', '--split', 'valid', '--seed', '3', '--count', '5'], { encoding: 'utf8', stdio: 'pipe' }),
    (e: { stderr: string; status: number }) => e.status === 1 && e.stderr.includes('--split must be one of train, dev, test'),
  );
  assert.throws(
    () => execFileSync('node', ['bin/skipserve.mjs', 'data', 'generate', '--split', 'dev', '--seed', 'x', '--count', '5'], { encoding: 'utf8', stdio: 'pipe' }),
    (e: { stderr: string }) => e.stderr.includes('--seed must be an integer'),
  );
  const hard = execFileSync('node', ['bin/skipserve.mjs', 'data', 'generate', '--split', 'dev', '--seed', '3', '--count', '5', '--tier', 'hard'], { encoding: 'utf8' });
  assert.deepEqual(hard.trim().split('\n').map((l) => JSON.parse(l) as Problem), [...generateSplit({ split: 'dev', seed: 3, count: 5, tier: 'hard' })]);
  assert.throws(
    () => execFileSync('node', ['bin/skipserve.mjs', 'data', 'generate', '--split', 'dev', '--seed', '3', '--count', '5', '--tier', 'expert'], { encoding: 'utf8', stdio: 'pipe' }),
    (e: { stderr: string }) => e.stderr.includes('--tier must be one of standard, hard, mixed'),
  );
});
